//! `/var/run/utmp`: the login records, as glibc's `struct utmp`, and systemd-logind's session
//! records (`/run/systemd/sessions/<id>`), which say what kind of session a login is.
//!
//! Integers are in host byte order; strings are NUL-padded and not NUL-terminated when full.
//! Two layouts exist ([`Layout`]): 384-byte records where `ut_session` and both `ut_tv`
//! fields are 32-bit (x86-64, and 32-bit targets: glibc's `__WORDSIZE_TIME64_COMPAT32`), and
//! 400-byte records where they are `long` and `struct timeval` (aarch64, s390x, loongarch64).
//! Both start `ut_type` (i16, 2 bytes of padding), `ut_pid` (i32), `ut_line[32]`, `ut_id[4]`,
//! `ut_user[32]`, `ut_host[256]`, `ut_exit` (two i16); then `ut_session`, `ut_tv`,
//! `ut_addr_v6[4]` and 20 reserved bytes.

/// `ut_type` of a user's login session.
pub const USER_PROCESS: i16 = 7;

const OFF_PID: usize = 4;
const OFF_LINE: usize = 8;
const OFF_USER: usize = 44;
const OFF_HOST: usize = 76;
const OFF_SESSION: usize = 336;

/// Where a glibc `struct utmp` keeps `ut_session` and `ut_tv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bytes per record.
    pub record_bytes: usize,
    /// `ut_session` and the two `ut_tv` fields are 64-bit.
    pub wide: bool,
}

impl Layout {
    /// 32-bit `ut_session` and `ut_tv` fields (x86-64, 32-bit targets).
    pub const COMPAT32: Layout = Layout {
        record_bytes: 384,
        wide: false,
    };
    /// `long ut_session` and `struct timeval ut_tv` (aarch64, s390x, loongarch64).
    pub const WIDE: Layout = Layout {
        record_bytes: 400,
        wide: true,
    };

    /// The layout of this build's target.
    pub const fn native() -> Layout {
        if cfg!(all(
            target_pointer_width = "64",
            any(
                target_arch = "aarch64",
                target_arch = "s390x",
                target_arch = "loongarch64"
            )
        )) {
            Layout::WIDE
        } else {
            Layout::COMPAT32
        }
    }

    fn tv_sec(self) -> usize {
        if self.wide { 344 } else { 340 }
    }

    fn tv_usec(self) -> usize {
        if self.wide { 352 } else { 344 }
    }
}

/// One record, its strings with the NUL padding removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UtmpRecord {
    pub ut_type: i16,
    pub pid: i32,
    pub line: String,
    pub user: String,
    pub host: String,
    pub session: i64,
    /// Login time, seconds since the Unix epoch.
    pub tv_sec: i64,
    pub tv_usec: i64,
}

/// Every whole record of `bytes` (a truncated last record is ignored).
pub fn parse(bytes: &[u8], layout: Layout) -> Vec<UtmpRecord> {
    bytes
        .chunks_exact(layout.record_bytes)
        .map(|r| parse_record(r, layout))
        .collect()
}

fn i32_at(r: &[u8], off: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&r[off..off + 4]);
    i32::from_ne_bytes(b)
}

fn i64_at(r: &[u8], off: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&r[off..off + 8]);
    i64::from_ne_bytes(b)
}

fn str_at(r: &[u8], off: usize, len: usize) -> String {
    let field = &r[off..off + len];
    let end = field.iter().position(|&b| b == 0).unwrap_or(len);
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn parse_record(r: &[u8], layout: Layout) -> UtmpRecord {
    let (session, tv_sec, tv_usec) = if layout.wide {
        (
            i64_at(r, OFF_SESSION),
            i64_at(r, layout.tv_sec()),
            i64_at(r, layout.tv_usec()),
        )
    } else {
        (
            i64::from(i32_at(r, OFF_SESSION)),
            // glibc keeps 32-bit seconds as unsigned past 2038.
            i64::from(i32_at(r, layout.tv_sec()) as u32),
            i64::from(i32_at(r, layout.tv_usec())),
        )
    };
    UtmpRecord {
        ut_type: i16::from_ne_bytes([r[0], r[1]]),
        pid: i32_at(r, OFF_PID),
        line: str_at(r, OFF_LINE, 32),
        user: str_at(r, OFF_USER, 32),
        host: str_at(r, OFF_HOST, 256),
        session,
        tv_sec,
        tv_usec,
    }
}

/// One record's fields, for [`encode`].
#[derive(Clone, Debug, Default)]
pub struct NewRecord<'a> {
    pub ut_type: i16,
    pub pid: i32,
    pub line: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub session: i64,
    pub tv_sec: i64,
    pub tv_usec: i64,
}

