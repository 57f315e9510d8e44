//! Readers of Linux's `/proc` and `/sys` files.
//!
//! Each submodule parses one kernel file format into a plain struct. Parsers take the file's
//! text, so unit tests feed them fixtures; the paths come from a [`Roots`], so a fixture tree
//! under `test/fixtures/` can stand in for the real `/proc` and `/sys`.
//!
//! Rules every parser follows:
//! * a field the kernel did not write (an older kernel, another configuration) is `None`, never 0;
//! * a malformed or truncated line is skipped, never a panic;
//! * numbers are kept in the kernel's own unit (ticks, sectors, kB); conversion to the units
//!   of the SQL columns happens in sysmon-core's `tables`.

pub mod cgroupfs;
pub mod containers;
pub mod cpuinfo;
pub mod diskstats;
pub mod file;
pub mod link_events;
pub mod loadavg;
pub mod meminfo;
pub mod mountinfo;
pub mod net_sockets;
pub mod netdev;
pub mod pid;
pub mod pressure;
pub mod snmp;
pub mod sock_diag;
pub mod socket_owners;
pub mod stat;
pub mod syscalls;
pub mod uptime;
pub mod utmp;

#[cfg(test)]
mod fuzz;

use std::path::{Path, PathBuf};

pub use file::KeptFile;

/// Where `/proc` and `/sys` are: the real ones, or a fixture tree in tests.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Roots {
    pub proc: PathBuf,
    pub sys: PathBuf,
    /// Where `os-release` is looked for.
    pub etc: PathBuf,
    /// `/var`: utmp is `var/run/utmp`.
    pub var: PathBuf,
    /// `/run`: logind's session records are `run/systemd/sessions`.
    pub run: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            etc: PathBuf::from("/etc"),
            var: PathBuf::from("/var"),
            run: PathBuf::from("/run"),
        }
    }
}

impl Roots {
    /// A fixture tree with `proc/`, `sys/`, `etc/`, `var/` and `run/` folders below `dir`.
    pub fn fixture(dir: impl AsRef<Path>) -> Self {
        Roots {
            proc: dir.as_ref().join("proc"),
            sys: dir.as_ref().join("sys"),
            etc: dir.as_ref().join("etc"),
            var: dir.as_ref().join("var"),
            run: dir.as_ref().join("run"),
        }
    }

    /// The fixture tree `test/fixtures/<name>` of this repository, for unit tests.
    pub fn test_fixture(name: &str) -> Self {
        Roots::fixture(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../test/fixtures")
                .join(name),
        )
    }

    pub fn proc(&self, rel: &str) -> PathBuf {
        self.proc.join(rel)
    }

    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys.join(rel)
    }

    /// Where a mount point of `/proc/self/mountinfo` is under these roots: paths below
    /// `/sys` (cgroup mounts) move with the sys root; others stay as they are.
    pub fn mount_path(&self, mount_point: &str) -> PathBuf {
        match mount_point.strip_prefix("/sys/") {
            Some(rest) => self.sys.join(rest),
            None if mount_point == "/sys" => self.sys.clone(),
            None => PathBuf::from(mount_point),
        }
    }
}

/// Parses an unsigned decimal, `None` on anything else.
pub fn parse_u64(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// Reads a small text file whole; `None` if it is missing or unreadable. Bytes that are not
/// UTF-8 are replaced (see [`read_lossy`]).
pub fn read_small(path: &Path) -> Option<String> {
    read_lossy(path).ok()
}

/// Reads a file whole as text, replacing bytes that are not UTF-8 with U+FFFD. Kernel files
/// carry names users choose (mount points, labels, interface aliases): one such name must not
/// make the whole file unreadable, as `read_to_string` would.
pub fn read_lossy(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Reads a one-line file (as sysfs attributes are) without its trailing newline.
pub fn read_trimmed(path: &Path) -> Option<String> {
    read_small(path).map(|s| s.trim_end_matches('\n').to_string())
}
