//! `system_processes()`: one row per process (not per thread).
//!
//! A [`ProcessCollector`] takes a [`ProcessSnapshot`] (one pass over `/proc/[pid]/`); `cpu_pct`
//! needs the CPU times of an earlier pass, kept as compact [`ProcessTimes`] keyed by (pid,
//! start time) so a reused pid never pairs with another process. [`rows`] is the pure step
//! from (base times, snapshot) to rows, shared by the live table and the recorder.
//!
//! Only the files the requested columns need are read ([`ProcessFields`]): `stat` always,
//! `statm` for `rss_bytes`/`mem_pct`, `status` for `user`/`uid`, `cmdline`, `exe`, `io`, `fd/`
//! and `cgroup` on demand.

use super::{HostPath, ProcessWindow, Table};
use std::io;
use std::time::Duration;
use sysmon_live::LiveState;

use crate::schema::{Row, Timestamp};
use sysmon_kernel::host;
use sysmon_kernel::procfs::containers;
use sysmon_kernel::readers::processes::start_time;
pub use sysmon_kernel::readers::processes::{
    ProcessCollector, ProcessFields, ProcessInfo, ProcessSnapshot, ProcessTimes, UserLookup, UserNames, user_name,
};

crate::declare_table! {
    /// One row per process (thread group) in /proc; threads are counted in `threads`, not
    /// listed. Cumulative columns count since the process started; `cpu_pct` covers the
    /// window that ends at `ts` and lasts `window_seconds` and is NULL for a process that
    /// started within it. A process that exits while it is read is left out.
    pub struct ProcessesRow => "system_processes", recorded as "processes" every process_interval when named {
        /// When the process list was read.
        ts: Timestamp [""],
        /// Host name at that time.
        hostname: String [""],
        /// Process id.
        pid: i32 [""],
        /// Parent process id (0 for the init process and kthreadd).
        ppid: i32 [""],
        /// Executable name as the kernel keeps it (`comm`, at most 15 bytes); bytes that are not UTF-8 (a name cut inside a character, or set so) are replaced with U+FFFD.
        name: String [""],
        /// State letter: R running, S sleeping, D disk sleep, Z zombie, T stopped, I idle, ...
        state: String [""],
        /// Command-line arguments; empty for kernel threads and zombies.
        cmdline: Vec<String> [""],
        /// Path of the executable (`/proc/[pid]/exe`); NULL for kernel threads, zombies, and where not permitted.
        exe: Option<String> [""],
        /// Name of the effective user; NULL where the uid has no name (no passwd entry).
        user: Option<String> [""],
        /// Effective user id (as `ps` and `top` show).
        uid: Option<u32> [""],
        /// When the process started.
        start_time: Option<Timestamp> [""],
        /// Threads in the process.
        threads: i64 [""],
        /// Nice value, -20 (most favoured) to 19.
        nice: i32 [""],
        /// Kernel scheduling priority (`priority` of /proc/[pid]/stat: 20 + nice for normal tasks, negative for real-time).
        priority: i32 [""],
        /// Whether the process is a kernel thread.
        is_kernel_thread: bool [""],
        /// CPU time in user mode since the process started.
        cpu_user_seconds: f64 ["seconds"],
        /// CPU time in kernel mode since the process started.
        cpu_system_seconds: f64 ["seconds"],
        /// CPU used over the window, as top shows it: 100 is one CPU, so 200 is possible on 2 CPUs.
        cpu_pct: Option<f64> ["percent"],
        /// Resident memory (`/proc/[pid]/statm`, equal to `VmRSS` of `status`, as `ps` and `top` show).
        rss_bytes: u64 ["bytes"],
        /// Virtual memory size.
        vms_bytes: u64 ["bytes"],
        /// rss_bytes / MemTotal.
        mem_pct: Option<f64> ["percent"],
        /// Page faults that needed I/O.
        major_faults: u64 [""],
        /// Page faults served without I/O.
        minor_faults: u64 [""],
        /// Bytes the process caused to be read from storage (/proc/[pid]/io); NULL where not permitted.
        read_bytes: Option<u64> ["bytes"],
        /// Bytes the process caused to be written to storage; NULL where not permitted.
        written_bytes: Option<u64> ["bytes"],
        /// Open file descriptors (entries of /proc/[pid]/fd); NULL where not permitted.
        open_fds: Option<u64> [""],
        /// The process's cgroup: its v2 path, or on hybrid hosts whose v2 path is `/` its v1 `memory` path.
        cgroup: Option<String> [""],
        /// Container runtime recognised from `cgroup` (`docker`, `podman`, `containerd`, `cri-o`, `kubernetes`, `ecs`, `lxc`, `systemd-nspawn`); NULL outside a container.
        container_runtime: Option<String> [""],
        /// The container's id as its runtime names it (64 hex digits; the name for LXC and nspawn); NULL outside a container.
        container_id: Option<String> [""],
        /// Length of the window `cpu_pct` covers (monotonic clock, to 2⁻²⁰ s ≈ 1 µs).
        window_seconds: f64 ["seconds"],
    }
}

