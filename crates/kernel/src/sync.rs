//! The poison-tolerant lock every shared state of sysmon goes through.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering from poisoning: a panic elsewhere must not disable monitoring, and
/// the state under sysmon's locks is valid after any partial update.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
