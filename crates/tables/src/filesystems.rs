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
use std::io;
use std::sync::Arc;
use sysmon_kernel::host;
use sysmon_live::LiveState;

use crate::schema::Timestamp;
use sysmon_kernel::procfs::mountinfo::Mount;
pub use sysmon_kernel::procfs::syscalls::{FsStat, statvfs};
pub use sysmon_kernel::readers::stat_guard::{StatFn, StatGuard, StatOutcome, StatPolicy};

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
        let text = sysmon_kernel::procfs::read_lossy(&path)
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
    use std::path::Path;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;
    use sysmon_kernel::procfs::Roots;
    use sysmon_kernel::sync::lock;

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
    fn live_root_agrees_with_statvfs() {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let guard = StatGuard::new(Arc::new(statvfs), StatPolicy::default());
        let r = rows(Mount::parse_all(&text), false, &guard, Timestamp::now(), "h");
        let root = r.iter().find(|r| r.mount_point == "/").expect("/ is mounted");
        let s = statvfs(Path::new("/")).unwrap();
        assert_eq!(root.total_bytes, Some(s.blocks * s.fragment_size));
    }
}