/// What the declared columns `columns` of [`ProcessesRow`] need.
pub fn fields_for_columns(columns: &[usize]) -> ProcessFields {
    let mut f = ProcessFields::default();
    for c in columns.iter().filter_map(|&i| ProcessesRow::TABLE.columns.get(i)) {
        match c.name {
            "rss_bytes" | "mem_pct" => f.statm = true,
            "user" | "uid" => f.status = true,
            "cmdline" => f.cmdline = true,
            "exe" => f.exe = true,
            "read_bytes" | "written_bytes" => f.io = true,
            "open_fds" => f.fds = true,
            "cgroup" | "container_runtime" | "container_id" => f.cgroup = true,
            _ => {}
        }
    }
    f
}

/// The rows of `now`, with `cpu_pct` over the window since `base` (taken `window` earlier).
pub fn rows(
    base: &ProcessTimes,
    window: Duration,
    now: &ProcessSnapshot,
    include_kernel_threads: bool,
) -> Vec<ProcessesRow> {
    let hz = host::clock_ticks_per_sec() as f64;
    let window_seconds = super::seconds_of(window);
    now.processes
        .iter()
        .filter(|p| include_kernel_threads || !p.stat.is_kernel_thread())
        .map(|p| {
            let s = &p.stat;
            let ticks = s.utime + s.stime;
            let cpu_pct = base
                .ticks
                .get(&(s.pid, s.start_time))
                .filter(|&&b| b <= ticks && window_seconds > 0.0)
                .map(|&b| 100.0 * ((ticks - b) as f64 / hz) / window_seconds);
            let rss_bytes = p.resident_pages.map(|r| r.saturating_mul(now.page_size));
            let container = p.cgroup.as_deref().and_then(containers::recognise);
            ProcessesRow {
                ts: now.ts,
                hostname: now.hostname.clone(),
                pid: s.pid,
                ppid: s.ppid,
                name: s.comm.clone(),
                state: s.state.to_string(),
                cmdline: p.cmdline.clone().unwrap_or_default(),
                exe: p.exe.clone(),
                user: p.user.clone(),
                uid: p.uid,
                start_time: now.boot_time.map(|b| start_time(b, s.start_time)),
                threads: s.num_threads,
                nice: i32::try_from(s.nice).unwrap_or(0),
                priority: i32::try_from(s.priority).unwrap_or(0),
                is_kernel_thread: s.is_kernel_thread(),
                cpu_user_seconds: s.utime as f64 / hz,
                cpu_system_seconds: s.stime as f64 / hz,
                cpu_pct,
                // Not read only when the column is not requested.
                rss_bytes: rss_bytes.unwrap_or(0),
                vms_bytes: s.vsize,
                mem_pct: rss_bytes
                    .zip(now.mem_total_bytes.filter(|&t| t > 0))
                    .map(|(r, t)| 100.0 * r as f64 / t as f64),
                major_faults: s.majflt,
                minor_faults: s.minflt,
                read_bytes: p.io.map(|(r, _)| r),
                written_bytes: p.io.map(|(_, w)| w),
                open_fds: p.open_fds,
                cgroup: p.cgroup.clone(),
                container_runtime: container.as_ref().map(|c| c.runtime.to_string()),
                container_id: container.map(|c| c.id),
                window_seconds,
            }
        })
        .collect()
}

/// `system_processes()`.
pub struct Processes;

crate::declare_options! {
    /// The options of `system_processes()`.
    pub struct ProcessesOptions {
        /// Keep kernel threads (as `ps -e`).
        include_kernel_threads = true,
    }
}

