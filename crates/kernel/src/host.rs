//! Static facts about the host: names from `uname`, sizes from `sysconf`, `os-release`.

use std::ffi::CStr;
use std::path::Path;
use std::sync::OnceLock;

/// The fields of `uname(2)` that sysmon reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uname {
    pub nodename: String,
    pub release: String,
    pub machine: String,
}

pub fn uname() -> Uname {
    // SAFETY: utsname is plain old data; uname fills it with NUL-terminated strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return Uname::default();
        }
        let s = |f: &[libc::c_char]| CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
        Uname {
            nodename: s(&u.nodename),
            release: s(&u.release),
            machine: s(&u.machine),
        }
    }
}

/// The host's name now (it can change while a process runs).
pub fn hostname() -> String {
    uname().nodename
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|&v| v > 0)
}

/// `USER_HZ`: the unit of the CPU times in `/proc` (100 on every mainstream kernel).
pub fn clock_ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| sysconf(libc::_SC_CLK_TCK).unwrap_or(100))
}

pub fn page_size_bytes() -> Option<u64> {
    sysconf(libc::_SC_PAGESIZE)
}

/// `NAME` and `VERSION_ID` (or `VERSION`) of `os-release(5)`.
pub fn os_release(etc: &Path) -> (Option<String>, Option<String>) {
    let text = crate::procfs::read_lossy(&etc.join("os-release"))
        .or_else(|_| crate::procfs::read_lossy(&etc.join("../usr/lib/os-release")))
        .unwrap_or_default();
    parse_os_release(&text)
}

pub fn parse_os_release(text: &str) -> (Option<String>, Option<String>) {
    let mut name = None;
    let mut version_id = None;
    let mut version = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        if v.is_empty() {
            continue;
        }
        match k.trim() {
            "NAME" => name = Some(v),
            "VERSION_ID" => version_id = Some(v),
            "VERSION" => version = Some(v),
            _ => {}
        }
    }
    (name, version_id.or(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields() {
        let (n, v) = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n",
        );
        assert_eq!(n.as_deref(), Some("Debian GNU/Linux"));
        assert_eq!(v.as_deref(), Some("12"));
        let (n, v) = parse_os_release("NAME=Arch\nVERSION=rolling\n");
        assert_eq!((n.as_deref(), v.as_deref()), (Some("Arch"), Some("rolling")));
        assert_eq!(parse_os_release(""), (None, None));
    }

    #[test]
    fn live_facts() {
        assert!(!hostname().is_empty());
        assert!(clock_ticks_per_sec() > 0);
        assert!(page_size_bytes().unwrap() >= 4096);
        assert!(!uname().release.is_empty());
    }
}
