//! Sending a signal to a process a screen showed (`sysmon top`'s `k`), and never to another
//! one that took its pid since.
//!
//! A pid names a process only while it lives: after it exits the kernel hands the number to
//! the next fork, so `kill(pid)` a moment after reading `/proc` may reach a stranger (top and
//! htop take that chance). Here the process is pinned first (`pidfd_open`: a descriptor that
//! stays with that process, whatever its pid comes to name), then its start time in
//! `/proc/<pid>/stat` is compared with the one shown, and the signal goes through the
//! descriptor (`pidfd_send_signal`). Where the stat read shows the start time shown, the
//! pinned process is that one: it held the pid when it was pinned, and the one shown held it
//! from its start (before the screen was drawn) until at least the read, so they are the
//! same. On a kernel before 5.3 (no pidfd) the check is made and `kill` follows it.

use std::fmt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::procfs::Roots;
use crate::procfs::pid::PidStat;
use crate::readers::processes::start_time;
use crate::time::Timestamp;

/// Why no signal was sent.
#[derive(Debug)]
pub enum SignalError {
    /// Not a process's pid (0 and negative numbers name process groups to `kill`).
    NotAPid(i64),
    /// Not a signal number (1 to 64).
    NotASignal(i32),
    /// No process has this pid now.
    Gone(i32),
    /// The pid is another process's now: started at this time, not at the one shown.
    Reused {
        pid: i32,
        started: Option<Timestamp>,
    },
    /// The kernel refused: another user's process (`EPERM`).
    NotPermitted(i32),
    Io(i32, io::Error),
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::NotAPid(p) => write!(f, "{p} is not a process's pid (a pid is 1 or more)"),
            SignalError::NotASignal(s) => write!(f, "{s} is not a signal (1 to 64)"),
            SignalError::Gone(p) => write!(f, "no process {p}: it has exited"),
            SignalError::Reused { pid, .. } => write!(
                f,
                "pid {pid} is another process's now (the one shown has exited): nothing sent"
            ),
            SignalError::NotPermitted(p) => write!(f, "not permitted to signal {p} (another user's process)"),
            SignalError::Io(p, e) => write!(f, "signalling {p}: {e}"),
        }
    }
}

impl std::error::Error for SignalError {}

/// Sends `signal` to process `pid` of the `/proc` at `roots` (that of this pid namespace),
/// if it is the process that started at `started` (where given: the start time shown; `None`
/// sends to whichever process has the pid now). `boot_time` is the `btime` the start time
/// was worked out from ([`ProcessCollector::boot_time`](crate::readers::processes::ProcessCollector::boot_time)).
pub fn signal_process(
    roots: &Roots,
    boot_time: Option<u64>,
    pid: i64,
    started: Option<Timestamp>,
    signal: i32,
) -> Result<(), SignalError> {
    let Ok(pid) = i32::try_from(pid) else {
        return Err(SignalError::NotAPid(pid));
    };
    if pid <= 0 {
        return Err(SignalError::NotAPid(pid.into()));
    }
    if !(1..=64).contains(&signal) {
        return Err(SignalError::NotASignal(signal));
    }
    let errno = |e: io::Error| match e.raw_os_error() {
        Some(libc::ESRCH) => SignalError::Gone(pid),
        Some(libc::EPERM) => SignalError::NotPermitted(pid),
        _ => SignalError::Io(pid, e),
    };
    let pinned = pidfd_open(pid).map_err(errno)?;
    if let Some(shown) = started {
        let now = std::fs::read(roots.proc(&format!("{pid}/stat")))
            .ok()
            .and_then(|b| PidStat::parse_bytes(&b))
            .ok_or(SignalError::Gone(pid))?;
        let now = boot_time.map(|b| start_time(b, now.start_time));
        if now != Some(shown) {
            return Err(SignalError::Reused { pid, started: now });
        }
    }
    match &pinned {
        // SAFETY: `pidfd_send_signal(pidfd, sig, info, flags)` with a null `siginfo_t` (the
        // kernel fills one as `kill` would) takes no pointer the kernel writes through; the
        // descriptor is open for the whole call (borrowed from `pinned`).
        Some(fd) => match unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                std::os::fd::AsRawFd::as_raw_fd(fd),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        } {
            0 => Ok(()),
            _ => Err(errno(io::Error::last_os_error())),
        },
        // SAFETY: `kill` takes two integers; `pid` is positive (one process, not a group).
        None => match unsafe { libc::kill(pid, signal) } {
            0 => Ok(()),
            _ => Err(errno(io::Error::last_os_error())),
        },
    }
}

/// A descriptor pinned to process `pid`, or `None` where the kernel has no `pidfd_open` (before
/// 5.3, or a seccomp filter that refuses it).
fn pidfd_open(pid: i32) -> io::Result<Option<OwnedFd>> {
    // SAFETY: `pidfd_open(pid, flags)` takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOSYS) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: the descriptor was just returned by the kernel and nothing else owns it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readers::processes::{ProcessCollector, ProcessFields};
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    fn started_of(c: &mut ProcessCollector, pid: i32) -> Timestamp {
        let snap = c.snapshot(ProcessFields::default()).unwrap();
        let p = snap.processes.iter().find(|p| p.stat.pid == pid).unwrap();
        start_time(snap.boot_time.unwrap(), p.stat.start_time)
    }

    /// Waits (with a deadline) for the child to exit; its signal.
    fn exit_signal(child: &mut Child) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return status.signal();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    #[test]
    fn the_process_shown_gets_the_signal_and_another_start_time_gets_none() {
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let pid = child.id() as i32;
        let roots = Roots::default();
        let mut c = ProcessCollector::new(roots.clone());
        let started = started_of(&mut c, pid);
        // A start time a second off: as if the pid were taken by a new process since.
        let other = Timestamp::from_micros(started.micros - 1_000_000);
        let e = signal_process(&roots, c.boot_time(), pid.into(), Some(other), libc::SIGTERM).unwrap_err();
        assert!(
            matches!(e, SignalError::Reused { started: Some(s), .. } if s == started),
            "{e:?}"
        );
        assert!(e.to_string().contains("another process's now"), "{e}");
        assert!(child.try_wait().unwrap().is_none(), "nothing was sent");
        signal_process(&roots, c.boot_time(), pid.into(), Some(started), libc::SIGTERM).unwrap();
        assert_eq!(exit_signal(&mut child), Some(libc::SIGTERM));
        // Reaped: the pid names nothing now (or, if already reused, another process).
        let e = signal_process(&roots, c.boot_time(), pid.into(), Some(started), libc::SIGTERM).unwrap_err();
        assert!(matches!(e, SignalError::Gone(_) | SignalError::Reused { .. }), "{e:?}");
    }

    #[test]
    fn groups_and_bad_signals_are_refused() {
        let roots = Roots::default();
        for pid in [0, -1, -42, i64::from(i32::MAX) + 1] {
            let e = signal_process(&roots, None, pid, None, libc::SIGTERM).unwrap_err();
            assert!(matches!(e, SignalError::NotAPid(p) if p == pid), "{e:?}");
            assert!(e.to_string().contains("not a process's pid"), "{e}");
        }
        let me = i64::from(std::process::id());
        for sig in [0, -1, 65] {
            let e = signal_process(&roots, None, me, None, sig).unwrap_err();
            assert!(matches!(e, SignalError::NotASignal(s) if s == sig), "{e:?}");
        }
    }
}