impl Table for Processes {
    type Row = ProcessesRow;
    type Options = ProcessesOptions;
    type Input = ProcessWindow;
    const SUMMARY: &'static str =
        "One row per process (not per thread): identity, CPU, memory, I/O, open files, cgroup.";
    const EXAMPLE: &'static str = "SELECT pid, name, user, cpu_pct, rss_bytes FROM system_processes(include_kernel_threads := false) ORDER BY cpu_pct DESC NULLS LAST LIMIT 10";
    const FILES: &'static [&'static str] = &["/etc/passwd"];
    const HOST_PATHS: &'static [HostPath] = &[
        HostPath::Proc,
        HostPath::File("/etc/passwd"),
        HostPath::File("/etc/nsswitch.conf"),
    ];

    fn rows(w: &ProcessWindow, _: &LiveState, o: &ProcessesOptions) -> io::Result<Vec<ProcessesRow>> {
        Ok(rows(&w.base, w.window, &w.now, o.include_kernel_threads))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysmon_kernel::procfs::Roots;

    fn names(uid: u32) -> Option<String> {
        match uid {
            0 => Some("root".into()),
            1000 => Some("ünïcode user".into()),
            _ => None,
        }
    }

    #[test]
    fn fixture_processes() {
        let mut c = ProcessCollector::with_user_lookup(Roots::test_fixture("modern"), names);
        let snap = c.snapshot(ProcessFields::all()).unwrap();
        let pids: Vec<i32> = snap.processes.iter().map(|p| p.stat.pid).collect();
        assert_eq!(pids, [1, 2, 4242], "pid 77 has no stat (exited), pid 78's is truncated");
        let mut base = snap.times();
        *base.ticks.get_mut(&(4242, 12345)).unwrap() -= 50;
        let r = rows(&base, Duration::from_millis(250), &snap, true);
        assert_eq!(r.len(), 3);
        let p = &r[2];
        assert_eq!(p.name, "my (weird) name");
        assert_eq!(p.cmdline, ["/usr/bin/my app", "--flag=é"]);
        assert_eq!(p.user.as_deref(), Some("ünïcode user"));
        assert_eq!(p.uid, Some(1000));
        assert_eq!(p.ppid, 1);
        assert_eq!(p.threads, 4);
        assert_eq!(p.read_bytes, Some(4096));
        assert_eq!(p.written_bytes, Some(8192));
        assert_eq!(p.open_fds, Some(3));
        assert_eq!(p.cgroup.as_deref(), Some("/system.slice/my app.service"));
        let hz = host::clock_ticks_per_sec() as f64;
        assert_eq!(p.cpu_pct, Some(100.0 * (50.0 / hz) / 0.25));
        assert_eq!(p.cpu_user_seconds, 250.0 / hz);
        // statm's resident pages, not stat's approximate rss field (2560).
        assert_eq!(p.rss_bytes, 2600 * snap.page_size);
        assert_eq!(
            p.mem_pct,
            Some(100.0 * (2600 * snap.page_size) as f64 / (4_028_536.0 * 1024.0))
        );
        assert_eq!(r[0].rss_bytes, 2930 * snap.page_size);
        assert_eq!(r[1].rss_bytes, 0);
        assert_eq!(
            p.start_time,
            Some(Timestamp::from_micros(
                1_700_000_000_000_000 + (12345.0 / hz * 1e6) as i64
            ))
        );
        assert_eq!(r[0].cpu_pct, Some(0.0));
        // pid 1 has no io file (not permitted): NULL, not 0; and no exe link.
        assert_eq!(r[0].read_bytes, None);
        assert_eq!(r[0].exe, None);
        assert_eq!(r[0].user.as_deref(), Some("root"));
        let k = &r[1];
        assert!(k.is_kernel_thread);
        assert!(k.cmdline.is_empty());
        assert_eq!(k.user, None, "uid 4321 has no name");
        assert_eq!(k.uid, Some(4321));
        let no_kernel = rows(&base, Duration::from_millis(250), &snap, false);
        assert_eq!(no_kernel.len(), 2);
    }

    #[test]
    fn new_process_and_reused_pid_have_no_cpu_pct() {
        let mut c = ProcessCollector::with_user_lookup(Roots::test_fixture("modern"), names);
        let snap = c.snapshot(ProcessFields::default()).unwrap();
        let mut base = ProcessTimes::default();
        base.ticks.insert((4242, 999), 0); // same pid, another start time
        let r = rows(&base, Duration::from_secs(1), &snap, true);
        assert!(r.iter().all(|r| r.cpu_pct.is_none()));
        assert_eq!(r[2].cmdline, Vec::<String>::new(), "not requested: not read");
        assert_eq!(r[2].uid, None);
    }

    /// A process is listed whatever its name: `comm` is bytes the process chose, cut at 15.
    #[test]
    fn odd_names_never_hide_a_process() {
        let cases: [(&[u8], &str); 7] = [
            // 14 x "x" + "é" cut inside the character at 15 bytes.
            (b"xxxxxxxxxxxxxx\xc3", "xxxxxxxxxxxxxx\u{fffd}"),
            (b"\xff", "\u{fffd}"),
            (b"new\nline", "new\nline"),
            (b"tab\there", "tab\there"),
            (b") R 1 2", ") R 1 2"),
            (b"", ""),
            (b"(", "("),
        ];
        let dir = std::env::temp_dir().join(format!("sysmon-odd-names-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (i, (name, _)) in cases.iter().enumerate() {
            let pid_dir = dir.join("proc").join((100 + i).to_string());
            std::fs::create_dir_all(&pid_dir).unwrap();
            let mut stat = format!("{} (", 100 + i).into_bytes();
            stat.extend_from_slice(name);
            stat.extend_from_slice(b") S 1 1 1 0 -1 4194560 1 0 0 0 1 1 0 0 20 0 1 0 5 1000 7 0 0 0\n");
            std::fs::write(pid_dir.join("stat"), stat).unwrap();
            std::fs::write(pid_dir.join("statm"), "250 9 0 0 0 0 0\n").unwrap();
            std::fs::write(pid_dir.join("status"), "Uid:\t0\t0\t0\t0\n").unwrap();
            std::fs::write(pid_dir.join("cmdline"), b"").unwrap();
        }
        let mut c = ProcessCollector::with_user_lookup(Roots::fixture(&dir), names);
        let snap = c.snapshot(ProcessFields::all()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let r = rows(&ProcessTimes::default(), Duration::ZERO, &snap, true);
        let got: Vec<(i32, &str)> = r.iter().map(|r| (r.pid, r.name.as_str())).collect();
        let want: Vec<(i32, &str)> = cases.iter().enumerate().map(|(i, c)| (100 + i as i32, c.1)).collect();
        assert_eq!(got, want);
        assert!(
            r.iter()
                .all(|r| r.state == "S" && r.ppid == 1 && r.rss_bytes == 9 * snap.page_size)
        );
        assert!(r.iter().all(|r| r.user.as_deref() == Some("root")));
    }

    #[test]
    fn containers_from_the_cgroup() {
        let mut c = ProcessCollector::with_user_lookup(Roots::test_fixture("containers"), names);
        let fields = fields_for_columns(&[ProcessesRow::TABLE.column_index("container_id").unwrap()]);
        assert!(fields.cgroup, "the container columns need the cgroup file");
        let snap = c.snapshot(fields).unwrap();
        let r = rows(&ProcessTimes::default(), Duration::ZERO, &snap, true);
        let got: Vec<(i32, Option<&str>, Option<String>)> = r
            .iter()
            .map(|r| {
                (
                    r.pid,
                    r.container_runtime.as_deref(),
                    r.container_id.as_ref().map(|i| i[..i.len().min(8)].to_string()),
                )
            })
            .collect();
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            got,
            [
                (1, None, None),
                (100, None, None),
                (101, Some("docker"), some("1d1d1d1d")),
                (102, None, None),
                (103, Some("podman"), some("2e2e2e2e")),
                (104, Some("containerd"), some("3f3f3f3f")),
                (105, Some("kubernetes"), some("5b5b5b5b")),
                (106, Some("lxc"), some("web01")),
            ],
            "pid 102 is conmon, beside its container; pid 105's v2 path is the root of a hybrid host"
        );
        assert_eq!(r[2].container_id.as_deref(), Some("1d".repeat(32).as_str()));
    }

    #[test]
    fn projection_picks_files() {
        let t = ProcessesRow::TABLE;
        let idx = |n: &str| t.column_index(n).unwrap();
        let f = fields_for_columns(&[idx("pid"), idx("cpu_pct")]);
        assert_eq!(f, ProcessFields::default());
        let f = fields_for_columns(&[idx("user"), idx("read_bytes"), usize::MAX]);
        assert!(f.status && f.io && !f.fds && !f.exe && !f.statm);
        assert!(fields_for_columns(&[idx("mem_pct")]).statm);
        let all: Vec<usize> = (0..t.columns.len()).collect();
        assert_eq!(fields_for_columns(&all), ProcessFields::all());
    }

    #[test]
    fn live_own_process() {
        let mut c = ProcessCollector::new(Roots::default());
        let snap = c.snapshot(ProcessFields::all()).unwrap();
        let me = std::process::id() as i32;
        let r = rows(&ProcessTimes::default(), Duration::ZERO, &snap, true);
        let row = r.iter().find(|r| r.pid == me).expect("own pid listed");
        assert_eq!(row.ppid, std::os::unix::process::parent_id() as i32);
        assert_eq!(row.cmdline, std::env::args().collect::<Vec<_>>());
        assert!(row.open_fds.unwrap() >= 3);
        assert_eq!(
            row.exe.as_deref(),
            std::env::current_exe()
                .ok()
                .and_then(|p| p.to_str().map(String::from))
                .as_deref()
        );
        // Threads are not rows: this test binary runs several threads under one pid.
        assert_eq!(r.iter().filter(|r| r.pid == me).count(), 1);
    }
}
