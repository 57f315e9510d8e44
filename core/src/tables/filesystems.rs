//! `system_filesystems()`: one row per mount of `/proc/self/mountinfo`, with `statvfs` sizes.
//!
//! A `statvfs` on a dead network mount can hang for minutes and cannot be cancelled. So each
//! query stats its mounts on a helper thread and waits at most [`StatPolicy::per_mount`] for
//! any one mount (and [`StatPolicy::total`] for all): a mount still pending then gets NULL
//! sizes and a `stat_error`, and the query moves on to the next mount on a fresh helper. The
//! process-wide [`StatGuard`] remembers which mounts have a `statvfs` in flight, and no helper
//! starts a second one for such a mount until the first returns: a stuck mount costs one
//! blocked thread, however often it is queried.

use super::{HostPath, Now, Table};
use crate::host;
use crate::live::LiveState;
use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::procfs::mountinfo::Mount;
pub use crate::procfs::syscalls::{FsStat, statvfs};
use crate::schema::Timestamp;
use crate::sync::lock;

crate::declare_table! {
    /// One row per mount this process sees (/proc/self/mountinfo), in mount order; a
    /// filesystem mounted twice has two rows. Pseudo filesystems (see [`PSEUDO_FS_TYPES`]) only
    /// with `include_pseudo := true`. Sizes are NULL, and `stat_error` says why, where
    /// `statvfs` failed or did not answer in time.
    pub struct FilesystemsRow => "system_filesystems", recorded as "filesystems" every process_interval {
        /// When the mounts were read.
        ts: Timestamp [""],
        /// Host name at that time.
        hostname: String [""],
        /// The mount's source: a device (`/dev/sda1`), a share (`server:/export`), or a name (`tmpfs`).
        device: String [""],
        /// Where it is mounted (octal escapes of mountinfo undone).
        mount_point: String [""],
        /// Filesystem type, e.g. `ext4`, `xfs`, `nfs4`, `fuse.sshfs`.
        fs_type: String [""],
        /// Per-mount options, e.g. `rw,relatime`.
        mount_options: String [""],
        /// Whether the mount is read-only.
        read_only: bool [""],
        /// Size of the filesystem.
        total_bytes: Option<u64> ["bytes"],
        /// Free space, including the blocks reserved for root.
        free_bytes: Option<u64> ["bytes"],
        /// Free space an unprivileged user may use.
        available_bytes: Option<u64> ["bytes"],
        /// total − free.
        used_bytes: Option<u64> ["bytes"],
        /// used / (used + available), as `df` computes Use%.
        used_pct: Option<f64> ["percent"],
        /// Inodes in total; NULL where the filesystem does not count inodes (reports 0, e.g. btrfs).
        inodes_total: Option<u64> [""],
        /// Inodes free; NULL where the filesystem does not count inodes.
        inodes_free: Option<u64> [""],
        /// Inodes in use; NULL where the filesystem does not count inodes.
        inodes_used: Option<u64> [""],
        /// Why the sizes are NULL (statvfs error, still pending after the deadline); NULL when they are not.
        stat_error: Option<String> [""],
    }
}

/// Filesystem types left out unless `include_pseudo := true`: kernel interfaces and memory
/// filesystems that hold no user data on a device.
pub const PSEUDO_FS_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

pub fn is_pseudo(fs_type: &str) -> bool {
    PSEUDO_FS_TYPES.contains(&fs_type)
}

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

/// The registry of `statvfs` calls in flight (one per process, in its
/// [`LiveState`](crate::live::LiveState)), and the function that makes them.
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

/// The rows for `mounts` (as read from mountinfo at `ts`), stat'ed through `guard`.
pub fn rows(
    mounts: Vec<Mount>,
    include_pseudo: bool,
    guard: &Arc<StatGuard>,
    ts: Timestamp,
    hostname: &str,
) -> Vec<FilesystemsRow> {
    let mounts: Vec<Mount> = mounts
        .into_iter()
        .filter(|m| include_pseudo || !is_pseudo(&m.fs_type))
        .collect();
    let outcomes = guard.stat_all(mounts.iter().map(|m| m.mount_point.clone().into()).collect());
    mounts
        .into_iter()
        .zip(outcomes)
        .map(|(m, outcome)| {
            let mut row = FilesystemsRow {
                ts,
                hostname: hostname.to_string(),
                read_only: m.read_only(),
                device: m.source,
                mount_point: m.mount_point,
                fs_type: m.fs_type,
                mount_options: m.mount_options,
                ..FilesystemsRow::default()
            };
            match outcome {
                StatOutcome::Done(s) => fill_sizes(&mut row, &s),
                StatOutcome::Failed(e) | StatOutcome::Pending(e) => row.stat_error = Some(e),
            }
            row
        })
        .collect()
}

