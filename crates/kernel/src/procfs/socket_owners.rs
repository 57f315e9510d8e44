//! Which process holds each socket: the `socket:[<inode>]` links under `/proc/<pid>/fd`.
//!
//! One pass per query builds the whole inode → process map: `/proc` is opened once, each
//! `<pid>/fd` directory is opened relative to it and listed, and each entry is read with
//! `readlinkat` relative to that open directory (no path walk, no `stat` per descriptor).
//! Only a process that holds a wanted socket has its `comm` read. A socket several processes
//! hold (shared across a fork, or passed over a Unix socket) is owned by the one that started
//! first (`start_time` of `stat`, read only for such processes): not the lowest pid, which
//! after the pids wrap at `pid_max` can be a child. A `fd` directory that
//! cannot be opened (another user's process without privilege, a process that exited) is
//! skipped: its sockets have no owner, which the tables report as NULL, never as pid 0.

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::pid;

/// The process that holds a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOwner {
    pub pid: i32,
    /// `comm`, as `system_processes().name`; `None` if it could not be read.
    pub name: Option<String>,
}

/// The result of one scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerMap {
    /// Socket inode → its owner: of the processes holding it (a socket shared across a fork
    /// is held by several), the one that started first; the lowest pid among those that
    /// started in the same clock tick, or when a start time cannot be read.
    pub owners: HashMap<u64, SocketOwner>,
    /// Processes listed.
    pub processes: usize,
    /// Processes whose `fd` directory could not be opened.
    pub unreadable: usize,
    /// Descriptor links read.
    pub fds: usize,
}

/// Scans every process under `proc` for the sockets in `wanted`.
pub fn scan(proc: &Path, wanted: &HashSet<u64>) -> io::Result<OwnerMap> {
    let mut map = OwnerMap::default();
    let pids = pid::list_pids(proc)?;
    map.processes = pids.len();
    if wanted.is_empty() {
        return Ok(map);
    }
    let proc_dir = open_dir(None, &cstring(proc.as_os_str().as_bytes())?)?;
    let mut link = [0u8; 64];
    let mut buf = Vec::with_capacity(512);
    // Inode → the pid holding it that started first so far; pids are listed in ascending
    // order, so the first holder found is the lowest pid.
    let mut holder: HashMap<u64, i32> = HashMap::new();
    // Start times read, only for pids that share a socket with another.
    let mut starts: HashMap<i32, Option<u64>> = HashMap::new();
    for p in pids {
        let fd_path = cstring(format!("{p}/fd").as_bytes())?;
        let Ok(fd_dir) = open_dir(Some(&proc_dir), &fd_path) else {
            map.unreadable += 1;
            continue;
        };
        let mut found = Vec::new();
        for_each_entry(fd_dir, |dir_fd, entry| {
            map.fds += 1;
            // SAFETY: `entry` is NUL-terminated and relative to the open `dir_fd`; at most
            // `link.len()` bytes are written (a longer target is truncated: not a socket).
            let n = unsafe { libc::readlinkat(dir_fd, entry.as_ptr(), link.as_mut_ptr().cast(), link.len()) };
            if n <= 0 {
                return;
            }
            if let Some(inode) = socket_inode(&link[..n as usize])
                && wanted.contains(&inode)
            {
                found.push(inode);
            }
        })?;
        for inode in found {
            let Some(&held_by) = holder.get(&inode) else {
                holder.insert(inode, p);
                continue;
            };
            if held_by == p {
                continue; // the same socket on two descriptors
            }
            let mut start = |pid: i32| {
                *starts
                    .entry(pid)
                    .or_insert_with(|| read_start_time(&proc_dir, pid, &mut buf))
            };
            if let (Some(theirs), Some(mine)) = (start(held_by), start(p))
                && mine < theirs
            {
                holder.insert(inode, p);
            }
        }
    }
    let mut names: HashMap<i32, Option<String>> = HashMap::new();
    for (inode, p) in holder {
        let name = names
            .entry(p)
            .or_insert_with(|| {
                let comm = cstring(format!("{p}/comm").as_bytes()).ok()?;
                read_comm(&proc_dir, &comm, &mut buf)
            })
            .clone();
        map.owners.insert(inode, SocketOwner { pid: p, name });
    }
    Ok(map)
}

/// `start_time` of `<pid>/stat` relative to `proc_dir` (ticks after boot); `None` if the
/// process is gone or the file is malformed.
fn read_start_time(proc_dir: &OwnedFd, pid: i32, buf: &mut Vec<u8>) -> Option<u64> {
    let path = cstring(format!("{pid}/stat").as_bytes()).ok()?;
    read_small(proc_dir, &path, buf, 1024)?;
    pid::PidStat::parse_bytes(buf).map(|s| s.start_time)
}

