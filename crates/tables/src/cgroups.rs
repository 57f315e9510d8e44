//! `system_cgroups()`: one row per cgroup and hierarchy, v2 and v1 alike.
//!
//! Hierarchies come from the cgroup mounts of `/proc/self/mountinfo`: every `cgroup2` mount
//! is hierarchy `v2`; a `cgroup` (v1) mount is named by its controller list (`cpu,cpuacct`,
//! `memory`) and has rows only if it carries a controller sysmon reads (cpu, cpuacct, memory,
//! blkio, pids): `name=systemd`, `devices`, `freezer`, `cpuset` hierarchies would give rows of
//! NULLs and are left out. A hierarchy mounted twice is walked once. Each hierarchy's tree is
//! walked from its mount point; `path` is the cgroup's path inside the hierarchy (the mount's
//! root, `/` unless a container sees a subtree, joined with the directory). A column comes from
//! the controller that owns it: on a hybrid host the `memory` row has the memory columns and
//! NULL CPU columns, the `cpu` row the reverse.

use super::{HostPath, Now, Table};
use std::path::{Path, PathBuf};
use sysmon_kernel::host;
use sysmon_live::LiveState;

use crate::schema::Timestamp;
use sysmon_kernel::procfs::cgroupfs::{self, V1_UNLIMITED_BYTES};
use sysmon_kernel::procfs::containers;
use sysmon_kernel::procfs::mountinfo::Mount;
use sysmon_kernel::procfs::pressure::{self, PressureLine};
use sysmon_kernel::procfs::{Roots, read_small};

crate::declare_table! {
    /// One row per cgroup directory of each cgroup hierarchy (`hierarchy`, `path`); see the
    /// module text for which hierarchies appear. Cumulative columns count since the cgroup was
    /// created; limits are NULL when unlimited; a column is NULL where the hierarchy's
    /// controllers do not provide it or the kernel lacks the file.
    pub struct CgroupsRow => "system_cgroups", recorded as "cgroups" every process_interval when named {
        /// When the cgroups were read.
        ts: Timestamp [""],
        /// Host name at that time.
        hostname: String [""],
        /// `v2`, or the v1 hierarchy's controllers, e.g. `cpu,cpuacct`, `memory`.
        hierarchy: String [""],
        /// Path of the cgroup inside its hierarchy, `/` for the root, as in /proc/[pid]/cgroup.
        path: String [""],
        /// Container runtime recognised from `path` (`docker`, `podman`, `containerd`, `cri-o`, `kubernetes`, `ecs`, `lxc`, `systemd-nspawn`); NULL for a cgroup outside a container.
        container_runtime: Option<String> [""],
        /// The container's id as its runtime names it (64 hex digits; the name for LXC and nspawn); NULL outside a container.
        container_id: Option<String> [""],
        /// CPU time used by the cgroup's tasks (v2 `cpu.stat` usage_usec, v1 `cpuacct.usage`).
        cpu_usage_seconds: Option<f64> ["seconds"],
        /// CPU time in user mode (v2 user_usec, v1 `cpuacct.usage_user`).
        cpu_user_seconds: Option<f64> ["seconds"],
        /// CPU time in kernel mode (v2 system_usec, v1 `cpuacct.usage_sys`).
        cpu_system_seconds: Option<f64> ["seconds"],
        /// Enforcement periods elapsed with a CPU limit set (`cpu.stat` nr_periods).
        cpu_periods: Option<u64> [""],
        /// Periods in which the cgroup was throttled (`cpu.stat` nr_throttled).
        cpu_throttled_periods: Option<u64> [""],
        /// Time throttled (v2 throttled_usec, v1 throttled_time).
        cpu_throttled_seconds: Option<f64> ["seconds"],
        /// CPU limit in cores (`cpu.max`, v1 cfs_quota_us / cfs_period_us); NULL when unlimited.
        cpu_limit_cores: Option<f64> [""],
        /// Memory in use (v2 `memory.current`, v1 `memory.usage_in_bytes`).
        mem_current_bytes: Option<u64> ["bytes"],
        /// Memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`); NULL when unlimited.
        mem_max_bytes: Option<u64> ["bytes"],
        /// Highest memory use recorded (v2 `memory.peak`, Linux 5.19+; v1 `memory.max_usage_in_bytes`).
        mem_peak_bytes: Option<u64> ["bytes"],
        /// Bytes read from block devices (v2 `io.stat` rbytes, v1 blkio throttle Read), summed over devices.
        io_read_bytes: Option<u64> ["bytes"],
        /// Bytes written to block devices (v2 `io.stat` wbytes, v1 blkio throttle Write).
        io_written_bytes: Option<u64> ["bytes"],
        /// Tasks in the cgroup (`pids.current`).
        pids_current: Option<u64> [""],
        /// Task limit (`pids.max`); NULL when unlimited.
        pids_max: Option<u64> [""],
        /// CPU pressure: share of the last 10 s some task waited for CPU (`cpu.pressure`).
        psi_cpu_some_avg10_pct: Option<f64> ["percent"],
        /// CPU pressure: total time some task waited for CPU.
        psi_cpu_some_total_stall_us: Option<u64> ["microseconds"],
        /// Memory pressure: share of the last 10 s some task stalled on memory (`memory.pressure`).
        psi_memory_some_avg10_pct: Option<f64> ["percent"],
        /// Memory pressure: share of the last 10 s all tasks stalled on memory.
        psi_memory_full_avg10_pct: Option<f64> ["percent"],
        /// Memory pressure: total time some task stalled on memory.
        psi_memory_some_total_stall_us: Option<u64> ["microseconds"],
        /// I/O pressure: share of the last 10 s some task stalled on I/O (`io.pressure`).
        psi_io_some_avg10_pct: Option<f64> ["percent"],
        /// I/O pressure: share of the last 10 s all tasks stalled on I/O.
        psi_io_full_avg10_pct: Option<f64> ["percent"],
        /// I/O pressure: total time some task stalled on I/O.
        psi_io_some_total_stall_us: Option<u64> ["microseconds"],
    }
}