fn fill_sizes(row: &mut FilesystemsRow, s: &FsStat) {
    let bytes = |blocks: u64| blocks.saturating_mul(s.fragment_size);
    let total = bytes(s.blocks);
    let free = bytes(s.blocks_free);
    let avail = bytes(s.blocks_available);
    let used = total.saturating_sub(free);
    row.total_bytes = Some(total);
    row.free_bytes = Some(free);
    row.available_bytes = Some(avail);
    row.used_bytes = Some(used);
    row.used_pct = match used.saturating_add(avail) {
        0 => None,
        d => Some(100.0 * used as f64 / d as f64),
    };
    if s.files > 0 {
        row.inodes_total = Some(s.files);
        row.inodes_free = Some(s.files_free);
        row.inodes_used = Some(s.files.saturating_sub(s.files_free));
    }
}

/// `system_filesystems()`: every `statvfs` through the state's [`StatGuard`].
pub struct Filesystems;

crate::declare_options! {
    /// The options of `system_filesystems()`.
    pub struct FilesystemsOptions {
        /// Keep pseudo filesystems (proc, sysfs, tmpfs, cgroup, ...: `PSEUDO_FS_TYPES`).
        include_pseudo = false,
    }
}

impl Table for Filesystems {
    type Row = FilesystemsRow;
    type Options = FilesystemsOptions;
    type Input = Now;
    const SUMMARY: &'static str = "One row per mount: device, mount point, type, options and statvfs sizes.";
    const EXAMPLE: &'static str = "SELECT mount_point, fs_type, used_pct, available_bytes FROM system_filesystems() ORDER BY used_pct DESC NULLS LAST";
    const FILES: &'static [&'static str] = &["/proc/self/mountinfo"];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Proc];

    fn rows(_: &Now, state: &LiveState, o: &FilesystemsOptions) -> io::Result<Vec<FilesystemsRow>> {
        let path = state.roots().proc("self/mountinfo");
        let text = crate::procfs::read_lossy(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))?;
        Ok(rows(
            Mount::parse_all(&text),
            o.include_pseudo,
            state.stat_guard(),
            Timestamp::now(),
            &host::hostname(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::Roots;

    fn fixture_mounts() -> Vec<Mount> {
        let roots = Roots::test_fixture("modern");
        Mount::parse_all(&std::fs::read_to_string(roots.proc("self/mountinfo")).unwrap())
    }

    /// A stand-in `statvfs`: a path with "slow" blocks until the test opens `gate`.
    fn fake(gate: &Arc<(Mutex<bool>, Condvar)>) -> StatFn {
        let gate = gate.clone();
        Arc::new(move |path: &Path| {
            let p = path.to_string_lossy();
            if p.contains("slow") {
                let (open, cv) = &*gate;
                let mut g = lock(open);
                while !*g {
                    g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
                }
            }
            if p.contains("denied") {
                return Err(io::Error::from_raw_os_error(libc::EACCES));
            }
            Ok(FsStat {
                fragment_size: 4096,
                blocks: 1000,
                blocks_free: 400,
                blocks_available: 300,
                files: if p == "/btrfs" { 0 } else { 100 },
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

    #[test]
    fn sizes_pseudo_filter_and_odd_mount_points() {
        let g = gate();
        let guard = StatGuard::new(fake(&g), quick());
        let r = rows(fixture_mounts(), false, &guard, Timestamp::from_micros(0), "h");
        let points: Vec<_> = r.iter().map(|r| r.mount_point.as_str()).collect();
        assert_eq!(
            points,
            ["/", "/mnt/usb stick été", "/btrfs", "/mnt/denied", "/mnt/nfs slow"]
        );
        let root = &r[0];
        assert_eq!(root.device, "/dev/vda");
        assert_eq!(root.total_bytes, Some(4096 * 1000));
        assert_eq!(root.used_bytes, Some(4096 * 600));
        assert_eq!(root.available_bytes, Some(4096 * 300));
        assert_eq!(root.used_pct, Some(100.0 * 600.0 / 900.0));
        assert_eq!(root.inodes_used, Some(60));
        assert!(r[1].read_only);
        assert_eq!(r[1].fs_type, "vfat");
        assert_eq!(r[2].inodes_total, None, "0 inodes: not counted, NULL");
        assert_eq!(r[2].total_bytes, Some(4096 * 1000));
        assert_eq!(r[3].total_bytes, None);
        assert!(
            r[3].stat_error.as_deref().unwrap().contains("denied"),
            "{:?}",
            r[3].stat_error
        );
        assert_eq!(r[4].total_bytes, None, "the slow mount never answered");
        open(&g);
        let all = rows(fixture_mounts(), true, &guard, Timestamp::from_micros(0), "h");
        assert!(all.iter().any(|r| r.fs_type == "proc"));
        assert!(all.iter().any(|r| r.fs_type == "cgroup2"));
        assert!(all.len() > r.len());
    }

    #[test]
    fn stuck_mount_is_null_never_stat_twice_at_once_and_retried_once_it_returns() {
        let g = gate();
        let guard = StatGuard::new(fake(&g), quick());
        let mounts = || {
            vec![
                Mount::parse_line(r"1 0 0:1 / /mnt/slow\040a rw - nfs srv:/a rw").unwrap(),
                Mount::parse_line("2 0 8:1 / /after rw - ext4 /dev/sda1 rw").unwrap(),
            ]
        };
        // The stuck statvfs blocks until the gate opens: the query returns without it.
        let r = rows(mounts(), false, &guard, Timestamp::from_micros(0), "h");
        assert_eq!(r[0].total_bytes, None);
        assert!(r[0].stat_error.as_deref().unwrap().contains("did not answer"));
        assert_eq!(
            r[1].total_bytes,
            Some(4096 * 1000),
            "the mount after the stuck one is stat'ed"
        );
        assert_eq!(guard.in_flight(), 1, "the stuck statvfs is still running");
        // A second query while the first statvfs is stuck starts no second one.
        let r = rows(mounts(), false, &guard, Timestamp::from_micros(0), "h");
        assert!(
            r[0].stat_error.as_deref().unwrap().contains("earlier statvfs"),
            "{:?}",
            r[0].stat_error
        );
        assert_eq!(r[1].total_bytes, Some(4096 * 1000));
        assert_eq!(guard.in_flight(), 1);
        // Once it returns, the mount is stat'ed again: with the gate open, it answers.
        open(&g);
        wait_for(|| guard.in_flight() == 0);
        let r = rows(mounts(), false, &guard, Timestamp::from_micros(0), "h");
        assert_eq!(r[0].total_bytes, Some(4096 * 1000), "{:?}", r[0].stat_error);
        assert_eq!(r[0].stat_error, None);
    }

    #[test]
    fn total_deadline_bounds_many_stuck_mounts() {
        let g = gate();
        let guard = StatGuard::new(fake(&g), quick());
        let mounts: Vec<Mount> = (0..10)
            .map(|i| Mount::parse_line(&format!("{i} 0 0:1 / /slow{i} rw - nfs s:/ rw")).unwrap())
            .collect();
        // Every statvfs blocks until the gate opens: returning at all shows the deadlines hold.
        let r = rows(mounts, false, &guard, Timestamp::from_micros(0), "h");
        assert!(r.iter().all(|r| r.total_bytes.is_none() && r.stat_error.is_some()));
        assert!(
            r.iter().any(|r| r.stat_error.as_deref().unwrap().contains("ran out")),
            "the 300 ms for all mounts ran out before 10 mounts of 50 ms"
        );
        assert!(guard.in_flight() <= 10);
        open(&g);
        wait_for(|| guard.in_flight() == 0);
    }

    #[test]
    fn live_root_agrees_with_statvfs() {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let guard = StatGuard::new(Arc::new(statvfs), StatPolicy::default());
        let r = rows(Mount::parse_all(&text), false, &guard, Timestamp::now(), "h");
        let root = r.iter().find(|r| r.mount_point == "/").expect("/ is mounted");
        let s = statvfs(Path::new("/")).unwrap();
        assert_eq!(root.total_bytes, Some(s.blocks * s.fragment_size));
    }
}
