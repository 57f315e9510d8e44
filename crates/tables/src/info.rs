//! `system_info()`: static facts about the host, one row.

use std::io;

use super::{HostPath, Projection, Table};
use std::collections::HashSet;
use sysmon_live::LiveState;

use crate::gpus;
use crate::schema::{Row, Timestamp};
use sysmon_kernel::host;
use sysmon_kernel::procfs::meminfo::MemInfo;
use sysmon_kernel::procfs::stat::Stat;
use sysmon_kernel::procfs::{Roots, cpuinfo, read_small, read_trimmed};

crate::declare_table! {
    /// One row: what the host is. Static facts, read on every call.
    pub struct InfoRow => "system_info" {
        /// Host name (`uname -n`).
        hostname: String [""],
        /// Operating system name (`NAME` of os-release), NULL without os-release.
        os_name: Option<String> [""],
        /// Operating system version (`VERSION_ID`, else `VERSION`, of os-release).
        os_version: Option<String> [""],
        /// Kernel release (`uname -r`).
        kernel_version: String [""],
        /// Machine architecture (`uname -m`), e.g. `x86_64`, `aarch64`.
        arch: String [""],
        /// CPU model name from /proc/cpuinfo; NULL where the architecture does not print one.
        cpu_model: Option<String> [""],
        /// Online logical CPUs (as `os.cpu_count()` and `nproc --all` on a host with all CPUs online).
        logical_cpus: i32 [""],
        /// Distinct physical cores (package, core) from sysfs topology or /proc/cpuinfo; NULL if neither tells.
        physical_cores: Option<i32> [""],
        /// Physical memory usable by the kernel (`MemTotal`).
        mem_total_bytes: Option<u64> ["bytes"],
        /// When the host booted (`btime` of /proc/stat).
        boot_time: Option<Timestamp> [""],
        /// Memory page size.
        page_size_bytes: Option<u64> ["bytes"],
        /// Kernel clock ticks per second (`USER_HZ`): the resolution of every CPU time.
        clock_ticks_per_sec: u64 ["Hz"],
        /// sysmon's version, as `duckdb_extensions()` shows it: `v0.x.y`, with `-<git hash>` for a build that is not a tagged release.
        extension_version: String [""],
        /// Whether NVIDIA's NVML (`libnvidia-ml.so.1`, installed with the driver) could be opened and initialised: `system_gpus()` has rows only then.
        nvml_available: bool [""],
        /// The NVIDIA driver's version as NVML reports it (e.g. `580.159.04`); NULL without NVML.
        nvidia_driver_version: Option<String> [""],
    }
}

/// sysmon's version: the string the build writes into the extension's metadata footer
/// (`SYSMON_EXTENSION_VERSION`, set by the Makefile from `scripts/version.py`), else
/// `v` + the Cargo workspace version.
pub const EXTENSION_VERSION: &str = match option_env!("SYSMON_EXTENSION_VERSION") {
    Some(v) => v,
    None => concat!("v", env!("CARGO_PKG_VERSION")),
};

/// Reads the facts for `system_info()` below `roots`; `nvml` is NVML's state (whether it is
/// available, the driver's version: see [`gpus::driver`]).
pub fn collect(roots: &Roots, nvml: (bool, Option<String>)) -> std::io::Result<InfoRow> {
    collect_columns(roots, &Projection::default(), || nvml)
}

/// [`collect`] of the columns `projection` names: a file (or NVML) that only columns left out
/// need is not read, and their fields stay empty (`hostname` alone is one `uname`).
pub fn collect_columns(
    roots: &Roots,
    projection: &Projection,
    nvml: impl FnOnce() -> (bool, Option<String>),
) -> std::io::Result<InfoRow> {
    let wants = |names: &[&str]| projection.reads_any(InfoRow::TABLE, names);
    let want_cores = wants(&["physical_cores"]);
    let stat = match wants(&["logical_cpus", "physical_cores", "boot_time"]) {
        true => Stat::parse(&std::fs::read_to_string(roots.proc("stat"))?),
        false => Stat::default(),
    };
    let mem = match wants(&["mem_total_bytes"]) {
        true => read_small(&roots.proc("meminfo"))
            .map(|t| MemInfo::parse(&t))
            .unwrap_or_default(),
        false => MemInfo::default(),
    };
    let cpus = match wants(&["cpu_model"]) || want_cores {
        true => read_small(&roots.proc("cpuinfo"))
            .map(|t| cpuinfo::parse(&t))
            .unwrap_or_default(),
        false => Vec::new(),
    };
    let (os_name, os_version) = match wants(&["os_name", "os_version"]) {
        true => host::os_release(&roots.etc),
        false => (None, None),
    };
    let u = match wants(&["hostname", "kernel_version", "arch"]) {
        true => host::uname(),
        false => host::Uname::default(),
    };
    let (nvml_available, nvidia_driver_version) = match wants(&["nvml_available", "nvidia_driver_version"]) {
        true => nvml(),
        false => (false, None),
    };
    Ok(InfoRow {
        hostname: u.nodename,
        os_name,
        os_version,
        kernel_version: u.release,
        arch: u.machine,
        cpu_model: cpus.iter().find_map(|c| c.model_name.clone()),
        logical_cpus: i32::try_from(stat.cpus.len()).unwrap_or(i32::MAX),
        physical_cores: match want_cores {
            true => physical_cores(roots, &stat, &cpus),
            false => None,
        },
        mem_total_bytes: mem.total,
        boot_time: stat
            .boot_time
            .and_then(|s| i64::try_from(s).ok())
            .map(|s| Timestamp::from_micros(s.saturating_mul(1_000_000))),
        page_size_bytes: host::page_size_bytes(),
        clock_ticks_per_sec: host::clock_ticks_per_sec(),
        extension_version: EXTENSION_VERSION.to_string(),
        nvml_available,
        nvidia_driver_version,
    })
}

