//! Notice of network link changes: a `NETLINK_ROUTE` socket subscribed to `RTMGRP_LINK`, on
//! which the kernel posts an `RTM_NEWLINK`/`RTM_DELLINK` message whenever an interface of this
//! network namespace changes its operational state, MTU, address, flags or carrier, appears or
//! goes.
//!
//! The recorder makes a `system_networks` row for every interface at every tick, and reading
//! each interface's four sysfs link files (`operstate`, `mtu`, `address`, `speed`) was the
//! largest part of its writer thread's per-tick work (`docs/recorder.md`, round three). With
//! this socket the files are read again only after the kernel said something changed (one
//! non-blocking `recv` per tick otherwise), and at least every
//! [`LINK_REFRESH`](crate::readers::links::LINK_REFRESH) in any case.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A subscription to the link changes of this network namespace.
#[derive(Debug)]
pub struct LinkEvents {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl LinkEvents {
    /// Opens and subscribes the socket; an error where netlink is refused (seccomp, a
    /// sandbox without `AF_NETLINK`).
    pub fn open() -> io::Result<LinkEvents> {
        // SAFETY: plain system call with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid (pid 0: the kernel assigns one).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = libc::RTMGRP_LINK as u32;
        // SAFETY: `addr` is a valid sockaddr_nl of the size passed, alive for the call.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(LinkEvents {
            fd,
            buf: vec![0u8; 8192],
        })
    }

    /// Whether any link changed since the last call: drains what the kernel posted, never
    /// blocks. An overflowed socket (`ENOBUFS`: more changes than its buffer held) counts as a
    /// change; any other error is returned, and the caller stops trusting the subscription.
    pub fn changed(&mut self) -> io::Result<bool> {
        let mut changed = false;
        loop {
            // SAFETY: `buf` is a live, writable buffer of the length passed.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                changed = true;
                continue;
            }
            if n == 0 {
                return Ok(changed);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(changed),
                Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => changed = true,
                _ => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn ip(args: &[&str]) -> bool {
        Command::new("ip").args(args).output().is_ok_and(|o| o.status.success())
    }

    /// A real change, in a network namespace of its own (a thread that unshares one, and the
    /// `ip` it starts, which inherits it), so the host's links are never touched: the new
    /// namespace's `lo` changes its MTU and goes up. Skipped without CAP_SYS_ADMIN or `ip`.
    #[test]
    fn a_link_change_is_noticed() {
        let seen = std::thread::spawn(|| {
            // SAFETY: plain system call with a constant flag; it moves only this new thread,
            // which ends with the test, into a new network namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return None;
            }
            let mut events = LinkEvents::open().ok()?;
            let quiet = events.changed().unwrap();
            if !ip(&["link", "set", "lo", "mtu", "1400"]) {
                return None;
            }
            let mtu = events.changed().unwrap();
            let again = events.changed().unwrap();
            ip(&["link", "set", "lo", "up"]).then_some(())?;
            let up = events.changed().unwrap();
            Some((quiet, mtu, again, up))
        })
        .join()
        .unwrap();
        match seen {
            None => eprintln!("skipped: no network namespace of its own or no `ip` here"),
            Some((quiet, mtu, again, up)) => {
                assert!(!quiet, "a fresh namespace posts nothing");
                assert!(mtu, "RTM_NEWLINK of the MTU change");
                assert!(!again, "drained: nothing more");
                assert!(up, "RTM_NEWLINK of the link going up");
            }
        }
    }

    #[test]
    fn draining_an_idle_subscription_does_not_fail() {
        let Ok(mut events) = LinkEvents::open() else {
            eprintln!("skipped: netlink refused here");
            return;
        };
        // Non-blocking: EAGAIN is "nothing posted", not an error.
        events.changed().unwrap();
        events.changed().unwrap();
    }
}
