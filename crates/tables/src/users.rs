//! `system_users()`: one row per login session of utmp.
//!
//! [`collect`] reads utmp (`<var>/run/utmp`), logind's session records
//! (`<run>/systemd/sessions`) and `/proc` below a [`Roots`]: the real ones, or a fixture tree.

use std::io;

use super::{Now, Table};
use crate::schema::{Row, Timestamp};
use sysmon_kernel::access::HostPath;
use sysmon_kernel::host;
use sysmon_kernel::procfs::Roots;
use sysmon_kernel::procfs::utmp::{self, Layout, USER_PROCESS};
use sysmon_live::LiveState;

crate::declare_table! {
    /// One row per login session of utmp (`/var/run/utmp`): its `USER_PROCESS` records whose
    /// process is still alive, as `who` lists them. No utmp file (many containers, systems
    /// without utmp): no rows.
    pub struct UsersRow => "system_users", recorded as "users" every process_interval when named {
        /// When utmp was read.
        ts: Timestamp [""],
        /// Host name at that time.
        hostname: String [""],
        /// Login name (`ut_user`).
        user: String [""],
        /// Terminal line (`ut_line`: `pts/0`, `tty1`, `:0`); NULL where the record has none.
        tty: Option<String> [""],
        /// Remote host the session came from (`ut_host`); NULL for a local login (empty, or an X display such as `:0`).
        host: Option<String> [""],
        /// When the session started (`ut_tv`).
        login_time: Timestamp [""],
        /// Process of the session (`ut_pid`: the login shell or session leader); NULL where the record has 0.
        pid: Option<i32> [""],
        /// systemd-logind's session type of that process (`tty`, `x11`, `wayland`, `mir`, `web`, `unspecified`); NULL without logind or where the process is in no logind session.
        session_type: Option<String> [""],
    }
}

/// The rows of the utmp file below `roots`, parsed in this build's native record layout.
pub fn collect(roots: &Roots, ts: Timestamp, hostname: &str) -> io::Result<Vec<UsersRow>> {
    collect_with(roots, Layout::native(), ts, hostname)
}

/// utmp below `roots` (glibc's `_PATH_UTMP`, `/var/run/utmp`).
pub fn utmp_path(roots: &Roots) -> std::path::PathBuf {
    roots.var.join("run/utmp")
}

/// [`collect`] with an explicit record layout.
pub fn collect_with(roots: &Roots, layout: Layout, ts: Timestamp, hostname: &str) -> io::Result<Vec<UsersRow>> {
    let path = utmp_path(roots);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())));
        }
    };
    let mut rows = Vec::new();
    for r in utmp::parse(&bytes, layout) {
        if r.ut_type != USER_PROCESS || r.user.is_empty() {
            continue;
        }
        let pid = (r.pid > 0).then_some(r.pid);
        // A record whose process is gone is stale (left by a crash): `who` skips it too.
        if let Some(p) = pid
            && !roots.proc.join(p.to_string()).exists()
        {
            continue;
        }
        let host = (!r.host.is_empty() && !r.host.starts_with(':')).then(|| r.host.clone());
        rows.push(UsersRow {
            ts,
            hostname: hostname.to_string(),
            user: r.user,
            tty: (!r.line.is_empty()).then_some(r.line),
            host,
            login_time: Timestamp::from_micros(r.tv_sec.saturating_mul(1_000_000).saturating_add(r.tv_usec)),
            pid,
            session_type: pid.and_then(|p| session_type(roots, p)),
        });
    }
    Ok(rows)
}

/// The logind session type of process `pid`: its `session-<id>.scope` cgroup, then that
/// session's record.
fn session_type(roots: &Roots, pid: i32) -> Option<String> {
    let cgroup = std::fs::read_to_string(roots.proc.join(format!("{pid}/cgroup"))).ok()?;
    let id = utmp::logind_session_of_cgroup(&cgroup)?;
    if id.contains('/') || id.starts_with('.') {
        return None;
    }
    let record = std::fs::read_to_string(roots.run.join("systemd/sessions").join(id)).ok()?;
    utmp::logind_session_type(&record).map(str::to_string)
}

/// `system_users()`.
pub struct Users;

