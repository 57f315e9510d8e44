//! The poison-tolerant lock every shared state of sysmon goes through, and the text of a
//! caught panic.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering from poisoning: a panic elsewhere must not disable monitoring, and
/// the state under sysmon's locks is valid after any partial update.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The message of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
