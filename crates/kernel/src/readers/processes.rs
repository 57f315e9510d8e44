//! One pass over `/proc/[pid]/`: the processes of `system_processes()` as the kernel reports
//! them, reading only the optional files the query's columns need ([`ProcessFields`]).

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::host;
use crate::procfs::meminfo::MemInfo;
use crate::procfs::pid::{self, PidDir, PidStat, ProcDir};
use crate::procfs::stat::Stat;
use crate::procfs::{KeptFile, Roots};
use crate::sync::lock;
use crate::time::Timestamp;

/// Which optional files to read for each process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessFields {
    /// `statm`: `rss_bytes`, `mem_pct`.
    pub statm: bool,
    /// `status`: `uid`, `user`.
    pub status: bool,
    pub cmdline: bool,
    pub exe: bool,
    /// `io`: `read_bytes`, `written_bytes`.
    pub io: bool,
    /// `fd/`: `open_fds`.
    pub fds: bool,
    pub cgroup: bool,
}

impl ProcessFields {
    pub fn all() -> ProcessFields {
        ProcessFields {
            statm: true,
            status: true,
            cmdline: true,
            exe: true,
            io: true,
            fds: true,
            cgroup: true,
        }
    }
}

/// One process as read. Optional parts are `None` when not requested or not permitted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessInfo {
    pub stat: PidStat,
    /// Resident pages, from `statm`.
    pub resident_pages: Option<u64>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub cmdline: Option<Vec<String>>,
    pub exe: Option<String>,
    pub io: Option<(u64, u64)>,
    pub open_fds: Option<u64>,
    pub cgroup: Option<String>,
}

/// One pass over `/proc/[pid]/`.
#[derive(Clone, Debug)]
pub struct ProcessSnapshot {
    pub instant: Instant,
    pub ts: Timestamp,
    pub hostname: String,
    pub mem_total_bytes: Option<u64>,
    /// Boot time, seconds since the Unix epoch.
    pub boot_time: Option<u64>,
    pub page_size: u64,
    pub processes: Vec<ProcessInfo>,
}

/// The CPU ticks (user + system) of every process of a snapshot, by (pid, start time).
#[derive(Clone, Debug, Default)]
pub struct ProcessTimes {
    pub ticks: HashMap<(i32, u64), u64>,
}

impl ProcessSnapshot {
    pub fn times(&self) -> ProcessTimes {
        ProcessTimes {
            ticks: self
                .processes
                .iter()
                .map(|p| ((p.stat.pid, p.stat.start_time), p.stat.utime + p.stat.stime))
                .collect(),
        }
    }
}

pub use crate::procfs::syscalls::{UserLookup, UserNames, user_name};

/// When a pass may keep a process's `io` counters from an earlier read instead of reading the
/// file again ([`ProcessCollector::reuse_io`]): a view that shows the rates of some processes
/// only (`sysmon top`'s screen) reads `io` for those at every pass, and for the others only
/// where they may have changed. Counters are charged to a process while it runs (the bytes it
/// reads, the pages it dirties), so one whose CPU time (`utime + stime`, in clock ticks) is
/// the same as at its last read kept them, to the precision of a tick; `max_age` bounds what
/// I/O done in less than a tick of CPU time can leave unseen. The SQL tables never reuse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IoReuse {
    /// Read at every pass: the processes shown.
    pub always: HashSet<i32>,
    /// Read again when the last read is this old, whatever the CPU time.
    pub max_age: Duration,
}

/// A process's counters as last read from its `io`.
#[derive(Clone, Copy, Debug)]
struct KeptIo {
    start_time: u64,
    ticks: u64,
    io: Option<(u64, u64)>,
    at: Instant,
    /// The pass that last saw the process.
    pass: u64,
}

/// Reads processes, keeping the uid→name cache and the meminfo descriptor between passes.
#[derive(Debug)]
pub struct ProcessCollector {
    roots: Roots,
    meminfo: KeptFile,
    boot_time: Option<u64>,
    users: Arc<Mutex<UserNames>>,
    buf: Vec<u8>,
    /// The path being opened (`[pid]/stat`, `[pid]`, relative to the pass's `ProcDir`) as a
    /// C string.
    path: Vec<u8>,
    /// The pids of the last listing.
    pids: Vec<i32>,
    /// While set, `io` is read again only where [`IoReuse`] says.
    io_reuse: Option<IoReuse>,
    /// By pid: the counters of its last `io` read (while `io_reuse` is set).
    kept_io: HashMap<i32, KeptIo>,
    passes: u64,
}

impl ProcessCollector {
    pub fn new(roots: Roots) -> Self {
        Self::with_user_lookup(roots, user_name)
    }