impl Table for Users {
    type Row = UsersRow;
    type Options = ();
    type Input = Now;
    const SUMMARY: &'static str =
        "One row per login session of utmp: user, terminal, remote host, login time, process, session type.";
    const EXAMPLE: &'static str = "SELECT user, tty, host, login_time FROM system_users() ORDER BY login_time";
    const FILES: &'static [&'static str] = &["/var/run/utmp", "/run/systemd/sessions", "/proc"];
    const HOST_PATHS: &'static [HostPath] = &[
        HostPath::File("/var/run/utmp"),
        HostPath::Dir("/run/systemd/sessions"),
        HostPath::Proc,
    ];

    fn rows(_: &Now, state: &LiveState, _: &()) -> io::Result<Vec<UsersRow>> {
        collect(
            &state.table_roots(UsersRow::TABLE.function),
            Timestamp::now(),
            &host::hostname(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use sysmon_kernel::procfs::utmp::{NewRecord, encode};

    fn write_tree(name: &str, records: &[NewRecord<'_>]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sysmon-users-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("var/run")).unwrap();
        std::fs::create_dir_all(dir.join("run/systemd/sessions")).unwrap();
        let mut bytes = Vec::new();
        for r in records {
            bytes.extend(encode(r, Layout::native()));
        }
        std::fs::write(dir.join("var/run/utmp"), bytes).unwrap();
        dir
    }

    fn process(dir: &Path, pid: i32, cgroup: &str) {
        std::fs::create_dir_all(dir.join(format!("proc/{pid}"))).unwrap();
        std::fs::write(dir.join(format!("proc/{pid}/cgroup")), cgroup).unwrap();
    }

    #[test]
    fn user_process_records_of_live_processes() {
        let rec = |ut_type, pid, line, user, host, tv_sec| NewRecord {
            ut_type,
            pid,
            line,
            user,
            host,
            session: 0,
            tv_sec,
            tv_usec: 500_000,
        };
        let dir = write_tree(
            "records",
            &[
                rec(2, 0, "~", "reboot", "6.1.0", 1_600_000_000),
                rec(USER_PROCESS, 501, "pts/0", "alice", "192.0.2.7", 1_700_000_000),
                rec(USER_PROCESS, 502, "tty1", "bob", "", 1_700_000_100),
                rec(USER_PROCESS, 503, ":0", "carol", ":0", 1_700_000_200),
                rec(8, 504, "pts/3", "", "", 1_700_000_300),
                rec(USER_PROCESS, 999, "pts/9", "ghost", "198.51.100.1", 1_700_000_400),
                rec(6, 505, "tty2", "LOGIN", "", 1_700_000_500),
            ],
        );
        process(&dir, 501, "0::/user.slice/user-1000.slice/session-4.scope\n");
        process(&dir, 502, "0::/user.slice/user-1001.slice/session-c1.scope\n");
        process(&dir, 503, "0::/system.slice/display-manager.service\n");
        process(&dir, 504, "0::/\n");
        process(&dir, 505, "0::/\n");
        std::fs::write(dir.join("run/systemd/sessions/4"), "UID=1000\nTYPE=tty\nREMOTE=1\n").unwrap();
        std::fs::write(dir.join("run/systemd/sessions/c1"), "UID=1001\nTYPE=wayland\n").unwrap();
        let rows = collect(&Roots::fixture(&dir), Timestamp::from_micros(7), "h").unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.user.as_str(),
                    r.tty.as_deref(),
                    r.host.as_deref(),
                    r.pid,
                    r.session_type.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("alice", Some("pts/0"), Some("192.0.2.7"), Some(501), Some("tty")),
                ("bob", Some("tty1"), None, Some(502), Some("wayland")),
                ("carol", Some(":0"), None, Some(503), None),
            ],
            "boot, dead-process, login-process records and the stale ghost are left out"
        );
        assert_eq!(rows[0].login_time, Timestamp::from_micros(1_700_000_000_500_000));
        assert_eq!(
            (rows[0].ts, rows[0].hostname.as_str()),
            (Timestamp::from_micros(7), "h")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_utmp_is_no_rows() {
        let dir = std::env::temp_dir().join(format!("sysmon-users-none-{}", std::process::id()));
        let rows = collect(&Roots::fixture(&dir), Timestamp::from_micros(1), "h").unwrap();
        assert!(rows.is_empty());
        let empty = write_tree("empty", &[]);
        assert!(
            collect(&Roots::fixture(&empty), Timestamp::from_micros(1), "h")
                .unwrap()
                .is_empty()
        );
        std::fs::remove_dir_all(&empty).unwrap();
    }

    #[test]
    fn live_host_does_not_fail() {
        // This build machine has no utmp; where there is one, every row names a user.
        let rows = collect(&Roots::default(), Timestamp::now(), "h").unwrap();
        assert!(rows.iter().all(|r| !r.user.is_empty()));
    }
}
