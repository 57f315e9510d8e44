//! `/proc/[pid]/*`: one process's files (`stat`, `status`, `io`, `cgroup`, `cmdline`).
//!
//! Parsers take the file's text; [`PidDir`] opens `/proc/[pid]` once and reads its files
//! relative to that descriptor (`openat`), which saves a path walk per file and keeps every
//! file of one row from the same process even if the pid is reused meanwhile.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `PF_KTHREAD` in the `flags` field of `stat`: the task is a kernel thread.
pub const PF_KTHREAD: u64 = 0x0020_0000;

/// The fields of `/proc/[pid]/stat` sysmon reports. Times in clock ticks, memory in pages
/// (`rss`) or bytes (`vsize`), `start_time` in ticks after boot.
///
/// `rss` is kept for completeness but not reported: since Linux 6.2 `stat` reads the per-CPU
/// RSS counters without summing them (an approximation, found up to 17% low), while `statm`
/// and `status` sum them, as `ps`, `top` and psutil read it. See [`PidStatm`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PidStat {
    pub pid: i32,
    /// `comm`: the executable name, at most 15 bytes, as the kernel keeps it.
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub flags: u64,
    pub minflt: u64,
    pub majflt: u64,
    pub utime: u64,
    pub stime: u64,
    pub priority: i64,
    pub nice: i64,
    pub num_threads: i64,
    pub start_time: u64,
    pub vsize: u64,
    pub rss: u64,
}

impl PidStat {
    /// Parses `stat` given as text; see [`parse_bytes`](Self::parse_bytes).
    pub fn parse(text: &str) -> Option<PidStat> {
        Self::parse_bytes(text.as_bytes())
    }

    /// Parses the single line of `stat` as the kernel wrote it. `comm` is whatever bytes the
    /// process set (up to 15, cut anywhere, even inside a UTF-8 character) and may hold spaces,
    /// parentheses and newlines, so it runs from the first `(` to the last `)` and is decoded
    /// lossily (bytes that are not UTF-8 become U+FFFD, where `ps` shows `?`): a name never
    /// makes a process unreadable. `None` if truncated or malformed.
    pub fn parse_bytes(b: &[u8]) -> Option<PidStat> {
        let open = b.iter().position(|&c| c == b'(')?;
        let close = b.iter().rposition(|&c| c == b')')?;
        if close < open {
            return None;
        }
        let pid = std::str::from_utf8(&b[..open]).ok()?.trim().parse().ok()?;
        let comm = String::from_utf8_lossy(&b[open + 1..close]).into_owned();
        // After the name the kernel writes only ASCII numbers and the state letter.
        let rest = std::str::from_utf8(&b[close + 1..]).ok()?;
        // Fields from `state` on; f[0] is field 3 of proc(5). Only the first 22 are needed.
        let mut f = [""; 22];
        let mut fields = rest.split_ascii_whitespace();
        for slot in f.iter_mut() {
            *slot = fields.next()?;
        }
        let u = |i: usize| f[i].parse::<u64>().ok();
        let i = |i: usize| f[i].parse::<i64>().ok();
        Some(PidStat {
            pid,
            comm,
            state: f[0].chars().next()?,
            ppid: f[1].parse().ok()?,
            flags: u(6)?,
            minflt: u(7)?,
            majflt: u(9)?,
            utime: u(11)?,
            stime: u(12)?,
            priority: i(15)?,
            nice: i(16)?,
            num_threads: i(17)?,
            start_time: u(19)?,
            vsize: u(20)?,
            rss: u(21)?,
        })
    }

    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// The first three fields of `/proc/[pid]/statm`, in pages: the exact memory counters
/// (`resident` equals `VmRSS` of `status`; `size` equals `VmSize` and `vsize` of `stat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PidStatm {
    /// Total program size (`VmSize`).
    pub size: u64,
    /// Resident set size (`VmRSS`: anonymous + file + shared memory pages).
    pub resident: u64,
    /// Resident pages backed by files or shared memory (`RssFile` + `RssShmem`).
    pub shared: u64,
}

/// Parses `statm` (`size resident shared text lib data dt`, in pages); `None` if it has
/// fewer than three numbers.
pub fn parse_statm(text: &str) -> Option<PidStatm> {
    let mut f = text.split_ascii_whitespace().map(|t| t.parse::<u64>().ok());
    Some(PidStatm {
        size: f.next()??,
        resident: f.next()??,
        shared: f.next()??,
    })
}

