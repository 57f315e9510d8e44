//! `statvfs` without hanging a query on a dead mount (the sizes of `system_filesystems()`).
//!
//! A `statvfs` on a dead network mount can hang for minutes and cannot be cancelled. So each
//! query stats its mounts on a helper thread and waits at most [`StatPolicy::per_mount`] for
//! any one mount (and [`StatPolicy::total`] for all): a mount still pending then gets a
//! [`StatOutcome::Pending`], and the query moves on to the next mount on a fresh helper. The
//! process-wide [`StatGuard`] remembers which mounts have a `statvfs` in flight, and no helper
//! starts a second one for such a mount until the first returns: a stuck mount costs one
//! blocked thread, however often it is queried.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use crate::procfs::syscalls::{FsStat, statvfs};
use crate::sync::lock;

/// The `statvfs` of a path (or a stand-in, in tests).
pub type StatFn = Arc<dyn Fn(&Path) -> io::Result<FsStat> + Send + Sync>;

/// How long a query waits for `statvfs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatPolicy {
    /// The longest one mount may take before the query gives up on it.
    pub per_mount: Duration,
    /// The longest all mounts of one query may take together.
    pub total: Duration,
}

impl Default for StatPolicy {
    fn default() -> Self {
        StatPolicy {
            per_mount: Duration::from_millis(100),
            total: Duration::from_millis(500),
        }
    }
}

/// The answer for one mount.
#[derive(Clone, Debug, PartialEq)]
pub enum StatOutcome {
    Done(FsStat),
    Failed(String),
    /// No answer within the deadline, or an earlier `statvfs` of the mount is still running.
    Pending(String),
}

/// The registry of `statvfs` calls in flight (one per process, in sysmon-core's `LiveState`),
/// and the function that makes them.
pub struct StatGuard {
    stat_fn: StatFn,
    policy: StatPolicy,
    in_flight: Mutex<HashSet<std::path::PathBuf>>,
}

struct Batch {
    paths: Vec<std::path::PathBuf>,
    state: Mutex<BatchState>,
    changed: Condvar,
}

struct BatchState {
    results: Vec<Option<StatOutcome>>,
    /// The mount a helper is stat'ing: (index, since, helper generation).
    current: Option<(usize, Instant, u32)>,
}