    pub fn with_user_lookup(roots: Roots, lookup: UserLookup) -> Self {
        Self::with_user_names(roots, Arc::new(Mutex::new(UserNames::new(lookup))))
    }

    /// A collector naming users through the shared cache `users`.
    pub fn with_user_names(roots: Roots, users: Arc<Mutex<UserNames>>) -> Self {
        let boot_time = std::fs::read_to_string(roots.proc("stat"))
            .ok()
            .and_then(|t| Stat::parse(&t).boot_time);
        ProcessCollector {
            meminfo: KeptFile::new(roots.proc("meminfo")),
            roots,
            boot_time,
            users,
            buf: Vec::with_capacity(4096),
            path: Vec::with_capacity(64),
            pids: Vec::with_capacity(512),
            io_reuse: None,
            kept_io: HashMap::new(),
            passes: 0,
        }
    }

    /// From the next pass, `io` is read only where `reuse` says (`None`: at every pass, as the
    /// SQL tables read it).
    pub fn reuse_io(&mut self, reuse: Option<IoReuse>) {
        if reuse.is_none() {
            self.kept_io.clear();
        }
        self.io_reuse = reuse;
    }

    /// When the `io` counters the last pass gave for `pid` were read (while [`Self::reuse_io`]
    /// is set): the rates of a process between two passes are over the time between its reads.
    pub fn io_read_at(&self, pid: i32) -> Option<Instant> {
        self.kept_io.get(&pid).map(|k| k.at)
    }

    /// The kept counters of `stat`'s process where [`IoReuse`] lets them stand for a read
    /// (noted as seen by this pass, with the time of the read they came from).
    fn reusable_io(&mut self, stat: &PidStat, now: Instant) -> Option<Option<(u64, u64)>> {
        let reuse = self.io_reuse.as_ref()?;
        let k = self.kept_io.get_mut(&stat.pid)?;
        let same = k.start_time == stat.start_time
            && k.ticks == stat.utime + stat.stime
            && !reuse.always.contains(&stat.pid)
            && now.saturating_duration_since(k.at) < reuse.max_age;
        if !same {
            return None;
        }
        k.pass = self.passes;
        Some(k.io)
    }

    /// Notes the counters just read (at `at`) of `stat`'s process as seen by this pass.
    fn keep_io(&mut self, stat: &PidStat, io: Option<(u64, u64)>, at: Instant) {
        if self.io_reuse.is_some() {
            self.kept_io.insert(
                stat.pid,
                KeptIo {
                    start_time: stat.start_time,
                    ticks: stat.utime + stat.stime,
                    io,
                    at,
                    pass: self.passes,
                },
            );
        }
    }

    /// One pass over every process, reading `fields` besides `stat`.
    pub fn snapshot(&mut self, fields: ProcessFields) -> io::Result<ProcessSnapshot> {
        let instant = Instant::now();
        let ts = Timestamp::now();
        let mut proc = ProcDir::open(&self.roots.proc)?;
        proc.pids_into(&mut self.pids)?;
        // Only `mem_pct` needs the total.
        let mem_total_bytes = match fields.statm {
            true => self.meminfo.read().ok().and_then(|t| MemInfo::parse(t).total),
            false => None,
        };
        let mut processes = Vec::with_capacity(self.pids.len());
        let pids = std::mem::take(&mut self.pids);
        self.passes += 1;
        for &p in &pids {
            if let Some(info) = self.read_one(&proc, p, fields, instant) {
                processes.push(info);
            }
        }
        self.pids = pids;
        // The processes gone since the previous pass.
        let pass = self.passes;
        self.kept_io.retain(|_, k| k.pass == pass);
        Ok(ProcessSnapshot {
            instant,
            ts,
            hostname: host::hostname(),
            mem_total_bytes,
            boot_time: self.boot_time,
            page_size: host::page_size_bytes().unwrap_or(4096),
            processes,
        })
    }

    /// `<pid>` then `tail`, NUL-terminated, in the kept buffer: a path relative to the
    /// [`ProcDir`] of the pass.
    fn pid_path(&mut self, pid: i32, tail: &[u8]) -> Option<()> {
        self.path.clear();
        pid::push_decimal(&mut self.path, u32::try_from(pid).ok()?);
        self.path.extend_from_slice(tail);
        self.path.push(0);
        Some(())
    }

    /// Reads `<pid>/<name>` (relative to the pass's [`ProcDir`]) into the kept buffer.
    fn read_file(&mut self, proc: &ProcDir, pid: i32, name: &[u8]) -> io::Result<()> {
        self.pid_path(pid, name)
            .ok_or_else(|| io::Error::other("pid out of range"))?;
        let path = CStr::from_bytes_with_nul(&self.path).map_err(io::Error::other)?;
        pid::read_seq_file_at(proc, path, &mut self.buf)
    }