/// The v1 controllers with columns.
const V1_READ: [&str; 5] = ["cpu", "cpuacct", "memory", "blkio", "pids"];

/// A hierarchy to walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// `v2` or the v1 controller list.
    pub name: String,
    /// Where its root is mounted (under the injected roots).
    pub dir: PathBuf,
    /// The mount's root inside the hierarchy.
    pub root: String,
    pub v2: bool,
    pub controllers: Vec<String>,
}

/// The hierarchies of `mounts` that have rows, in mount order, each once.
pub fn hierarchies(roots: &Roots, mounts: &[Mount]) -> Vec<Hierarchy> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for m in mounts {
        let v2 = match m.fs_type.as_str() {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        if seen.contains(&(m.major, m.minor)) {
            continue;
        }
        seen.push((m.major, m.minor));
        let controllers: Vec<String> = if v2 {
            Vec::new()
        } else {
            m.super_options
                .split(',')
                .filter(|o| V1_READ.contains(o) || o.starts_with("name=") || is_v1_controller(o))
                .map(str::to_string)
                .collect()
        };
        if !v2 && !controllers.iter().any(|c| V1_READ.contains(&c.as_str())) {
            continue;
        }
        out.push(Hierarchy {
            name: if v2 { "v2".to_string() } else { controllers.join(",") },
            dir: roots.mount_path(&m.mount_point),
            root: m.root.clone(),
            v2,
            controllers,
        });
    }
    out
}

fn is_v1_controller(o: &str) -> bool {
    matches!(
        o,
        "cpuset" | "devices" | "freezer" | "net_cls" | "net_prio" | "perf_event" | "hugetlb" | "rdma" | "misc"
    )
}

/// Every row below `roots` (hierarchies from `roots.proc/self/mountinfo`).
pub fn collect(roots: &Roots, ts: Timestamp, hostname: &str) -> std::io::Result<Vec<CgroupsRow>> {
    let text = sysmon_kernel::procfs::read_lossy(&roots.proc("self/mountinfo"))?;
    let mounts = Mount::parse_all(&text);
    let mut out = Vec::new();
    for h in hierarchies(roots, &mounts) {
        walk(&h, &h.dir, "", ts, hostname, &mut out);
    }
    Ok(out)
}

