//! One pass over `/proc/[pid]/`: the processes of `system_processes()` as the kernel reports
//! them, reading only the optional files the query's columns need ([`ProcessFields`]).

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
        for &p in &pids {
            if let Some(info) = self.read_one(&proc, p, fields) {
                processes.push(info);
            }
        }
        self.pids = pids;
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
    fn read_by_paths(&mut self, proc: &ProcDir, pid: i32, fields: ProcessFields) -> Option<ProcessInfo> {
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
            match self.read_file(proc, pid, b"/io") {
                Ok(()) => info.io = pid::parse_io(&String::from_utf8_lossy(&self.buf)),
                // Gone meanwhile (not merely not permitted): no row, as the directory's way.
                Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
                    self.read_file(proc, pid, b"/stat").ok()?;
                }
                Err(_) => {}
            }
        }
        Some(info)
    }

    /// Reads one process; `None` if it exited (or its `stat` is unreadable or malformed).
    fn read_one(&mut self, proc: &ProcDir, pid: i32, fields: ProcessFields) -> Option<ProcessInfo> {
        let only_seq_files = ProcessFields {
            statm: fields.statm,
            io: fields.io,
            ..ProcessFields::default()
        } == fields;
        if only_seq_files {
            return self.read_by_paths(proc, pid, fields);
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