/// A record's bytes in `layout` (what login programs write; for tests and fixtures).
pub fn encode(n: &NewRecord<'_>, layout: Layout) -> Vec<u8> {
    let mut r = vec![0u8; layout.record_bytes];
    r[0..2].copy_from_slice(&n.ut_type.to_ne_bytes());
    r[OFF_PID..OFF_PID + 4].copy_from_slice(&n.pid.to_ne_bytes());
    let mut put = |off: usize, len: usize, s: &str| {
        let b = &s.as_bytes()[..s.len().min(len)];
        r[off..off + b.len()].copy_from_slice(b);
    };
    put(OFF_LINE, 32, n.line);
    put(OFF_USER, 32, n.user);
    put(OFF_HOST, 256, n.host);
    let (s, us) = (layout.tv_sec(), layout.tv_usec());
    if layout.wide {
        r[OFF_SESSION..OFF_SESSION + 8].copy_from_slice(&n.session.to_ne_bytes());
        r[s..s + 8].copy_from_slice(&n.tv_sec.to_ne_bytes());
        r[us..us + 8].copy_from_slice(&n.tv_usec.to_ne_bytes());
    } else {
        r[OFF_SESSION..OFF_SESSION + 4].copy_from_slice(&(n.session as i32).to_ne_bytes());
        r[s..s + 4].copy_from_slice(&(n.tv_sec as u32).to_ne_bytes());
        r[us..us + 4].copy_from_slice(&(n.tv_usec as i32).to_ne_bytes());
    }
    r
}

/// The logind session id in a `/proc/<pid>/cgroup` text: the `<id>` of a
/// `session-<id>.scope` component (how `sd_pid_get_session` finds it).
pub fn logind_session_of_cgroup(text: &str) -> Option<&str> {
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .flat_map(|path| path.split('/'))
        .find_map(|c| c.strip_prefix("session-")?.strip_suffix(".scope"))
        .filter(|id| !id.is_empty())
}

/// The `TYPE=` of a logind session record (`tty`, `x11`, `wayland`, `mir`, `web`,
/// `unspecified`).
pub fn logind_session_type(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.strip_prefix("TYPE="))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(ut_type: i16, pid: i32, line: &'a str, user: &'a str, host: &'a str, tv_sec: i64) -> NewRecord<'a> {
        NewRecord {
            ut_type,
            pid,
            line,
            user,
            host,
            session: 77,
            tv_sec,
            tv_usec: 250_000,
        }
    }

    #[test]
    fn round_trips_and_skips_partial_records() {
        let long_user = "u".repeat(40);
        for layout in [Layout::COMPAT32, Layout::WIDE] {
            let mut bytes = encode(
                &rec(USER_PROCESS, 4242, "pts/0", "alice", "192.0.2.7", 1_700_000_000),
                layout,
            );
            bytes.extend(encode(&rec(8, 17, "pts/1", "", "", 0), layout));
            bytes.extend(encode(
                &rec(USER_PROCESS, 1, "tty1", &long_user, "", 3_000_000_000),
                layout,
            ));
            bytes.extend([0u8; 100]);
            let r = parse(&bytes, layout);
            assert_eq!(r.len(), 3);
            assert_eq!(
                r[0],
                UtmpRecord {
                    ut_type: USER_PROCESS,
                    pid: 4242,
                    line: "pts/0".into(),
                    user: "alice".into(),
                    host: "192.0.2.7".into(),
                    session: 77,
                    tv_sec: 1_700_000_000,
                    tv_usec: 250_000,
                }
            );
            assert_eq!(r[1].ut_type, 8);
            assert_eq!(r[2].user, "u".repeat(32), "a full field has no NUL");
            assert_eq!(r[2].tv_sec, 3_000_000_000, "past 2038 (unsigned 32-bit seconds)");
            assert!(parse(&bytes[..layout.record_bytes - 1], layout).is_empty());
        }
    }

    #[test]
    fn native_layout_is_glibcs() {
        assert_eq!(
            (OFF_PID, OFF_LINE, OFF_USER, OFF_HOST, OFF_SESSION),
            (4, 8, 44, 76, 336)
        );
        #[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
        {
            let layout = Layout::native();
            assert_eq!(std::mem::size_of::<libc::utmpx>(), layout.record_bytes);
            // SAFETY: utmpx is plain data; all zeroes is a valid value.
            let u: libc::utmpx = unsafe { std::mem::zeroed() };
            let base = &u as *const _ as usize;
            let off = |p: usize| p - base;
            assert_eq!(off(&u.ut_pid as *const _ as usize), OFF_PID);
            assert_eq!(off(&u.ut_line as *const _ as usize), OFF_LINE);
            assert_eq!(off(&u.ut_user as *const _ as usize), OFF_USER);
            assert_eq!(off(&u.ut_host as *const _ as usize), OFF_HOST);
            assert_eq!(off(&u.ut_session as *const _ as usize), OFF_SESSION);
            assert_eq!(off(&u.ut_tv.tv_sec as *const _ as usize), layout.tv_sec());
            assert_eq!(off(&u.ut_tv.tv_usec as *const _ as usize), layout.tv_usec());
            assert_eq!(std::mem::size_of_val(&u.ut_tv.tv_sec), if layout.wide { 8 } else { 4 });
        }
    }

    #[test]
    fn logind_records() {
        let cg =
            "12:pids:/user.slice/user-1000.slice/session-c2.scope\n0::/user.slice/user-1000.slice/session-c2.scope\n";
        assert_eq!(logind_session_of_cgroup(cg), Some("c2"));
        assert_eq!(logind_session_of_cgroup("0::/system.slice/sshd.service\n"), None);
        assert_eq!(logind_session_of_cgroup("0::/session-.scope\n"), None);
        let rec = "# This is private data. Do not parse.\nUID=1000\nUSER=alice\nTYPE=x11\nCLASS=user\n";
        assert_eq!(logind_session_type(rec), Some("x11"));
        assert_eq!(logind_session_type("UID=0\n"), None);
    }
}