/// Distinct (package, core) pairs of the online CPUs: sysfs topology first, cpuinfo second.
fn physical_cores(roots: &Roots, stat: &Stat, cpus: &[cpuinfo::CpuInfo]) -> Option<i32> {
    let mut cores = HashSet::new();
    for c in &stat.cpus {
        let topo = roots.sys(&format!("devices/system/cpu/cpu{}/topology", c.cpu));
        let pkg = read_trimmed(&topo.join("physical_package_id")).and_then(|s| s.parse::<i64>().ok());
        let core = read_trimmed(&topo.join("core_id")).and_then(|s| s.parse::<i64>().ok());
        match (pkg, core) {
            (Some(p), Some(c)) => {
                cores.insert((p, c));
            }
            _ => {
                cores.clear();
                break;
            }
        }
    }
    if cores.is_empty() {
        for c in cpus {
            if let (Some(p), Some(core)) = (c.physical_id, c.core_id) {
                cores.insert((i64::from(p), i64::from(core)));
            }
        }
    }
    if cores.is_empty() {
        None
    } else {
        i32::try_from(cores.len()).ok()
    }
}

/// `system_info()`.
pub struct Info;

impl Table for Info {
    type Row = InfoRow;
    type Options = ();
    type Input = Projection;
    const SUMMARY: &'static str =
        "One row: what the host is (name, OS, kernel, CPU model and count, memory, boot time).";
    const EXAMPLE: &'static str =
        "SELECT hostname, os_name, kernel_version, logical_cpus, mem_total_bytes FROM system_info()";
    const FILES: &'static [&'static str] = &[
        "/proc/stat",
        "/proc/meminfo",
        "/proc/cpuinfo",
        "/sys/devices/system/cpu",
        "/etc/os-release",
        "/usr/lib/os-release",
    ];
    const HOST_PATHS: &'static [HostPath] = &[
        HostPath::Proc,
        HostPath::Sys,
        HostPath::EtcFile("os-release"),
        HostPath::EtcFile("../usr/lib/os-release"),
    ];

    /// Only what the query's columns need is read.
    fn rows(input: &Projection, state: &LiveState, _: &()) -> io::Result<Vec<InfoRow>> {
        Ok(vec![collect_columns(state.roots(), input, || gpus::driver(state))?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixture_facts() {
        let r = collect(&Roots::test_fixture("modern"), (false, None)).unwrap();
        assert_eq!(r.logical_cpus, 2);
        assert_eq!(
            r.physical_cores,
            Some(1),
            "sysfs topology: both CPUs on core 0 of package 0"
        );
        assert_eq!(r.cpu_model.as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(r.os_name.as_deref(), Some("Debian GNU/Linux"));
        assert_eq!(r.os_version.as_deref(), Some("12"));
        assert_eq!(r.mem_total_bytes, Some(4_028_536 * 1024));
        assert_eq!(r.boot_time, Some(Timestamp::from_micros(1_700_000_000 * 1_000_000)));
    }

    #[test]
    fn only_the_projected_columns_are_read() {
        let roots = Roots::test_fixture("modern");
        let all = collect(&roots, (true, Some("1.0".into()))).unwrap();
        let index = |name: &str| InfoRow::TABLE.columns.iter().position(|c| c.name == name).unwrap();
        let some = |names: &[&str]| Projection {
            columns: Some(names.iter().map(|n| index(n)).collect()),
        };
        let called = std::cell::Cell::new(false);
        let r = collect_columns(&roots, &some(&["hostname"]), || {
            called.set(true);
            (true, None)
        })
        .unwrap();
        assert!(!called.get(), "NVML is not asked for a hostname");
        assert_eq!(r.hostname, all.hostname);
        assert_eq!(
            (r.cpu_model, r.os_name, r.mem_total_bytes, r.boot_time),
            (None, None, None, None)
        );
        // Every column asked for alone has the value it has among all.
        let r = collect_columns(&roots, &some(&["physical_cores", "boot_time", "os_version"]), || {
            (false, None)
        })
        .unwrap();
        assert_eq!((r.physical_cores, r.boot_time), (all.physical_cores, all.boot_time));
        assert_eq!(r.os_version, all.os_version);
        let r = collect_columns(&roots, &some(&["cpu_model", "logical_cpus", "mem_total_bytes"]), || {
            (false, None)
        })
        .unwrap();
        assert_eq!(
            (r.cpu_model, r.logical_cpus, r.mem_total_bytes),
            (all.cpu_model, all.logical_cpus, all.mem_total_bytes)
        );
        let r = collect_columns(&roots, &some(&["nvidia_driver_version"]), || (true, Some("1.0".into()))).unwrap();
        assert_eq!((r.nvml_available, r.nvidia_driver_version), (true, Some("1.0".into())));
    }

    #[test]
    fn old_kernel_fixture_has_nulls() {
        let r = collect(&Roots::test_fixture("old-kernel"), (false, None)).unwrap();
        assert_eq!(r.cpu_model, None);
        assert_eq!(r.physical_cores, None);
        assert_eq!(r.os_name, None);
        assert_eq!(r.boot_time, None);
    }

    #[test]
    fn live_host_matches_independent_reads() {
        let r = collect(&Roots::default(), (false, None)).unwrap();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kb: u64 = meminfo
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(r.mem_total_bytes, Some(kb * 1024));
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
        assert!(r.logical_cpus as usize >= n);
    }
}