/// The effective uid of the `Uid:` line of `/proc/[pid]/status` (real, effective, saved, fs).
pub fn parse_status_euid(text: &str) -> Option<u32> {
    let line = text.lines().find(|l| l.starts_with("Uid:"))?;
    line["Uid:".len()..].split_ascii_whitespace().nth(1)?.parse().ok()
}

/// `read_bytes` and `write_bytes` of `/proc/[pid]/io`: bytes the process caused to be
/// fetched from or sent to storage.
pub fn parse_io(text: &str) -> Option<(u64, u64)> {
    let mut read = None;
    let mut write = None;
    for line in text.lines() {
        match line.split_once(':') {
            Some(("read_bytes", v)) => read = v.trim().parse().ok(),
            Some(("write_bytes", v)) => write = v.trim().parse().ok(),
            _ => {}
        }
    }
    Some((read?, write?))
}

/// The arguments of `/proc/[pid]/cmdline` (NUL-separated, usually NUL-terminated).
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The cgroup a process is in, from `/proc/[pid]/cgroup` (`id:controllers:path` lines): the
/// cgroup v2 path (`0::/...`) unless it is the root while a v1 hierarchy places the process
/// deeper (a hybrid host), then the v1 `memory` path, else the first deeper v1 path.
pub fn parse_cgroup(text: &str) -> Option<String> {
    let mut v2 = None;
    let mut memory = None;
    let mut first_deep = None;
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if controllers.is_empty() {
            v2 = Some(path);
        } else if path != "/" {
            if controllers.split(',').any(|c| c == "memory") {
                memory = Some(path);
            }
            first_deep.get_or_insert(path);
        }
    }
    match v2 {
        Some(p) if p != "/" => Some(p.to_string()),
        _ => memory.or(first_deep).or(v2).map(str::to_string),
    }
}

/// Reads `file` to its end into `buf` (whose contents are kept). With `seq_file`, a read
/// shorter than asked for is taken as the end: the kernel's `seq_file` files that print one
/// record (`/proc/[pid]/stat`, whose line is at most about 1 KiB) hand all of it to the first
/// read that has room for it, so the read that would return 0 is saved. With `from_start`,
/// each read is a `pread` at the file's offset 0 plus what it read so far, whatever the
/// descriptor's own offset (see [`reread_seq_file`]); else a `read` from where that offset is.
fn read_to_end(file: &OwnedFd, buf: &mut Vec<u8>, seq_file: bool, from_start: bool) -> io::Result<()> {
    if buf.capacity() < 1024 {
        buf.reserve(1024);
    }
    let kept = buf.len();
    loop {
        let len = buf.len();
        let spare = buf.capacity() - len;
        if spare == 0 {
            buf.reserve(buf.capacity());
            continue;
        }
        let into = buf.as_mut_ptr().wrapping_add(len).cast();
        let n = match from_start {
            // SAFETY: reads at most `spare` bytes into the vector's spare capacity, at the
            // file's offset of what this call has read so far.
            true => unsafe { libc::pread(file.as_raw_fd(), into, spare, (len - kept) as libc::off_t) },
            // SAFETY: reads at most `spare` bytes into the vector's spare capacity.
            false => unsafe { libc::read(file.as_raw_fd(), into, spare) },
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(());
        }
        // SAFETY: the kernel initialised `n` more bytes.
        unsafe { buf.set_len(len + n as usize) };
        if seq_file && (n as usize) < spare {
            return Ok(());
        }
    }
}

/// Reads the one-record `seq_file` at `path` (such as `/proc/[pid]/stat`) into `buf` (cleared
/// first) with one `open` and, as a rule, one `read` (see [`read_to_end`]).
pub fn read_seq_file(path: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    // SAFETY: `path` is NUL-terminated; the descriptor is owned (and closed) below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    read_to_end(&file, buf, true, false)
}

/// [`read_seq_file`] of `path` relative to the open directory `dir` (`[pid]/stat` in
/// [`ProcDir`]): the walk from `/` to the directory is saved.
pub fn read_seq_file_at(dir: &ProcDir, path: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
    open_seq_file_at(dir, path, buf).map(drop)
}