    /// Reads `stat`, and `statm` and `io` where `fields` asks (and nothing else), each opened by
    /// its path relative to the pass's `/proc`: one `openat`, `read` and `close` a file, as `top`
    /// reads them, where the directory would cost an open and a close more. Only a pid reused
    /// between two of these reads (the whole pid space gone round meanwhile) could mix two
    /// processes; a process that exits meanwhile is dropped, as in [`Self::read_one`].
    ///
    /// A kernel thread's `statm` is not read: it has no memory of its own, and the kernel's
    /// `statm` of one is all zeros (`get_task_mm` gives no mm for a `PF_KTHREAD` task).
    fn read_by_paths(&mut self, proc: &ProcDir, pid: i32, fields: ProcessFields, now: Instant) -> Option<ProcessInfo> {
        self.read_file(proc, pid, b"/stat").ok()?;
        let stat = PidStat::parse_bytes(&self.buf)?;
        let mut info = ProcessInfo {
            stat,
            ..ProcessInfo::default()
        };
        if fields.statm && info.stat.is_kernel_thread() {
            info.resident_pages = Some(0);
        } else if fields.statm {
            // Like status, statm exists while the process does.
            self.read_file(proc, pid, b"/statm").ok()?;
            info.resident_pages = pid::parse_statm(&String::from_utf8_lossy(&self.buf)).map(|m| m.resident);
        }
        if fields.io {
            if let Some(kept) = self.reusable_io(&info.stat, now) {
                info.io = kept;
                return Some(info);
            }
            match self.read_file(proc, pid, b"/io") {
                Ok(()) => info.io = pid::parse_io(&String::from_utf8_lossy(&self.buf)),
                // Gone meanwhile (not merely not permitted): no row, as the directory's way.
                Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
                    self.read_file(proc, pid, b"/stat").ok()?;
                }
                Err(_) => {}
            }
            self.keep_io(&info.stat, info.io, now);
        }
        Some(info)
    }

    /// Reads one process; `None` if it exited (or its `stat` is unreadable or malformed).
    fn read_one(&mut self, proc: &ProcDir, pid: i32, fields: ProcessFields, now: Instant) -> Option<ProcessInfo> {
        let only_seq_files = ProcessFields {
            statm: fields.statm,
            io: fields.io,
            ..ProcessFields::default()
        } == fields;
        if only_seq_files {
            return self.read_by_paths(proc, pid, fields, now);
        }
        self.pid_path(pid, b"")?;
        let dir = PidDir::open_at(proc, CStr::from_bytes_with_nul(&self.path).ok()?).ok()?;
        dir.read_seq(c"stat", &mut self.buf).ok()?;
        let stat = PidStat::parse_bytes(&self.buf)?;
        let mut info = ProcessInfo {
            stat,
            ..ProcessInfo::default()
        };
        if fields.statm && info.stat.is_kernel_thread() {
            info.resident_pages = Some(0);
        } else if fields.statm {
            // Like status, statm exists while the process does.
            dir.read_seq(c"statm", &mut self.buf).ok()?;
            info.resident_pages = pid::parse_statm(&String::from_utf8_lossy(&self.buf)).map(|m| m.resident);
        }
        if fields.status {
            // status always exists while the process does: failing to read it means it exited.
            dir.read(c"status", &mut self.buf).ok()?;
            info.uid = pid::parse_status_euid(&String::from_utf8_lossy(&self.buf));
            if let Some(uid) = info.uid {
                info.user = lock(&self.users).name(uid);
            }
        }
        if fields.cmdline {
            // Readable for every process; empty for kernel threads and zombies.
            dir.read(c"cmdline", &mut self.buf).ok()?;
            info.cmdline = Some(pid::parse_cmdline(&self.buf));
        }
        // An optional file that is gone may mean the process exited mid-read (or, for `exe`,
        // that it is a kernel thread or zombie): only then is `stat` checked again.
        let mut maybe_gone = false;
        let mut note = |e: &io::Error| {
            maybe_gone |= e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH);
        };
        if fields.exe {
            info.exe = dir.read_link(c"exe").inspect_err(&mut note).ok();
        }
        if fields.io {
            info.io = match dir.read_seq(c"io", &mut self.buf) {
                Ok(()) => pid::parse_io(&String::from_utf8_lossy(&self.buf)),
                Err(e) => {
                    note(&e);
                    None
                }
            };
            // Read here at every pass (this path reads more files than `io_reuse` saves).
            self.keep_io(&info.stat, info.io, now);
        }
        if fields.fds {
            info.open_fds = dir.count_entries(c"fd").inspect_err(&mut note).ok();
        }
        if fields.cgroup {
            info.cgroup = match dir.read(c"cgroup", &mut self.buf) {
                Ok(()) => pid::parse_cgroup(&String::from_utf8_lossy(&self.buf)),
                Err(e) => {
                    note(&e);
                    None
                }
            };
        }
        // A process that exited while being read leaves nothing behind: its row would mix
        // two states, so it is skipped.
        if maybe_gone && dir.read_seq(c"stat", &mut self.buf).is_err() {
            return None;
        }
        Some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let (src, dst) = (e.path(), to.join(e.file_name()));
            match e.file_type().unwrap() {
                t if t.is_dir() => copy_tree(&src, &dst),
                t if t.is_file() => {
                    std::fs::copy(&src, &dst).unwrap();
                }
                _ => {}
            }
        }
    }

    const STAT: &str = "4242 (my (weird) name) S 1 4242 4242 0 -1 4194560 1200 0 3 0 250 50 0 0 20 0 4 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    fn io_of(snap: &ProcessSnapshot, pid: i32) -> Option<(u64, u64)> {
        snap.processes.iter().find(|p| p.stat.pid == pid).and_then(|p| p.io)
    }

    #[test]
    fn io_is_read_again_only_where_it_may_have_changed() {
        let dir = std::env::temp_dir().join(format!("sysmon-io-reuse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures/modern"),
            &dir,
        );
        let io = dir.join("proc/4242/io");
        let set_io = |r: u64, w: u64| {
            std::fs::write(&io, format!("rchar: 1\nwchar: 2\nread_bytes: {r}\nwrite_bytes: {w}\n")).unwrap()
        };
        set_io(4096, 8192);
        let fields = ProcessFields {
            statm: true,
            io: true,
            ..ProcessFields::default()
        };
        let mut c = ProcessCollector::new(Roots::fixture(&dir));
        // Not set: read at every pass.
        assert_eq!(io_of(&c.snapshot(fields).unwrap(), 4242), Some((4096, 8192)));
        set_io(5000, 9000);
        assert_eq!(io_of(&c.snapshot(fields).unwrap(), 4242), Some((5000, 9000)));
        assert_eq!(c.io_read_at(4242), None, "nothing kept while not set");

        c.reuse_io(Some(IoReuse {
            always: HashSet::new(),
            max_age: Duration::from_secs(3600),
        }));
        let first = c.snapshot(fields).unwrap();
        assert_eq!(io_of(&first, 4242), Some((5000, 9000)));
        let read_at = c.io_read_at(4242).unwrap();
        // The same CPU time: the kept counters, and the time of the read they came from.
        set_io(6000, 9500);
        assert_eq!(io_of(&c.snapshot(fields).unwrap(), 4242), Some((5000, 9000)));
        assert_eq!(c.io_read_at(4242), Some(read_at));
        // It ran (a tick more): read again.
        std::fs::write(dir.join("proc/4242/stat"), STAT.replace(" 250 50 ", " 251 50 ")).unwrap();
        let ran = c.snapshot(fields).unwrap();
        assert_eq!(io_of(&ran, 4242), Some((6000, 9500)));
        assert!(c.io_read_at(4242).unwrap() > read_at);
        // Shown (always): read at every pass, whatever its CPU time.
        c.reuse_io(Some(IoReuse {
            always: HashSet::from([4242]),
            max_age: Duration::from_secs(3600),
        }));
        set_io(7000, 9600);
        assert_eq!(io_of(&c.snapshot(fields).unwrap(), 4242), Some((7000, 9600)));
        // Too old: read again.
        c.reuse_io(Some(IoReuse {
            always: HashSet::new(),
            max_age: Duration::ZERO,
        }));
        set_io(7100, 9700);
        assert_eq!(io_of(&c.snapshot(fields).unwrap(), 4242), Some((7100, 9700)));
        // A new process on the same pid (another start time): read.
        std::fs::write(dir.join("proc/4242/stat"), STAT.replace(" 12345 ", " 22345 ")).unwrap();
        c.reuse_io(Some(IoReuse {
            always: HashSet::new(),
            max_age: Duration::from_secs(3600),
        }));
        set_io(1, 2);
        assert_eq!(io_of(&c.snapshot(fields).unwrap(), 4242), Some((1, 2)));
        // Gone: forgotten.
        std::fs::remove_dir_all(dir.join("proc/4242")).unwrap();
        c.snapshot(fields).unwrap();
        assert_eq!(c.io_read_at(4242), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