impl std::fmt::Debug for StatGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatGuard")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl StatGuard {
    pub fn new(stat_fn: StatFn, policy: StatPolicy) -> Arc<StatGuard> {
        Arc::new(StatGuard {
            stat_fn,
            policy,
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    /// How many `statvfs` calls are running now (stuck ones included).
    pub fn in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }

    /// Stats every path, in order, without ever waiting longer than the policy allows.
    pub fn stat_all(self: &Arc<Self>, paths: Vec<std::path::PathBuf>) -> Vec<StatOutcome> {
        let n = paths.len();
        let batch = Arc::new(Batch {
            paths,
            state: Mutex::new(BatchState {
                results: vec![None; n],
                current: None,
            }),
            changed: Condvar::new(),
        });
        let started = Instant::now();
        let mut generation = 0u32;
        let mut abandon = self.spawn_helper(&batch, (0..n).collect(), generation);
        let mut state = lock(&batch.state);
        loop {
            if state.results.iter().all(Option::is_some) {
                break;
            }
            let now = Instant::now();
            let total_left = self.policy.total.saturating_sub(now.duration_since(started));
            if total_left.is_zero() {
                abandon.store(true, Ordering::Relaxed);
                let ms = self.policy.total.as_millis();
                for r in state.results.iter_mut().filter(|r| r.is_none()) {
                    *r = Some(StatOutcome::Pending(format!(
                        "not stat'ed: the query's {ms} ms for all mounts ran out"
                    )));
                }
                break;
            }
            let stuck = match state.current {
                Some((i, since, g)) if g == generation && now.duration_since(since) >= self.policy.per_mount => Some(i),
                _ => None,
            };
            if let Some(i) = stuck {
                abandon.store(true, Ordering::Relaxed);
                state.results[i] = Some(StatOutcome::Pending(format!(
                    "statvfs did not answer within {} ms (still running in the background)",
                    self.policy.per_mount.as_millis()
                )));
                state.current = None;
                let rest: Vec<usize> = (0..n).filter(|&j| state.results[j].is_none()).collect();
                generation += 1;
                drop(state);
                abandon = self.spawn_helper(&batch, rest, generation);
                state = lock(&batch.state);
                continue;
            }
            let wait = match state.current {
                Some((_, since, g)) if g == generation => {
                    (since + self.policy.per_mount).saturating_duration_since(now)
                }
                _ => self.policy.per_mount,
            }
            .min(total_left)
            .max(Duration::from_millis(1));
            state = batch
                .changed
                .wait_timeout(state, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        state
            .results
            .iter_mut()
            .map(|r| r.take().unwrap_or(StatOutcome::Pending(String::new())))
            .collect()
    }

    /// Starts a helper on `todo`; returns the flag that tells it to stop after its current mount.
    fn spawn_helper(self: &Arc<Self>, batch: &Arc<Batch>, todo: Vec<usize>, generation: u32) -> Arc<AtomicBool> {
        let abandon = Arc::new(AtomicBool::new(false));
        if todo.is_empty() {
            return abandon;
        }
        let (guard, b, flag) = (self.clone(), batch.clone(), abandon.clone());
        let spawned = std::thread::Builder::new()
            .name("sysmon-statvfs".into())
            .spawn(move || guard.helper(&b, &todo, generation, &flag));
        if let Err(e) = spawned {
            let mut state = lock(&batch.state);
            for r in state.results.iter_mut().filter(|r| r.is_none()) {
                *r = Some(StatOutcome::Failed(format!(
                    "cannot start a statvfs helper thread: {e}"
                )));
            }
            batch.changed.notify_all();
        }
        abandon
    }

    fn helper(&self, batch: &Batch, todo: &[usize], generation: u32, abandon: &AtomicBool) {
        for &i in todo {
            if abandon.load(Ordering::Relaxed) {
                return;
            }
            let path = &batch.paths[i];
            let fresh = lock(&self.in_flight).insert(path.clone());
            if !fresh {
                let mut state = lock(&batch.state);
                state.results[i].get_or_insert(StatOutcome::Pending(
                    "an earlier statvfs of this mount has not returned yet".into(),
                ));
                batch.changed.notify_all();
                continue;
            }
            lock(&batch.state).current = Some((i, Instant::now(), generation));
            let result = (self.stat_fn)(path);
            lock(&self.in_flight).remove(path);
            let mut state = lock(&batch.state);
            if state.current.is_some_and(|(_, _, g)| g == generation) {
                state.current = None;
            }
            state.results[i].get_or_insert(match result {
                Ok(s) => StatOutcome::Done(s),
                Err(e) => StatOutcome::Failed(e.to_string()),
            });
            batch.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A stand-in `statvfs`: a path with "slow" blocks until the test opens `gate`.
    fn fake(gate: &Arc<(Mutex<bool>, Condvar)>) -> StatFn {
        let gate = gate.clone();
        Arc::new(move |path: &Path| {
            if path.to_string_lossy().contains("slow") {
                let (open, cv) = &*gate;
                let mut g = lock(open);
                while !*g {
                    g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
                }
            }
            Ok(FsStat {
                fragment_size: 4096,
                blocks: 1000,
                blocks_free: 400,
                blocks_available: 300,
                files: 100,
                files_free: 40,
            })
        })
    }

    fn gate() -> Arc<(Mutex<bool>, Condvar)> {
        Arc::new((Mutex::new(false), Condvar::new()))
    }

    fn open(gate: &(Mutex<bool>, Condvar)) {
        *lock(&gate.0) = true;
        gate.1.notify_all();
    }

    fn quick() -> StatPolicy {
        StatPolicy {
            per_mount: Duration::from_millis(50),
            total: Duration::from_millis(300),
        }
    }

    /// Waits (at most a generous 20 s) until `done` holds.
    fn wait_for(mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The total size an outcome answers, if it answered.
    fn total_bytes(o: &StatOutcome) -> Option<u64> {
        match o {
            StatOutcome::Done(s) => Some(s.blocks * s.fragment_size),
            _ => None,
        }
    }

    /// The error text of an outcome that did not answer.
    fn error(o: &StatOutcome) -> Option<&str> {
        match o {
            StatOutcome::Done(_) => None,
            StatOutcome::Failed(e) | StatOutcome::Pending(e) => Some(e),
        }
    }

    #[test]
    fn stuck_mount_is_null_never_stat_twice_at_once_and_retried_once_it_returns() {
        let g = gate();
        let guard = StatGuard::new(fake(&g), quick());
        let paths = || vec![PathBuf::from("/mnt/slow a"), PathBuf::from("/after")];
        // The stuck statvfs blocks until the gate opens: the call returns without it.
        let r = guard.stat_all(paths());
        assert_eq!(total_bytes(&r[0]), None);
        assert!(error(&r[0]).unwrap().contains("did not answer"));
        assert_eq!(
            total_bytes(&r[1]),
            Some(4096 * 1000),
            "the mount after the stuck one is stat'ed"
        );
        assert_eq!(guard.in_flight(), 1, "the stuck statvfs is still running");
        // A second call while the first statvfs is stuck starts no second one.
        let r = guard.stat_all(paths());
        assert!(error(&r[0]).unwrap().contains("earlier statvfs"), "{:?}", r[0]);
        assert_eq!(total_bytes(&r[1]), Some(4096 * 1000));
        assert_eq!(guard.in_flight(), 1);
        // Once it returns, the mount is stat'ed again: with the gate open, it answers.
        open(&g);
        wait_for(|| guard.in_flight() == 0);
        let r = guard.stat_all(paths());
        assert_eq!(total_bytes(&r[0]), Some(4096 * 1000), "{:?}", r[0]);
        assert_eq!(error(&r[0]), None);
    }

    #[test]
    fn total_deadline_bounds_many_stuck_mounts() {
        let g = gate();
        let guard = StatGuard::new(fake(&g), quick());
        let paths: Vec<PathBuf> = (0..10).map(|i| PathBuf::from(format!("/slow{i}"))).collect();
        // Every statvfs blocks until the gate opens: returning at all shows the deadlines hold.
        let r = guard.stat_all(paths);
        assert!(r.iter().all(|r| total_bytes(r).is_none() && error(r).is_some()));
        assert!(
            r.iter().any(|r| error(r).unwrap().contains("ran out")),
            "the 300 ms for all mounts ran out before 10 mounts of 50 ms"
        );
        assert!(guard.in_flight() <= 10);
        open(&g);
        wait_for(|| guard.in_flight() == 0);
    }
}
