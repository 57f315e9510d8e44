//! The tables: one module per SQL table function, each with its row declaration and the code
//! that turns samples into rows.
//!
//! | SQL function | module | recorder folder |
//! |---|---|---|
//! | `system_info()` | [`info`] | (not recorded: static) |
//! | `system_metrics()` | [`metrics`] | `metrics/` |
//! | `system_cpus()` | [`cpus`] | `cpus/` |
//! | `system_disks()` | [`disks`] | `disks/` |
//! | `system_filesystems()` | [`filesystems`] | `filesystems/` |
//! | `system_networks()` | [`networks`] | `networks/` |
//! | `system_net_protocols()` | [`net_protocols`] | `net_protocols/` |
//! | `system_processes()` | [`processes`] | `processes/` |
//! | `system_pressure()` | [`pressure`] | `pressure/` |
//! | `system_sensors()` | [`sensors`] | `sensors/` |
//! | `system_cgroups()` | [`cgroups`] | `cgroups/` |
//! | `system_gpus()` | [`gpus`] | `gpus/` |

pub mod cgroups;
pub mod cpus;
pub mod disks;
pub mod filesystems;
pub mod gpus;
pub mod info;
pub mod metrics;
pub mod net_protocols;
pub mod networks;
pub mod pressure;
pub mod processes;
pub mod sensors;

use crate::host;
use crate::procfs::stat::CpuTimes;
use crate::schema::{Row, TableDecl};

/// Every table, in the README's order.
pub const ALL_TABLES: &[&TableDecl] = &[
    info::InfoRow::TABLE,
    metrics::MetricsRow::TABLE,
    cpus::CpusRow::TABLE,
    disks::DisksRow::TABLE,
    filesystems::FilesystemsRow::TABLE,
    networks::NetworksRow::TABLE,
    net_protocols::NetProtocolsRow::TABLE,
    processes::ProcessesRow::TABLE,
    pressure::PressureRow::TABLE,
    sensors::SensorsRow::TABLE,
    cgroups::CgroupsRow::TABLE,
    gpus::GpusRow::TABLE,
];

/// Milliseconds as the kernel counts them, as seconds.
pub fn ms_to_seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The per-second rate of a counter that went from `before` to `after` in `window_seconds`;
/// `None` for an empty window or a counter that went backwards (reset, device re-created).
pub fn rate(before: u64, after: u64, window_seconds: f64) -> Option<f64> {
    if window_seconds <= 0.0 || after < before {
        return None;
    }
    Some((after - before) as f64 / window_seconds)
}

/// Clock ticks as seconds (the fraction kept: 1 tick is 10 ms at `USER_HZ` 100).
pub fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / host::clock_ticks_per_sec() as f64
}

/// Cumulative CPU seconds by mode, `None` where the kernel does not report the mode.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuSeconds {
    pub user: Option<f64>,
    pub nice: Option<f64>,
    pub system: Option<f64>,
    pub idle: Option<f64>,
    pub iowait: Option<f64>,
    pub irq: Option<f64>,
    pub softirq: Option<f64>,
    pub steal: Option<f64>,
    pub guest: Option<f64>,
    pub guest_nice: Option<f64>,
}

impl CpuSeconds {
    pub fn from_ticks(t: Option<&CpuTimes>) -> CpuSeconds {
        let Some(t) = t else { return CpuSeconds::default() };
        let s = |v: Option<u64>| v.map(ticks_to_seconds);
        CpuSeconds {
            user: s(Some(t.user)),
            nice: s(Some(t.nice)),
            system: s(Some(t.system)),
            idle: s(Some(t.idle)),
            iowait: s(t.iowait),
            irq: s(t.irq),
            softirq: s(t.softirq),
            steal: s(t.steal),
            guest: s(t.guest),
            guest_nice: s(t.guest_nice),
        }
    }
}

/// Share of the window spent in each mode, in percent. `None` when the window saw no tick
/// (too short for the kernel's 10 ms resolution) or the mode is not reported.
///
/// The total of a window leaves guest and guest_nice out (already inside user and nice);
/// busy = total − idle − iowait, as top and psutil count it. A counter that went backwards
/// (iowait does on some kernels) counts as no change.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuPct {
    pub busy: Option<f64>,
    pub user: Option<f64>,
    pub nice: Option<f64>,
    pub system: Option<f64>,
    pub idle: Option<f64>,
    pub iowait: Option<f64>,
    pub irq: Option<f64>,
    pub softirq: Option<f64>,
    pub steal: Option<f64>,
}