/// [`read_seq_file_at`], handing back the open descriptor, which [`reread_seq_file`] reads
/// again later.
pub fn open_seq_file_at(dir: &ProcDir, path: &CStr, buf: &mut Vec<u8>) -> io::Result<OwnedFd> {
    buf.clear();
    // SAFETY: `path` is NUL-terminated; `dir.fd()` is open while `dir` lives; the descriptor
    // returned is owned below.
    let fd = unsafe { libc::openat(dir.fd(), path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    read_to_end(&file, buf, true, false)?;
    Ok(file)
}

/// Reads the one-record `seq_file` open on `file` again, from its start, into `buf` (cleared
/// first): a `seq_file` read at offset 0 prints the record anew (the kernel resets its
/// iterator), so a file kept open reads the process's current state with one `pread` and no
/// path walk. The kernel checks access at every read of `stat`, `statm` and `io`, as at an
/// open; a process that has exited reads as `ESRCH`, even where its pid now names another.
pub fn reread_seq_file(file: &OwnedFd, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    read_to_end(file, buf, true, true)
}

/// An open `/proc/[pid]` directory.
#[derive(Debug)]
pub struct PidDir {
    fd: OwnedFd,
}

impl PidDir {
    pub fn open(path: &Path) -> io::Result<PidDir> {
        let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
        Self::open_c(&c)
    }

    /// [`Self::open`] of a path given as a C string (no copy of it made).
    pub fn open_c(path: &CStr) -> io::Result<PidDir> {
        // SAFETY: `path` is NUL-terminated; the returned descriptor is owned by `PidDir`.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(PidDir { fd })
    }

    /// [`Self::open`] of `path` relative to the open directory `dir` (`[pid]` in [`ProcDir`]).
    pub fn open_at(dir: &ProcDir, path: &CStr) -> io::Result<PidDir> {
        // SAFETY: `path` is NUL-terminated; `dir.fd()` is open while `dir` lives; the returned
        // descriptor is owned by `PidDir`.
        let fd = unsafe {
            libc::openat(
                dir.fd(),
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(PidDir { fd })
    }

    /// Reads the file `name` of the directory into `buf` (cleared first).
    pub fn read(&self, name: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
        self.read_file(name, buf, false)
    }

    /// [`Self::read`] of a one-record `seq_file` (`stat`, `statm`, `io`): as a rule one `read`,
    /// the one that would return 0 saved (see [`read_to_end`]).
    pub fn read_seq(&self, name: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
        self.read_file(name, buf, true)
    }

    fn read_file(&self, name: &CStr, buf: &mut Vec<u8>, seq_file: bool) -> io::Result<()> {
        buf.clear();
        // SAFETY: `name` is NUL-terminated and relative; the descriptor is closed below.
        let fd = unsafe { libc::openat(self.fd.as_raw_fd(), name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        read_to_end(&file, buf, seq_file, false)
    }

    /// The target of the symlink `name` (e.g. `exe`).
    pub fn read_link(&self, name: &CStr) -> io::Result<String> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: `name` is NUL-terminated; at most `buf.len()` bytes are written.
        let n = unsafe { libc::readlinkat(self.fd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The number of entries of the subdirectory `name` (e.g. `fd`), `.` and `..` not counted.
    pub fn count_entries(&self, name: &CStr) -> io::Result<u64> {
        // SAFETY: as in `read`; the descriptor is handed to fdopendir, which owns it after.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is an open directory; closedir closes it.
        unsafe {
            let dir = libc::fdopendir(fd);
            if dir.is_null() {
                let e = io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            let mut n = 0u64;
            loop {
                let ent = libc::readdir(dir);
                if ent.is_null() {
                    break;
                }
                let name = CStr::from_ptr((*ent).d_name.as_ptr());
                if name.to_bytes() != b"." && name.to_bytes() != b".." {
                    n += 1;
                }
            }
            libc::closedir(dir);
            Ok(n)
        }
    }
}

/// The pids listed in `proc` (its all-digit entries): processes, not threads, in order.
///
/// Read with `readdir` into `out` (cleared first), the names parsed where they lie: no
/// allocation per entry (`std::fs::read_dir` makes a `CString` and an `Arc` clone of each).
pub fn list_pids_into(proc: &Path, out: &mut Vec<i32>) -> io::Result<()> {
    out.clear();
    ProcDir::open(proc)?.pids_into(out)
}

/// The open `/proc` (or a fixture's root) of one pass over the processes: lists the pids, and
/// its descriptor anchors the opens of their files ([`read_seq_file_at`], [`PidDir::open_at`]),
/// which then walk `[pid]/stat` rather than `/proc/[pid]/stat` from `/`. Held for one pass
/// only, so a `/proc` mounted again later is the one read next time.
#[derive(Debug)]
pub struct ProcDir(*mut libc::DIR);

// SAFETY: a directory stream belongs to no thread: the `ProcDir` owns it alone, and every use
// of it is through the one `ProcDir` (`readdir` through `&mut self`), so moving it to another
// thread moves the only way to it. It is not `Sync`: `&self` gives only its descriptor.
unsafe impl Send for ProcDir {}

impl ProcDir {
    pub fn open(proc: &Path) -> io::Result<ProcDir> {
        let c = CString::new(proc.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: `c` is NUL-terminated; the stream is owned by the `ProcDir`.
        let dir = unsafe { libc::opendir(c.as_ptr()) };
        if dir.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(ProcDir(dir))
    }

    /// The stream's descriptor, open while `self` lives.
    fn fd(&self) -> libc::c_int {
        // SAFETY: `self.0` is an open stream.
        unsafe { libc::dirfd(self.0) }
    }

    /// The pids listed, in order, into `out` (cleared first), read from the directory's start.
    pub fn pids_into(&mut self, out: &mut Vec<i32>) -> io::Result<()> {
        out.clear();
        // SAFETY: `self.0` is an open stream.
        unsafe { libc::rewinddir(self.0) };
        loop {
            // `readdir` returns NULL both at the end and on an error; only errno tells them
            // apart.
            // SAFETY: errno is this thread's own.
            unsafe { *libc::__errno_location() = 0 };
            // SAFETY: `self.0` is an open stream; the entry it returns lives until the next
            // call, and `&mut self` keeps any other from being made meanwhile.
            let ent = unsafe { libc::readdir(self.0) };
            if ent.is_null() {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(0) {
                    break;
                }
                return Err(e);
            }
            // SAFETY: `d_name` of a returned entry is NUL-terminated, and read before the next
            // `readdir` on the stream.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            if let Some(pid) = parse_pid(OsStr::from_bytes(name.to_bytes())) {
                out.push(pid);
            }
        }
        out.sort_unstable();
        Ok(())
    }
}

impl Drop for ProcDir {
    fn drop(&mut self) {
        // SAFETY: the stream was opened by `open`, is closed only here, and no entry of it
        // outlives the `ProcDir`.
        unsafe { libc::closedir(self.0) };
    }
}

/// [`list_pids_into`] a new vector.
pub fn list_pids(proc: &Path) -> io::Result<Vec<i32>> {
    let mut out = Vec::with_capacity(512);
    list_pids_into(proc, &mut out)?;
    Ok(out)
}

fn parse_pid(name: &OsStr) -> Option<i32> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for &d in b {
        n = n * 10 + i64::from(d - b'0');
    }
    i32::try_from(n).ok().filter(|&p| p > 0)
}

/// Appends the decimal digits of `n` to `out` (a path being built), without formatting.
pub fn push_decimal(out: &mut Vec<u8>, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_descriptor_reads_from_the_start_every_time() {
        let dir = std::env::temp_dir().join(format!("sysmon-reread-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("7")).unwrap();
        // Longer than the first read (1 KiB): read on at the offsets that follow.
        let long: String = (0..900).map(|i| format!("{i} ")).collect();
        std::fs::write(dir.join("7/stat"), &long).unwrap();
        let proc = ProcDir::open(&dir).unwrap();
        let mut buf = Vec::new();
        let fd = open_seq_file_at(&proc, c"7/stat", &mut buf).unwrap();
        assert_eq!(buf, long.as_bytes());
        // The descriptor's own offset is at the end now: a reread still starts at 0.
        for _ in 0..2 {
            reread_seq_file(&fd, &mut buf).unwrap();
            assert_eq!(buf, long.as_bytes());
        }
        std::fs::write(dir.join("7/stat"), "short\n").unwrap();
        reread_seq_file(&fd, &mut buf).unwrap();
        assert_eq!(
            buf, b"short\n",
            "the file as it is now, with nothing left of the longer one"
        );
        assert!(open_seq_file_at(&proc, c"8/stat", &mut buf).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn seq_file_reads_are_whole() {
        let mut buf = Vec::new();
        read_seq_file(c"/proc/self/stat", &mut buf).unwrap();
        let line = String::from_utf8(buf.clone()).unwrap();
        assert!(
            line.starts_with(&format!("{} (", std::process::id())) && line.ends_with('\n'),
            "{line}"
        );
        // A regular file longer than the first read is read to its end all the same.
        let path = std::env::temp_dir().join(format!("sysmon-seq-{}", std::process::id()));
        let text: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&path, &text).unwrap();
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        read_seq_file(&c, &mut buf).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(buf, text);
        assert!(read_seq_file(c"/proc/self/no-such-file", &mut buf).is_err());
    }

    const STAT: &str = "4242 (my (weird) name) S 1 4242 4242 0 -1 4194560 1200 0 3 0 250 50 0 0 20 0 4 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_with_parens_and_spaces_in_name() {
        let s = PidStat::parse(STAT).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, "my (weird) name");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!((s.minflt, s.majflt), (1200, 3));
        assert_eq!((s.utime, s.stime), (250, 50));
        assert_eq!((s.priority, s.nice, s.num_threads), (20, 0, 4));
        assert_eq!(s.start_time, 12345);
        assert_eq!((s.vsize, s.rss), (104857600, 2560));
        assert!(!s.is_kernel_thread());
        let k = PidStat::parse("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 18446744073709551615")
            .unwrap();
        assert!(k.is_kernel_thread());
    }

    /// Names as the kernel keeps them: any bytes but NUL, cut at 15 bytes wherever that falls.
    #[test]
    fn stat_names_are_bytes_decoded_lossily() {
        let tail = b" S 1 4242 4242 0 -1 4194560 1200 0 3 0 250 50 0 0 20 0 4 0 12345 104857600 2560 0 0";
        let cases: [(&[u8], &str); 8] = [
            (b"xxxxxxxxxxxxxx\xc3", "xxxxxxxxxxxxxx\u{fffd}"),
            (b"xxxxxxxxxxxxx\xc3\xa9", "xxxxxxxxxxxxx\u{e9}"),
            (b"\xff", "\u{fffd}"),
            (b"a\nb\n", "a\nb\n"),
            (b"\ttab\t", "\ttab\t"),
            (b") R 1 2", ") R 1 2"),
            (b"", ""),
            (b"((", "(("),
        ];
        for (name, want) in cases {
            let mut line = b"4242 (".to_vec();
            line.extend_from_slice(name);
            line.push(b')');
            line.extend_from_slice(tail);
            let s = PidStat::parse_bytes(&line).unwrap_or_else(|| panic!("{name:?} not parsed"));
            assert_eq!(s.comm, want);
            assert_eq!((s.pid, s.state, s.ppid, s.num_threads, s.rss), (4242, 'S', 1, 4, 2560));
        }
        // Bytes that are not UTF-8 outside the name are malformed, not a name.
        assert_eq!(
            PidStat::parse_bytes(b"42\xff (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 1 2"),
            None
        );
        assert_eq!(
            PidStat::parse_bytes(b"42 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 1 \xff"),
            None
        );
    }

    #[test]
    fn statm_is_pages() {
        let m = parse_statm("41510 2930 1800 30 0 44480 0\n").unwrap();
        assert_eq!((m.size, m.resident, m.shared), (41510, 2930, 1800));
        assert_eq!(parse_statm("1 2 3").map(|m| m.shared), Some(3));
        assert_eq!(parse_statm("1 2"), None);
        assert_eq!(parse_statm("1 x 3 0 0 0 0"), None);
        assert_eq!(parse_statm(""), None);
    }

    #[test]
    fn truncated_stat_is_none() {
        assert_eq!(PidStat::parse(""), None);
        assert_eq!(PidStat::parse("12 (x) S 1 2 3"), None);
        assert_eq!(PidStat::parse(&STAT[..60]), None);
        assert_eq!(PidStat::parse("12 x) S (1"), None);
        assert_eq!(
            PidStat::parse("abc (x) S 1 4242 4242 0 -1 4194560 1200 0 3 0 250 50 0 0 20 0 4 0 12345 1 2"),
            None
        );
    }

    #[test]
    fn status_io_cmdline_cgroup() {
        assert_eq!(
            parse_status_euid("Name:\tx\nUid:\t1000\t1001\t1000\t1000\nGid:\t0\n"),
            Some(1001)
        );
        assert_eq!(parse_status_euid("Name:\tx\nUid:\t1000\n"), None);
        assert_eq!(
            parse_io("rchar: 1\nread_bytes: 4096\nwrite_bytes: 8192\n"),
            Some((4096, 8192))
        );
        assert_eq!(parse_io("rchar: 1\nread_bytes: 4096\n"), None);
        assert_eq!(
            parse_cmdline(b"python3\0-c\0print('a b')\0"),
            ["python3", "-c", "print('a b')"]
        );
        assert_eq!(parse_cmdline(b"no-terminator"), ["no-terminator"]);
        assert_eq!(parse_cmdline(b"caf\xc3\xa9\0\xff\0"), ["café", "\u{fffd}"]);
        assert!(parse_cmdline(b"").is_empty());
        assert_eq!(
            parse_cgroup("0::/user.slice/session-1.scope\n").as_deref(),
            Some("/user.slice/session-1.scope")
        );
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";
        assert_eq!(parse_cgroup(hybrid).as_deref(), Some("/process_api/abc"));
        assert_eq!(parse_cgroup("3:cpu,cpuacct:/docker/x\n").as_deref(), Some("/docker/x"));
        assert_eq!(parse_cgroup("0::/\n").as_deref(), Some("/"));
        assert_eq!(parse_cgroup("garbage\n"), None);
        assert_eq!(parse_cgroup("0::/with:colon\n").as_deref(), Some("/with:colon"));
    }

    #[test]
    fn reads_own_process() {
        let d = PidDir::open(Path::new("/proc/self")).unwrap();
        let mut buf = Vec::new();
        d.read(c"stat", &mut buf).unwrap();
        let s = PidStat::parse(std::str::from_utf8(&buf).unwrap()).unwrap();
        assert_eq!(s.pid, std::process::id() as i32);
        assert!(d.read_link(c"exe").unwrap().starts_with('/'));
        assert!(d.count_entries(c"fd").unwrap() >= 3);
        assert!(d.read(c"no-such-file", &mut buf).is_err());
        d.read(c"statm", &mut buf).unwrap();
        assert!(parse_statm(std::str::from_utf8(&buf).unwrap()).unwrap().resident > 0);
        assert!(list_pids(Path::new("/proc")).unwrap().contains(&s.pid));
    }

    #[test]
    fn pids_are_the_all_digit_entries_in_order() {
        let root = std::env::temp_dir().join(format!("sysmon-pids-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for name in [
            "42",
            "7",
            "1000000",
            "self",
            "0",
            "12a",
            "99999999999",
            "2147483648",
            "2147483647",
        ] {
            std::fs::create_dir_all(root.join(name)).unwrap();
        }
        std::fs::write(root.join("123"), "a file named like a pid is listed too").unwrap();
        let mut out = vec![5, 6];
        list_pids_into(&root, &mut out).unwrap();
        assert_eq!(out, [7, 42, 123, 1_000_000, 2_147_483_647]);
        // A second listing of the same stream starts again from the top.
        let mut dir = ProcDir::open(&root).unwrap();
        dir.pids_into(&mut out).unwrap();
        std::fs::create_dir(root.join("9")).unwrap();
        dir.pids_into(&mut out).unwrap();
        assert_eq!(out, [7, 9, 42, 123, 1_000_000, 2_147_483_647]);
        let mut buf = Vec::new();
        std::fs::write(root.join("42/stat"), "42 (x) S\n").unwrap();
        read_seq_file_at(&dir, c"42/stat", &mut buf).unwrap();
        assert_eq!(buf, b"42 (x) S\n");
        assert!(PidDir::open_at(&dir, c"42").unwrap().read(c"stat", &mut buf).is_ok());
        assert!(PidDir::open_at(&dir, c"8").is_err());
        drop(dir);
        std::fs::remove_dir_all(&root).unwrap();
        let err = list_pids_into(&root, &mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(out.is_empty(), "cleared before the listing");
    }

    #[test]
    fn decimal_digits() {
        for n in [0u32, 1, 9, 10, 99, 100, 4_194_304, u32::MAX] {
            let mut out = b"/proc/".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("/proc/{n}").into_bytes());
        }
    }
}
