//! One pass over `/proc/[pid]/`: the processes of `system_processes()` as the kernel reports
//! them, reading only the optional files the query's columns need ([`ProcessFields`]).

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::host;
use crate::procfs::loadavg::LoadAvg;
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

/// A process's start time: `btime` (seconds since the Unix epoch) and `stat`'s `starttime`
/// (clock ticks after boot). The one formula of `system_processes().start_time` and of the
/// check that a pid still names the process shown ([`signal`](crate::readers::signal)).
pub fn start_time(boot_time: u64, start_ticks: u64) -> Timestamp {
    let hz = host::clock_ticks_per_sec() as f64;
    Timestamp::from_micros((boot_time as f64 * 1e6 + start_ticks as f64 / hz * 1e6) as i64)
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

/// The `stat`, `statm` and `io` of one process kept open between passes
/// ([`ProcessCollector::keep_open`]).
#[derive(Debug, Default)]
struct KeptFds {
    files: [Option<OwnedFd>; 3],
    /// The pass that last saw the process.
    pass: u64,
}

/// The files [`ProcessCollector::read_by_paths`] reads, as indexes into [`KeptFds::files`].
#[derive(Clone, Copy, Debug)]
enum SeqFile {
    Stat = 0,
    Statm = 1,
    Io = 2,
}

impl SeqFile {
    fn tail(self) -> &'static [u8] {
        match self {
            SeqFile::Stat => b"/stat",
            SeqFile::Statm => b"/statm",
            SeqFile::Io => b"/io",
        }
    }
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
    /// How many descriptors [`Self::keep_open`] allows (0: none kept).
    keep_budget: usize,
    /// By pid: its files kept open, `kept_open` descriptors in all.
    kept_fds: HashMap<i32, KeptFds>,
    kept_open: usize,
    /// While descriptors are kept: the `/proc` of the passes, `loadavg` (whose last pid says
    /// whether any task was made since the last listing), that pid, and when `/proc` was
    /// listed last.
    proc_dir: Option<ProcDir>,
    loadavg: KeptFile,
    last_pid: Option<u64>,
    listed_at: Option<Instant>,
    /// Whether the `/proc` read is of this process's pid namespace (its `self` is this pid),
    /// which the last pid of its `loadavg` is of; checked once.
    own_pid_namespace: Option<bool>,
    /// `MemTotal` and when it was read, while descriptors are kept.
    mem_total_kept: Option<(u64, Instant)>,
    passes: u64,
    listings: u64,
}