impl CpuPct {
    pub fn between(base: Option<&CpuTimes>, now: Option<&CpuTimes>) -> CpuPct {
        let (Some(b), Some(n)) = (base, now) else {
            return CpuPct::default();
        };
        let d = |a: u64, b: u64| b.saturating_sub(a);
        let dopt = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let user = d(b.user, n.user);
        let nice = d(b.nice, n.nice);
        let system = d(b.system, n.system);
        let idle = d(b.idle, n.idle);
        let iowait = dopt(b.iowait, n.iowait);
        let irq = dopt(b.irq, n.irq);
        let softirq = dopt(b.softirq, n.softirq);
        let steal = dopt(b.steal, n.steal);
        let total = user
            + nice
            + system
            + idle
            + iowait.unwrap_or(0)
            + irq.unwrap_or(0)
            + softirq.unwrap_or(0)
            + steal.unwrap_or(0);
        if total == 0 {
            return CpuPct::default();
        }
        let pct = |v: u64| Some(100.0 * v as f64 / total as f64);
        let pct_opt = |v: Option<u64>| v.and_then(pct);
        CpuPct {
            busy: pct(total - idle - iowait.unwrap_or(0)),
            user: pct(user),
            nice: pct(nice),
            system: pct(system),
            idle: pct(idle),
            iowait: pct_opt(iowait),
            irq: pct_opt(irq),
            softirq: pct_opt(softirq),
            steal: pct_opt(steal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(user: u64, idle: u64, iowait: u64, guest: u64) -> CpuTimes {
        CpuTimes {
            user,
            nice: 0,
            system: 10,
            idle,
            iowait: Some(iowait),
            irq: Some(0),
            softirq: Some(0),
            steal: Some(0),
            guest: Some(guest),
            guest_nice: Some(0),
        }
    }

    #[test]
    fn busy_leaves_out_idle_iowait_and_guest() {
        let a = times(100, 1000, 10, 50);
        let b = times(150, 1040, 20, 90);
        // deltas: user 50, idle 40, iowait 10, system 0; total 100 (guest not added).
        let p = CpuPct::between(Some(&a), Some(&b));
        assert_eq!(p.busy, Some(50.0));
        assert_eq!(p.user, Some(50.0));
        assert_eq!(p.idle, Some(40.0));
        assert_eq!(p.iowait, Some(10.0));
        assert_eq!(p.steal, Some(0.0));
    }

    #[test]
    fn no_tick_means_null_and_backwards_counts_as_zero() {
        let a = times(100, 1000, 10, 0);
        assert_eq!(CpuPct::between(Some(&a), Some(&a)), CpuPct::default());
        let b = times(110, 1010, 5, 0);
        let p = CpuPct::between(Some(&a), Some(&b));
        assert_eq!(p.iowait, Some(0.0));
        assert_eq!(p.busy, Some(50.0));
        assert_eq!(CpuPct::between(None, Some(&a)), CpuPct::default());
    }

    #[test]
    fn seconds_keep_the_fraction() {
        let hz = host::clock_ticks_per_sec() as f64;
        let s = CpuSeconds::from_ticks(Some(&times(1, 3, 0, 0)));
        assert_eq!(s.user, Some(1.0 / hz));
        assert_eq!(s.idle, Some(3.0 / hz));
        assert_eq!(CpuSeconds::from_ticks(None).user, None);
    }

    #[test]
    fn readme_reference_is_current() {
        use crate::schema::{markdown_reference, splice_reference};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let updated =
            splice_reference(&readme, &markdown_reference(&crate::reference_tables())).expect("README markers");
        assert!(
            updated == readme,
            "README.md's column reference differs from the table declarations: run `make docs`"
        );
    }

    #[test]
    fn column_names_follow_the_naming_rules() {
        for t in crate::reference_tables() {
            for c in t.columns {
                assert!(
                    c.name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{}.{} is not snake_case",
                    t.function,
                    c.name
                );
                let units = [
                    ("_bytes", "bytes"),
                    ("_seconds", "seconds"),
                    ("_pct", "percent"),
                    ("_mhz", "MHz"),
                    ("_bytes_per_sec", "bytes/s"),
                    ("_bits_per_sec", "bits/s"),
                    ("_packets_per_sec", "packets/s"),
                    ("_segs_per_sec", "segments/s"),
                    ("_datagrams_per_sec", "datagrams/s"),
                    ("_iops", "1/s"),
                    ("_celsius", "celsius"),
                    ("_rpm", "rpm"),
                    ("_watts", "watts"),
                    ("_us", "microseconds"),
                    ("_ms", "milliseconds"),
                ];
                if c.name.ends_with("_per_sec") {
                    assert!(
                        c.unit.ends_with("/s") || c.unit == "Hz",
                        "{}.{} has unit {}",
                        t.function,
                        c.name,
                        c.unit
                    );
                }
                for (suffix, unit) in [
                    ("_us", "microseconds"),
                    ("_ms", "milliseconds"),
                    ("_celsius", "celsius"),
                ] {
                    if c.unit == unit {
                        assert!(
                            c.name.ends_with(suffix),
                            "{}.{}: unit {unit} needs suffix {suffix}",
                            t.function,
                            c.name
                        );
                    }
                }
                for (suffix, unit) in units {
                    if c.name.ends_with(suffix) {
                        assert_eq!(c.unit, unit, "{}.{}", t.function, c.name);
                    }
                }
            }
        }
    }
}