/// Rows are capped so a runaway tree cannot exhaust memory.
const MAX_ROWS: usize = 200_000;

fn walk(h: &Hierarchy, dir: &Path, rel: &str, ts: Timestamp, hostname: &str, out: &mut Vec<CgroupsRow>) {
    if out.len() >= MAX_ROWS {
        return;
    }
    let path = join_path(&h.root, rel);
    out.push(read_cgroup(h, dir, path, ts, hostname));
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut children: Vec<String> = rd
        .filter_map(|e| {
            let e = e.ok()?;
            // cgroupfs has no symlinks; file_type never follows one, so no cycles.
            e.file_type()
                .ok()?
                .is_dir()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    children.sort();
    for c in children {
        walk(h, &dir.join(&c), &format!("{rel}/{c}"), ts, hostname, out);
    }
}

fn join_path(root: &str, rel: &str) -> String {
    let root = root.trim_end_matches('/');
    if root.is_empty() && rel.is_empty() {
        "/".to_string()
    } else {
        format!("{root}{rel}")
    }
}

fn read_cgroup(h: &Hierarchy, dir: &Path, path: String, ts: Timestamp, hostname: &str) -> CgroupsRow {
    let read = |f: &str| read_small(&dir.join(f));
    let has = |c: &str| h.v2 || h.controllers.iter().any(|x| x == c);
    let container = containers::recognise(&path);
    let mut r = CgroupsRow {
        ts,
        hostname: hostname.to_string(),
        hierarchy: h.name.clone(),
        path,
        container_runtime: container.as_ref().map(|c| c.runtime.to_string()),
        container_id: container.map(|c| c.id),
        ..CgroupsRow::default()
    };
    let us = |v: u64| v as f64 / 1e6;
    let ns = |v: u64| v as f64 / 1e9;
    if h.v2 {
        if let Some(t) = read("cpu.stat") {
            let k = |key| cgroupfs::flat_keyed(&t, key);
            r.cpu_usage_seconds = k("usage_usec").map(us);
            r.cpu_user_seconds = k("user_usec").map(us);
            r.cpu_system_seconds = k("system_usec").map(us);
            r.cpu_periods = k("nr_periods");
            r.cpu_throttled_periods = k("nr_throttled");
            r.cpu_throttled_seconds = k("throttled_usec").map(us);
        }
        r.cpu_limit_cores = read("cpu.max").and_then(|t| cgroupfs::cpu_max_cores(&t));
        r.mem_current_bytes = read("memory.current").and_then(|t| cgroupfs::number(&t));
        r.mem_max_bytes = read("memory.max").and_then(|t| cgroupfs::limit(&t)).flatten();
        r.mem_peak_bytes = read("memory.peak").and_then(|t| cgroupfs::number(&t));
        if let Some((rd, wr)) = read("io.stat").map(|t| cgroupfs::io_stat_bytes(&t)) {
            r.io_read_bytes = Some(rd);
            r.io_written_bytes = Some(wr);
        }
    } else {
        if has("cpuacct") {
            r.cpu_usage_seconds = read("cpuacct.usage").and_then(|t| cgroupfs::number(&t)).map(ns);
            r.cpu_user_seconds = read("cpuacct.usage_user").and_then(|t| cgroupfs::number(&t)).map(ns);
            r.cpu_system_seconds = read("cpuacct.usage_sys").and_then(|t| cgroupfs::number(&t)).map(ns);
        }
        if has("cpu") {
            if let Some(t) = read("cpu.stat") {
                r.cpu_periods = cgroupfs::flat_keyed(&t, "nr_periods");
                r.cpu_throttled_periods = cgroupfs::flat_keyed(&t, "nr_throttled");
                r.cpu_throttled_seconds = cgroupfs::flat_keyed(&t, "throttled_time").map(ns);
            }
            if let (Some(q), Some(p)) = (read("cpu.cfs_quota_us"), read("cpu.cfs_period_us")) {
                r.cpu_limit_cores = cgroupfs::cfs_quota_cores(&q, &p);
            }
        }
        if has("memory") {
            r.mem_current_bytes = read("memory.usage_in_bytes").and_then(|t| cgroupfs::number(&t));
            r.mem_max_bytes = read("memory.limit_in_bytes")
                .and_then(|t| cgroupfs::number(&t))
                .filter(|&v| v < V1_UNLIMITED_BYTES);
            r.mem_peak_bytes = read("memory.max_usage_in_bytes").and_then(|t| cgroupfs::number(&t));
        }
        if has("blkio")
            && let Some((rd, wr)) = read("blkio.throttle.io_service_bytes_recursive")
                .or_else(|| read("blkio.throttle.io_service_bytes"))
                .and_then(|t| cgroupfs::blkio_bytes(&t))
        {
            r.io_read_bytes = Some(rd);
            r.io_written_bytes = Some(wr);
        }
    }
    if has("pids") {
        r.pids_current = read("pids.current").and_then(|t| cgroupfs::number(&t));
        r.pids_max = read("pids.max").and_then(|t| cgroupfs::limit(&t)).flatten();
    }
    let psi = |f: &str| -> Vec<PressureLine> { read(f).map(|t| pressure::parse(&t)).unwrap_or_default() };
    let pick = |lines: &[PressureLine], full: bool| lines.iter().find(|l| l.full == full).copied();
    let cpu = psi("cpu.pressure");
    if let Some(l) = pick(&cpu, false) {
        r.psi_cpu_some_avg10_pct = Some(l.avg10_pct);
        r.psi_cpu_some_total_stall_us = Some(l.total_us);
    }
    let mem = psi("memory.pressure");
    if let Some(l) = pick(&mem, false) {
        r.psi_memory_some_avg10_pct = Some(l.avg10_pct);
        r.psi_memory_some_total_stall_us = Some(l.total_us);
    }
    r.psi_memory_full_avg10_pct = pick(&mem, true).map(|l| l.avg10_pct);
    let io = psi("io.pressure");
    if let Some(l) = pick(&io, false) {
        r.psi_io_some_avg10_pct = Some(l.avg10_pct);
        r.psi_io_some_total_stall_us = Some(l.total_us);
    }
    r.psi_io_full_avg10_pct = pick(&io, true).map(|l| l.avg10_pct);
    r
}

/// `system_cgroups()`.
pub struct Cgroups;

impl Table for Cgroups {
    type Row = CgroupsRow;
    type Options = ();
    type Input = Now;
    const SUMMARY: &'static str = "One row per (hierarchy, cgroup): CPU, memory, I/O, pids, limits and pressure.";
    const EXAMPLE: &'static str = "SELECT hierarchy, path, mem_current_bytes, cpu_usage_seconds FROM system_cgroups() ORDER BY mem_current_bytes DESC NULLS LAST LIMIT 10";
    const FILES: &'static [&'static str] = &["/proc/self/mountinfo", "/sys/fs/cgroup"];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Proc, HostPath::Sys];

    fn rows(_: &Now, state: &LiveState, _: &()) -> std::io::Result<Vec<CgroupsRow>> {
        let roots = state.roots();
        collect(roots, Timestamp::now(), &host::hostname()).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot read {}: {e}", roots.proc("self/mountinfo").display()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(rows: &'a [CgroupsRow], h: &str, p: &str) -> &'a CgroupsRow {
        rows.iter()
            .find(|r| r.hierarchy == h && r.path == p)
            .unwrap_or_else(|| panic!("no row {h} {p}"))
    }

    #[test]
    fn v2_tree() {
        let rows = collect(&Roots::test_fixture("cgroup-v2"), Timestamp::from_micros(0), "h").unwrap();
        let keys: Vec<_> = rows.iter().map(|r| format!("{} {}", r.hierarchy, r.path)).collect();
        assert_eq!(
            keys,
            [
                "v2 /",
                "v2 /system.slice",
                "v2 /system.slice/docker-abc.scope",
                "v2 /system.slice/my svc é.service",
                "v2 /user.slice"
            ]
        );
        let root = find(&rows, "v2", "/");
        assert_eq!(root.cpu_usage_seconds, Some(347.914015));
        assert_eq!(root.cpu_limit_cores, None, "the root has no cpu.max");
        assert_eq!(root.mem_max_bytes, None);
        assert_eq!(root.psi_cpu_some_avg10_pct, Some(0.8));
        let c = find(&rows, "v2", "/system.slice/docker-abc.scope");
        assert_eq!(c.cpu_limit_cores, Some(1.5));
        assert_eq!(c.cpu_throttled_periods, Some(42));
        assert_eq!(c.cpu_throttled_seconds, Some(2.5));
        assert_eq!(c.mem_current_bytes, Some(104857600));
        assert_eq!(c.mem_max_bytes, Some(536870912));
        assert_eq!(c.mem_peak_bytes, Some(209715200));
        assert_eq!(c.io_read_bytes, Some(1_000_100));
        assert_eq!(c.io_written_bytes, Some(2_000_200));
        assert_eq!(c.pids_current, Some(12));
        assert_eq!(c.pids_max, Some(100));
        assert_eq!(c.psi_memory_full_avg10_pct, Some(1.5));
        assert_eq!(c.psi_io_some_total_stall_us, Some(777));
        let s = find(&rows, "v2", "/system.slice/my svc é.service");
        assert_eq!(s.cpu_limit_cores, None, "cpu.max is max");
        assert_eq!(s.mem_max_bytes, None, "memory.max is max");
        assert_eq!(s.pids_max, None);
        assert_eq!(s.mem_peak_bytes, None, "no memory.peak before Linux 5.19");
        assert_eq!(s.cpu_usage_seconds, None, "garbage cpu.stat");
        assert_eq!(s.mem_current_bytes, None, "truncated memory.current");
    }

    #[test]
    fn v1_hybrid_tree() {
        let rows = collect(&Roots::test_fixture("cgroup-v1"), Timestamp::from_micros(0), "h").unwrap();
        let hs: Vec<_> = rows.iter().map(|r| r.hierarchy.as_str()).collect();
        assert!(!hs.contains(&"name=systemd") && !hs.contains(&"devices"), "{hs:?}");
        assert_eq!(rows.iter().filter(|r| r.hierarchy == "cpu,cpuacct").count(), 3);
        let cpu = find(&rows, "cpu,cpuacct", "/docker/abc");
        assert_eq!(cpu.cpu_limit_cores, Some(0.5));
        assert_eq!(cpu.cpu_usage_seconds, Some(12.5));
        assert_eq!(cpu.cpu_user_seconds, Some(10.0));
        assert_eq!(cpu.cpu_throttled_periods, Some(3));
        assert_eq!(cpu.cpu_throttled_seconds, Some(0.25));
        assert_eq!(cpu.mem_current_bytes, None, "memory lives in the memory hierarchy");
        assert_eq!(find(&rows, "cpu,cpuacct", "/").cpu_limit_cores, None, "quota -1");
        // The memory hierarchy is bind-mounted from a subtree: paths carry the mount's root.
        let m = find(&rows, "memory", "/process_api/job 1");
        assert_eq!(m.mem_current_bytes, Some(21475328));
        assert_eq!(m.mem_max_bytes, Some(268435456));
        assert_eq!(m.mem_peak_bytes, Some(39440384));
        assert_eq!(m.cpu_usage_seconds, None);
        let mroot = find(&rows, "memory", "/process_api");
        assert_eq!(
            mroot.mem_max_bytes, None,
            "the v1 sentinel 9223372036854771712 is unlimited"
        );
        let b = find(&rows, "blkio", "/");
        assert_eq!((b.io_read_bytes, b.io_written_bytes), (Some(4096), Some(8192)));
        let p = find(&rows, "pids", "/docker/abc");
        assert_eq!((p.pids_current, p.pids_max), (Some(5), None));
        assert_eq!(
            find(&rows, "pids", "/").pids_current,
            None,
            "the root has no pids.current"
        );
        assert!(rows.iter().any(|r| r.hierarchy == "v2" && r.path == "/"));
    }

    #[test]
    fn containers_by_runtime() {
        let rows = collect(&Roots::test_fixture("containers"), Timestamp::from_micros(0), "h").unwrap();
        let tagged: Vec<String> = rows
            .iter()
            .filter_map(|r| {
                let (rt, id) = (r.container_runtime.as_deref()?, r.container_id.as_deref()?);
                Some(format!("{} {} {rt} {}", r.hierarchy, r.path, &id[..id.len().min(8)]))
            })
            .collect();
        let pod =
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f3e2a1b_9c8d_4e7f_a6b5_c4d3e2f1a0b9.slice";
        let id = |two: &str| two.repeat(32);
        assert_eq!(
            tagged,
            [
                format!("v2 /{pod}/cri-containerd-{}.scope containerd 3f3f3f3f", id("3f")),
                format!("v2 /{pod}/crio-{}.scope cri-o 4a4a4a4a", id("4a")),
                "v2 /lxc.payload.web01 lxc web01".to_string(),
                format!("v2 /machine.slice/libpod-{}.scope podman 2e2e2e2e", id("2e")),
                format!("v2 /machine.slice/libpod-{}.scope/container podman 2e2e2e2e", id("2e")),
                "v2 /machine.slice/systemd-nspawn@debian.service systemd-nspawn debian".to_string(),
                format!("v2 /system.slice/docker-{}.scope docker 1d1d1d1d", id("1d")),
                format!("memory /docker/{} docker 6c6c6c6c", id("6c")),
                format!(
                    "memory /kubepods/besteffort/pod0f3e2a1b-9c8d-4e7f-a6b5-c4d3e2f1a0b9/{} kubernetes 5b5b5b5b",
                    id("5b")
                ),
                format!("memory /libpod_parent/libpod-{} podman 7d7d7d7d", id("7d")),
                "memory /lxc/101 lxc 101".to_string(),
            ]
        );
        // Full ids, and NULL for everything else: roots, slices, pods, daemons, monitors.
        let docker = find(&rows, "v2", &format!("/system.slice/docker-{}.scope", id("1d")));
        assert_eq!(docker.container_id.as_deref(), Some(id("1d").as_str()));
        for p in [
            "/",
            "/system.slice/docker.service",
            "/lxc.monitor.web01",
            &format!("/machine.slice/libpod-conmon-{}.scope", id("2e")),
            &format!("/{pod}"),
        ] {
            let r = find(&rows, "v2", p);
            assert_eq!((&r.container_runtime, &r.container_id), (&None, &None), "{p}");
        }
        assert_eq!(
            rows.iter().filter(|r| r.container_id.is_none()).count(),
            rows.len() - 11
        );
    }

    #[test]
    fn no_mountinfo_is_an_error_and_no_cgroups_no_rows() {
        assert!(collect(&Roots::test_fixture("old-kernel"), Timestamp::from_micros(0), "h").is_err());
        let m = vec![Mount::parse_line("36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices").unwrap()];
        assert!(hierarchies(&Roots::test_fixture("cgroup-v1"), &m).is_empty());
    }

    #[test]
    fn live_host_has_rows_for_own_cgroup() {
        let rows = collect(&Roots::default(), Timestamp::now(), "h").unwrap();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        // Every hierarchy sysmon reads that the process is in has a row for its path.
        for line in own.lines() {
            let mut f = line.splitn(3, ':');
            let (_, ctl, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let h = if ctl.is_empty() {
                "v2".to_string()
            } else {
                ctl.to_string()
            };
            let read = h == "v2" || ctl.split(',').any(|c| V1_READ.contains(&c));
            if read && rows.iter().any(|r| r.hierarchy == h) {
                assert!(rows.iter().any(|r| r.hierarchy == h && r.path == path), "{h} {path}");
            }
        }
    }
}
