//! The process-wide live state: one [`Collector`] and one [`Ring`] of [`HostSample`]s, shared
//! by every query and every recorder in the process.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::procfs::Roots;
use crate::ring::{Ring, Window};
use crate::sample::{Collector, HostSample};
use crate::tables::processes::{ProcessCollector, ProcessFields, ProcessSnapshot, ProcessTimes};

static COLLECTOR: Mutex<Option<Collector>> = Mutex::new(None);
static RING: Mutex<Option<Ring<HostSample>>> = Mutex::new(None);

/// Locks `m`, recovering from poisoning (a panic elsewhere must not disable monitoring; the
/// state under these locks is valid after any partial update).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes a fresh sample of the real host and keeps it in the ring.
pub fn sample_now() -> io::Result<Arc<HostSample>> {
    let sample = {
        let mut guard = lock(&COLLECTOR);
        let collector = guard.get_or_insert_with(|| Collector::new(Roots::default()));
        Arc::new(collector.sample()?)
    };
    publish(sample.clone());
    Ok(sample)
}

/// Keeps a sample taken elsewhere (the recorder) in the ring.
pub fn publish(sample: Arc<HostSample>) {
    let mut guard = lock(&RING);
    guard.get_or_insert_with(Ring::default).push(sample.instant, sample);
}

/// A fresh sample and the base sample `window` asks for: a kept one when there is one, else
/// the call sleeps until the youngest usable kept sample is old enough (only the first call of
/// a process, or a window longer than the kept history, ever sleeps; a sleep longer than
/// [`crate::wait::BOUND`] is refused with an error that says what to do).
pub fn window_pair(window: Window) -> io::Result<(Arc<HostSample>, Arc<HostSample>)> {
    let now = sample_now()?;
    let (found, nearest) = {
        let guard = lock(&RING);
        match guard.as_ref() {
            Some(ring) => (
                ring.select(now.instant, window),
                ring.nearest_younger(now.instant, window),
            ),
            None => (None, None),
        }
    };
    if let Some((_, base)) = found {
        return Ok((base, now));
    }
    let base = nearest.map(|(_, s)| s).unwrap_or_else(|| now.clone());
    let ready_at = base.instant + window.min_age();
    let oldest = || lock(&RING).as_ref().and_then(Ring::oldest);
    crate::wait::for_base(ready_at, window, oldest, crate::wait::HOST_RECORDER)?;
    let fresh = sample_now()?;
    Ok((base, fresh))
}

static PROCESSES: Mutex<Option<ProcessCollector>> = Mutex::new(None);
static PROCESS_RING: Mutex<Option<Ring<ProcessTimes>>> = Mutex::new(None);

/// Takes a process snapshot of the real host and keeps its CPU times in the process ring.
pub fn process_snapshot(fields: ProcessFields) -> io::Result<ProcessSnapshot> {
    let snap = {
        let mut guard = lock(&PROCESSES);
        let collector = guard.get_or_insert_with(|| ProcessCollector::new(Roots::default()));
        collector.snapshot(fields)?
    };
    publish_process_times(snap.instant, Arc::new(snap.times()));
    Ok(snap)
}

/// Keeps process CPU times taken elsewhere (the recorder) in the process ring.
pub fn publish_process_times(at: Instant, times: Arc<ProcessTimes>) {
    let mut guard = lock(&PROCESS_RING);
    guard.get_or_insert_with(Ring::default).push(at, times);
}

/// A fresh process snapshot and the kept CPU times `window` starts from, with the window's
/// length: the same no-blocking rule as [`window_pair`] (only a first call, or a window longer
/// than the kept history, sleeps and reads the processes twice).
pub fn process_pair(
    window: Window,
    fields: ProcessFields,
) -> io::Result<(Arc<ProcessTimes>, Duration, ProcessSnapshot)> {
    let now = process_snapshot(fields)?;
    let (found, nearest) = {
        let guard = lock(&PROCESS_RING);
        match guard.as_ref() {
            Some(ring) => (
                ring.select(now.instant, window),
                ring.nearest_younger(now.instant, window),
            ),
            None => (None, None),
        }
    };
    if let Some((at, base)) = found {
        return Ok((base, now.instant.saturating_duration_since(at), now));
    }
    let (at, base) = nearest.unwrap_or_else(|| (now.instant, Arc::new(now.times())));
    let oldest = || lock(&PROCESS_RING).as_ref().and_then(Ring::oldest);
    crate::wait::for_base(at + window.min_age(), window, oldest, crate::wait::PROCESS_RECORDER)?;
    let fresh = process_snapshot(fields)?;
    Ok((base, fresh.instant.saturating_duration_since(at), fresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_call_waits_then_calls_reuse_the_ring() {
        let (b, n) = window_pair(Window::Default).unwrap();
        assert!(n.instant.duration_since(b.instant) >= Duration::from_millis(100));
        let t = Instant::now();
        for _ in 0..5 {
            let (b, n) = window_pair(Window::Default).unwrap();
            assert!(n.instant.duration_since(b.instant) >= Duration::from_millis(100));
        }
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "kept samples made the calls block"
        );
        let w = Duration::from_millis(150);
        let (b, n) = window_pair(Window::Exactly(w)).unwrap();
        let got = n.instant.duration_since(b.instant);
        assert!(got >= w && got <= 2 * w + Duration::from_millis(50), "{got:?}");
    }

    #[test]
    fn process_pairs_reuse_kept_times() {
        let (_, w, snap) = process_pair(Window::Default, ProcessFields::default()).unwrap();
        assert!(w >= Duration::from_millis(100));
        assert!(!snap.processes.is_empty());
        let t = Instant::now();
        let (_, w, _) = process_pair(Window::Default, ProcessFields::default()).unwrap();
        assert!(w >= Duration::from_millis(100));
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "a kept snapshot made the call block"
        );
    }
}