/// While descriptors are kept, `/proc` is listed again at least this often even where its
/// last pid says no task was made (see [`ProcessCollector::keep_open`]).
const LIST_MAX_AGE: Duration = Duration::from_secs(10);

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
            loadavg: KeptFile::new(roots.proc("loadavg")),
            roots,
            boot_time,
            users,
            buf: Vec::with_capacity(4096),
            path: Vec::with_capacity(64),
            pids: Vec::with_capacity(512),
            io_reuse: None,
            kept_io: HashMap::new(),
            keep_budget: 0,
            kept_fds: HashMap::new(),
            kept_open: 0,
            proc_dir: None,
            last_pid: None,
            listed_at: None,
            own_pid_namespace: None,
            mem_total_kept: None,
            passes: 0,
            listings: 0,
        }
    }

    /// From the next pass, the `stat`, `statm` and `io` a pass reads stay open, up to
    /// `budget` descriptors in all, and later passes read them again with one `pread` each
    /// (see [`pid::reread_seq_file`]): a pass then costs no path walk, `open` or `close` for
    /// a process already seen, which at a 1 s refresh was a third of the cost of reading
    /// `stat` (measured in `docs/benchmarks.md`). A process's descriptors are closed once a
    /// pass no longer lists it, or when one reads as exited (its pid is then opened afresh:
    /// it may name a new process). Each open file holds a page of kernel memory for its
    /// text, hence the budget; files past it are opened and closed at each pass, as with 0
    /// (the default, and what the SQL tables use: a host process's descriptors are not
    /// sysmon's to spend). Only passes that read `stat`, `statm` and `io` alone (no
    /// `status`, `cmdline`, …) use it.
    ///
    /// While set, `/proc` itself stays open too, and a pass lists it only where a task may
    /// have been made since the last listing: when the last pid of `loadavg` changed (every
    /// fork and every new thread takes a pid), or the listing is older than 10 s, or the
    /// `/proc` read is not of this process's pid namespace (whose last pid `loadavg` shows).
    /// Otherwise the pass reads the processes of the last listing, and one that exited reads
    /// as such and is dropped. On a quiet host that saves the `getdents` of `/proc`, which
    /// walks every task and was a sixth of a pass. `MemTotal` (for `mem_pct`) is read again at
    /// most every 10 s.
    pub fn keep_open(&mut self, budget: usize) {
        self.keep_budget = budget;
        if budget < self.kept_open {
            self.kept_fds.clear();
            self.kept_open = 0;
        }
        if budget == 0 {
            self.proc_dir = None;
            self.last_pid = None;
        }
    }

    /// Whether the pass about to run must list `/proc` (see [`Self::keep_open`]), and the
    /// last pid `loadavg` shows now (read before the listing, so that a task made after it
    /// shows as a change at the next pass).
    fn must_list(&mut self, now: Instant) -> (bool, Option<u64>) {
        if self.keep_budget == 0 {
            return (true, None);
        }
        let own = *self.own_pid_namespace.get_or_insert_with(|| {
            std::fs::read_link(self.roots.proc("self"))
                .ok()
                .and_then(|l| l.to_str()?.parse::<u32>().ok())
                == Some(std::process::id())
        });
        let last_pid = match own {
            true => self
                .loadavg
                .read()
                .ok()
                .and_then(LoadAvg::parse)
                .and_then(|l| l.last_pid),
            false => None,
        };
        let fresh = self
            .listed_at
            .is_some_and(|at| now.saturating_duration_since(at) < LIST_MAX_AGE);
        (last_pid.is_none() || last_pid != self.last_pid || !fresh, last_pid)
    }

    /// `MemTotal` of `meminfo`, for `mem_pct`; while descriptors are kept, read again at most
    /// every 10 s (it changes only where memory is added or taken away).
    fn mem_total(&mut self, now: Instant) -> Option<u64> {
        if self.keep_budget > 0
            && let Some((total, at)) = self.mem_total_kept
            && now.saturating_duration_since(at) < LIST_MAX_AGE
        {
            return Some(total);
        }
        let total = self.meminfo.read().ok().and_then(|t| MemInfo::parse(t).total);
        self.mem_total_kept = match self.keep_budget {
            0 => None,
            _ => total.map(|t| (t, now)),
        };
        total
    }

    /// The `btime` of `/proc/stat` when the collector was made, which every snapshot's start
    /// times are worked out from ([`start_time`]).
    pub fn boot_time(&self) -> Option<u64> {
        self.boot_time
    }

    /// How many passes listed `/proc` (all of them but where [`Self::keep_open`] saves it).
    pub fn listings(&self) -> u64 {
        self.listings
    }

    /// How many descriptors [`Self::keep_open`] holds now.
    pub fn kept_open(&self) -> usize {
        self.kept_open
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
        let (list, last_pid) = self.must_list(instant);
        let mut proc = match self.proc_dir.take() {
            Some(dir) => dir,
            None => ProcDir::open(&self.roots.proc)?,
        };
        if list {
            proc.pids_into(&mut self.pids)?;
            self.listed_at = Some(instant);
            self.listings += 1;
        }
        self.last_pid = last_pid;
        // Only `mem_pct` needs the total.
        let mem_total_bytes = match fields.statm {
            true => self.mem_total(instant),
            false => None,
        };
        let mut processes = Vec::with_capacity(self.pids.len());
        let pids = std::mem::take(&mut self.pids);
        self.passes += 1;
        let mut pids = pids;
        let mut gone = false;
        for &p in &pids {
            match self.read_one(&proc, p, fields, instant) {
                Some(info) => processes.push(info),
                None => {
                    gone = true;
                    // Exited (or unreadable): its descriptors, if any, close now.
                    if let Some(k) = self.kept_fds.remove(&p) {
                        self.kept_open -= k.files.iter().flatten().count();
                    }
                }
            }
        }
        if gone && !list {
            // Not listed this pass: the pids that read as exited are dropped from the list.
            let read: HashSet<i32> = processes.iter().map(|p| p.stat.pid).collect();
            pids.retain(|p| read.contains(p));
        }
        self.pids = pids;
        if self.keep_budget > 0 {
            self.proc_dir = Some(proc);
        }
        // The processes gone since the previous pass.
        let pass = self.passes;
        self.kept_io.retain(|_, k| k.pass == pass);
        if !self.kept_fds.is_empty() {
            let mut closed = 0;
            self.kept_fds.retain(|_, k| {
                let keep = k.pass == pass;
                if !keep {
                    closed += k.files.iter().flatten().count();
                }
                keep
            });
            self.kept_open -= closed;
        }
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

    /// Reads `<pid>/<file>` into the kept buffer: through its descriptor kept from an earlier
    /// pass where there is one, else by its path, keeping the descriptor while
    /// [`Self::keep_open`]'s budget allows.
    fn read_seq(&mut self, proc: &ProcDir, pid: i32, file: SeqFile) -> io::Result<()> {
        if self.keep_budget == 0 {
            return self.read_file(proc, pid, file.tail());
        }
        let pass = self.passes;
        let kept = self.kept_fds.entry(pid).or_default();
        kept.pass = pass;
        if let Some(fd) = &kept.files[file as usize] {
            match pid::reread_seq_file(fd, &mut self.buf) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                    // The process it was opened on exited: every descriptor of it goes, and
                    // the pid, which may name a new process, is opened afresh.
                    self.kept_open -= kept.files.iter().flatten().count();
                    kept.files = Default::default();
                }
                Err(e) => return Err(e),
            }
        }
        self.pid_path(pid, file.tail())
            .ok_or_else(|| io::Error::other("pid out of range"))?;
        let path = CStr::from_bytes_with_nul(&self.path).map_err(io::Error::other)?;
        let fd = pid::open_seq_file_at(proc, path, &mut self.buf)?;
        if self.kept_open < self.keep_budget {
            // Looked up again: `pid_path` and the open needed `self` whole.
            if let Some(kept) = self.kept_fds.get_mut(&pid) {
                kept.files[file as usize] = Some(fd);
                self.kept_open += 1;
            }
        }
        Ok(())
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
        self.read_seq(proc, pid, SeqFile::Stat).ok()?;
        let stat = PidStat::parse_bytes(&self.buf)?;
        let mut info = ProcessInfo {
            stat,
            ..ProcessInfo::default()
        };
        if fields.statm && info.stat.is_kernel_thread() {
            info.resident_pages = Some(0);
        } else if fields.statm {
            // Like status, statm exists while the process does.
            self.read_seq(proc, pid, SeqFile::Statm).ok()?;
            info.resident_pages = pid::parse_statm(&String::from_utf8_lossy(&self.buf)).map(|m| m.resident);
        }
        if fields.io {
            if let Some(kept) = self.reusable_io(&info.stat, now) {
                info.io = kept;
                return Some(info);
            }
            match self.read_seq(proc, pid, SeqFile::Io) {
                Ok(()) => info.io = pid::parse_io(&String::from_utf8_lossy(&self.buf)),
                // Gone meanwhile (not merely not permitted): no row, as the directory's way.
                Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
                    self.read_seq(proc, pid, SeqFile::Stat).ok()?;
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

    /// A fresh copy of the `modern` fixture under the temporary folder, named `name` and this
    /// test process's pid, for a test that changes its files.
    fn modern_copy(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures/modern"),
            &dir,
        );
        dir
    }

    /// What `sysmon top` reads of each process at every pass: `stat`, `statm` and `io`.
    const TOP_FIELDS: ProcessFields = ProcessFields {
        statm: true,
        status: false,
        cmdline: false,
        exe: false,
        io: true,
        fds: false,
        cgroup: false,
    };

    const STAT: &str = "4242 (my (weird) name) S 1 4242 4242 0 -1 4194560 1200 0 3 0 250 50 0 0 20 0 4 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    fn io_of(snap: &ProcessSnapshot, pid: i32) -> Option<(u64, u64)> {
        snap.processes.iter().find(|p| p.stat.pid == pid).and_then(|p| p.io)
    }

    #[test]
    fn io_is_read_again_only_where_it_may_have_changed() {
        let dir = modern_copy("sysmon-io-reuse");
        let io = dir.join("proc/4242/io");
        let set_io = |r: u64, w: u64| {
            std::fs::write(&io, format!("rchar: 1\nwchar: 2\nread_bytes: {r}\nwrite_bytes: {w}\n")).unwrap()
        };
        set_io(4096, 8192);
        let fields = TOP_FIELDS;
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

    #[test]
    fn kept_descriptors_read_the_files_as_they_are_now_and_close_with_the_process() {
        let dir = modern_copy("sysmon-keep-open");
        let fields = TOP_FIELDS;
        let ticks = |s: &ProcessSnapshot, pid: i32| {
            s.processes
                .iter()
                .find(|p| p.stat.pid == pid)
                .map(|p| p.stat.utime + p.stat.stime)
        };
        let mut c = ProcessCollector::new(Roots::fixture(&dir));
        let plain = c.snapshot(fields).unwrap();
        assert_eq!(c.kept_open(), 0, "nothing kept by default");

        c.keep_open(64);
        let first = c.snapshot(fields).unwrap();
        assert_eq!(first.processes, plain.processes, "the same rows, kept or not");
        // 1: stat, statm; 2 (a kernel thread): stat; 4242: stat, statm, io. 77 has no `stat`,
        // 78's is cut short: no row, and nothing kept.
        assert_eq!(c.kept_open(), 6);
        // Rewritten in place: the kept descriptors read what the files hold now.
        std::fs::write(dir.join("proc/4242/stat"), STAT.replace(" 250 50 ", " 260 55 ")).unwrap();
        std::fs::write(dir.join("proc/4242/io"), "read_bytes: 7\nwrite_bytes: 9\n").unwrap();
        // `MemTotal` changed: read again within 10 s only where nothing is kept.
        let meminfo = std::fs::read_to_string(dir.join("proc/meminfo")).unwrap();
        std::fs::write(
            dir.join("proc/meminfo"),
            meminfo.replace("MemTotal:        4028536 kB", "MemTotal:        8000000 kB"),
        )
        .unwrap();
        let second = c.snapshot(fields).unwrap();
        assert_eq!(second.mem_total_bytes, first.mem_total_bytes);
        assert_eq!(
            ProcessCollector::new(Roots::fixture(&dir))
                .snapshot(fields)
                .unwrap()
                .mem_total_bytes,
            Some(8_000_000 * 1024)
        );
        assert_eq!(ticks(&second, 4242), Some(315));
        assert_eq!(io_of(&second, 4242), Some((7, 9)));
        assert_eq!(c.kept_open(), 6, "no file opened again");
        // Gone from the listing: its descriptors are closed.
        std::fs::remove_dir_all(dir.join("proc/4242")).unwrap();
        let third = c.snapshot(fields).unwrap();
        assert_eq!(ticks(&third, 4242), None);
        assert_eq!(c.kept_open(), 3);
        // The budget bounds what is kept; the rows are the same.
        let mut small = ProcessCollector::new(Roots::fixture(&dir));
        small.keep_open(2);
        assert_eq!(small.snapshot(fields).unwrap().processes, third.processes);
        assert_eq!(small.kept_open(), 2);
        assert_eq!(small.snapshot(fields).unwrap().processes, third.processes);
        small.keep_open(0);
        assert_eq!(small.kept_open(), 0, "all closed when turned off");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn kept_descriptors_on_the_live_proc() {
        let fields = TOP_FIELDS;
        let me = std::process::id() as i32;
        let mut c = ProcessCollector::new(Roots::default());
        c.keep_open(4096);
        let find = |s: &ProcessSnapshot, pid: i32| s.processes.iter().find(|p| p.stat.pid == pid).cloned();
        c.snapshot(fields).unwrap();
        // A process made after a pass is found by the next (its pid is a new last pid).
        let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let kid = child.id() as i32;
        let first = c.snapshot(fields).unwrap();
        let before = find(&first, me).unwrap();
        assert!(find(&first, kid).is_some());
        let kept = c.kept_open();
        assert!(kept >= 6, "at least this process's and the child's files: {kept}");
        // CPU spent shows through the kept `stat`: 60 ms of this thread's own (6 clock ticks).
        let thread_cpu = || {
            let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: writes one `timespec` into the one passed.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
            Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
        };
        let spun = thread_cpu();
        let mut x = 0u64;
        while thread_cpu() - spun < Duration::from_millis(60) {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(7));
        }
        std::hint::black_box(x);
        // The child exits: its row goes, and its descriptors with it.
        child.kill().unwrap();
        child.wait().unwrap();
        let second = c.snapshot(fields).unwrap();
        let after = find(&second, me).unwrap();
        assert!(
            after.stat.utime + after.stat.stime > before.stat.utime + before.stat.stime,
            "{before:?} -> {after:?}"
        );
        assert!(find(&second, kid).is_none());
        assert_eq!(
            c.kept_open(),
            c.kept_fds
                .values()
                .map(|k| k.files.iter().flatten().count())
                .sum::<usize>()
        );
        assert!(!c.kept_fds.contains_key(&kid));
    }

    #[test]
    fn proc_is_listed_again_only_where_a_task_may_have_been_made() {
        let dir = modern_copy("sysmon-listing");
        // A `/proc` of this pid namespace: its `self` is this process (the fixture's is a
        // folder: not a process's).
        std::fs::remove_dir_all(dir.join("proc/self")).unwrap();
        std::os::unix::fs::symlink(std::process::id().to_string(), dir.join("proc/self")).unwrap();
        let loadavg =
            |last: u32| std::fs::write(dir.join("proc/loadavg"), format!("0.1 0.2 0.3 1/90 {last}\n")).unwrap();
        loadavg(500);
        let fields = TOP_FIELDS;
        let pids = |s: &ProcessSnapshot| s.processes.iter().map(|p| p.stat.pid).collect::<Vec<_>>();
        let mut c = ProcessCollector::new(Roots::fixture(&dir));
        // Only pid 1's `stat` is kept: the others are opened by their paths, so that a
        // process removed from the tree reads as exited (a kept descriptor on a plain file
        // would still read it).
        c.keep_open(1);
        assert_eq!(pids(&c.snapshot(fields).unwrap()), [1, 2, 4242]);
        assert_eq!(c.listings(), 1);
        // A new process, but the same last pid: not listed, so not seen yet.
        copy_tree(&dir.join("proc/4242"), &dir.join("proc/4300"));
        std::fs::write(dir.join("proc/4300/stat"), STAT.replace("4242 (", "4300 (")).unwrap();
        assert_eq!(pids(&c.snapshot(fields).unwrap()), [1, 2, 4242]);
        assert_eq!(c.listings(), 1);
        // The last pid moved: listed, and seen.
        loadavg(4300);
        assert_eq!(pids(&c.snapshot(fields).unwrap()), [1, 2, 4242, 4300]);
        assert_eq!(c.listings(), 2);
        // Exited, with no listing: dropped.
        std::fs::remove_dir_all(dir.join("proc/4242")).unwrap();
        assert_eq!(pids(&c.snapshot(fields).unwrap()), [1, 2, 4300]);
        assert_eq!(pids(&c.snapshot(fields).unwrap()), [1, 2, 4300]);
        assert_eq!(c.listings(), 2);
        // No `last pid` in `loadavg`: listed at every pass.
        std::fs::write(dir.join("proc/loadavg"), "0.1 0.2 0.3\n").unwrap();
        c.snapshot(fields).unwrap();
        c.snapshot(fields).unwrap();
        assert_eq!(c.listings(), 4);
        // Not kept: listed at every pass, whatever `loadavg` says.
        loadavg(4300);
        let mut plain = ProcessCollector::new(Roots::fixture(&dir));
        plain.snapshot(fields).unwrap();
        plain.snapshot(fields).unwrap();
        assert_eq!(plain.listings(), 2);
        // Another pid namespace's `/proc` (its `self` is not this process): listed at every
        // pass, as its `loadavg` shows this namespace's last pid.
        std::fs::remove_file(dir.join("proc/self")).unwrap();
        std::os::unix::fs::symlink("1", dir.join("proc/self")).unwrap();
        let mut other = ProcessCollector::new(Roots::fixture(&dir));
        other.keep_open(64);
        other.snapshot(fields).unwrap();
        other.snapshot(fields).unwrap();
        assert_eq!(other.listings(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