/// `socket:[12345]` → 12345.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(io::Error::other)
}

/// Opens the directory `path`, relative to `at` when given.
fn open_dir(at: Option<&OwnedFd>, path: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: `path` is NUL-terminated; `at` is an open directory; the result is owned below.
    let fd = unsafe {
        match at {
            Some(dir) => libc::openat(dir.as_raw_fd(), path.as_ptr(), flags),
            None => libc::open(path.as_ptr(), flags),
        }
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Calls `f(dir_fd, name)` for each entry of the open directory `dir` but `.` and `..`.
fn for_each_entry(dir: OwnedFd, mut f: impl FnMut(libc::c_int, &CStr)) -> io::Result<()> {
    let raw = dir.as_raw_fd();
    // SAFETY: `raw` is an open directory; on success fdopendir owns it (closed by closedir),
    // so ownership is released from `dir` only then.
    let stream = unsafe { libc::fdopendir(raw) };
    if stream.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(dir);
    loop {
        // SAFETY: `stream` is open until closedir below; the entry is valid until the next readdir.
        let ent = unsafe { libc::readdir(stream) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated inside the entry.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            // SAFETY: dirfd of an open stream.
            f(unsafe { libc::dirfd(stream) }, name);
        }
    }
    // SAFETY: `stream` came from fdopendir and is closed once.
    unsafe { libc::closedir(stream) };
    Ok(())
}

/// The `comm` file relative to `proc_dir`, without its newline.
fn read_comm(proc_dir: &OwnedFd, path: &CStr, buf: &mut Vec<u8>) -> Option<String> {
    read_small(proc_dir, path, buf, 64)?;
    let text = buf.strip_suffix(b"\n").unwrap_or(buf);
    Some(String::from_utf8_lossy(text).into_owned())
}

/// Reads at most `max` bytes of the file `path` relative to `proc_dir` into `buf`, with one
/// `read` (a `/proc` file this small is produced whole by the first read).
fn read_small(proc_dir: &OwnedFd, path: &CStr, buf: &mut Vec<u8>, max: usize) -> Option<()> {
    // SAFETY: `path` is NUL-terminated and relative to the open `proc_dir`.
    let fd = unsafe { libc::openat(proc_dir.as_raw_fd(), path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    buf.clear();
    buf.resize(max, 0);
    // SAFETY: reads at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::read(file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::Roots;

    #[test]
    fn parses_socket_links_only() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[12"), None);
    }

    #[test]
    fn fixture_owners_first_started_and_unreadable() {
        let roots = Roots::test_fixture("sockets");
        let wanted: HashSet<u64> = [1001, 1002, 1003, 2001, 4001, 9999].into_iter().collect();
        let m = scan(&roots.proc, &wanted).unwrap();
        // 100 (started at tick 1000) holds 1001 and 2001; 200 (tick 2000) shares 1001 after a
        // fork and holds 1002; 50 is a child forked after the pids wrapped (tick 9000) and
        // shares 2001; 60 has no readable `stat` and shares 4001 with 200; 300 has no readable fd
        // directory.
        assert_eq!(m.processes, 5);
        assert_eq!(m.unreadable, 1);
        let own = |i: u64| m.owners.get(&i).map(|o| (o.pid, o.name.clone().unwrap_or_default()));
        assert_eq!(
            own(1001),
            Some((100, "nginx".into())),
            "the first started, also the lowest pid"
        );
        assert_eq!(
            own(2001),
            Some((100, "nginx".into())),
            "the first started, not the lower pid 50"
        );
        assert_eq!(own(1002), Some((200, "worker one".into())));
        assert_eq!(own(4001), Some((60, "no stat".into())), "no start time: the lowest pid");
        assert_eq!(own(1003), None, "held by nobody readable");
        assert_eq!(own(9999), None);
        assert!(scan(&roots.proc, &HashSet::new()).unwrap().owners.is_empty());
    }

    #[test]
    fn live_own_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let inode = crate::procfs::net_sockets::parse_inet(&text, crate::procfs::net_sockets::Protocol::Tcp)
            .into_iter()
            .find(|s| s.local_port == port && s.state == crate::procfs::net_sockets::TCP_LISTEN)
            .expect("own listener in /proc/net/tcp")
            .inode;
        let m = scan(Path::new("/proc"), &[inode].into_iter().collect()).unwrap();
        assert_eq!(m.owners[&inode].pid, std::process::id() as i32);
        assert!(m.fds > 0);
    }
}
