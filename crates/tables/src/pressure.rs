//! `system_pressure()`: Linux pressure stall information, one row per resource and kind.

use std::io;

use super::{HostPath, HostWindow, Table};
use crate::schema::Timestamp;
use sysmon_kernel::sample::{HostSample, PRESSURE_RESOURCES};
use sysmon_live::LiveState;

crate::declare_table! {
    /// One row per line of /proc/pressure/{cpu,memory,io,irq}: a resource and a kind. No rows
    /// where the kernel has no PSI (before Linux 4.20, or booted without `psi=1` where the
    /// build defaults it off); `irq` rows only on kernels with IRQ time accounting (6.1+).
    /// `stall_pct` covers the window that ends at `ts` and lasts `window_seconds`.
    pub struct PressureRow => "system_pressure", recorded as "pressure" every interval {
        /// When the sample was taken.
        ts: Timestamp [""],
        /// Host name at the sample time.
        hostname: String [""],
        /// `cpu`, `memory`, `io` or `irq`.
        resource: String [""],
        /// `some` (at least one task stalled) or `full` (all non-idle tasks stalled).
        kind: String [""],
        /// Share of the last 10 s stalled, as the kernel averages it.
        avg10_pct: f64 ["percent"],
        /// Share of the last 60 s stalled.
        avg60_pct: f64 ["percent"],
        /// Share of the last 300 s stalled.
        avg300_pct: f64 ["percent"],
        /// Stall time since boot.
        total_stall_us: u64 ["microseconds"],
        /// Share of the window stalled (from `total_stall_us`); NULL if the line is new in the window.
        stall_pct: Option<f64> ["percent"],
        /// Length of the window `stall_pct` covers (monotonic clock, to 2⁻²⁰ s ≈ 1 µs).
        window_seconds: f64 ["seconds"],
    }
}

/// The rows for the window from `base` to `now`.
pub fn rows(base: &HostSample, now: &HostSample) -> Vec<PressureRow> {
    let window = now.instant.saturating_duration_since(base.instant);
    let window_seconds = super::seconds_of(window);
    let window_us = window_seconds * 1e6;
    now.pressure
        .iter()
        .map(|(res, line)| {
            let before = base
                .pressure
                .iter()
                .find(|(r, l)| r == res && l.full == line.full)
                .map(|(_, l)| l.total_us);
            let stall_pct = before
                .filter(|&b| b <= line.total_us && window_us > 0.0)
                .map(|b| (100.0 * (line.total_us - b) as f64 / window_us).min(100.0));
            PressureRow {
                ts: now.ts,
                hostname: now.hostname.clone(),
                resource: PRESSURE_RESOURCES.get(*res).copied().unwrap_or("unknown").to_string(),
                kind: line.kind().to_string(),
                avg10_pct: line.avg10_pct,
                avg60_pct: line.avg60_pct,
                avg300_pct: line.avg300_pct,
                total_stall_us: line.total_us,
                stall_pct,
                window_seconds,
            }
        })
        .collect()
}

/// `system_pressure()`.
pub struct Pressure;

impl Table for Pressure {
    type Row = PressureRow;
    type Options = ();
    type Input = HostWindow;
    const SUMMARY: &'static str =
        "One row per pressure stall (PSI) resource and kind; none where the kernel has no PSI.";
    const EXAMPLE: &'static str = "SELECT resource, kind, avg10_pct, stall_pct FROM system_pressure()";
    const FILES: &'static [&'static str] = &[];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Proc, HostPath::Sys];

    fn rows(w: &HostWindow, _: &LiveState, _: &()) -> io::Result<Vec<PressureRow>> {
        Ok(rows(&w.base, &w.now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use sysmon_kernel::procfs::Roots;
    use sysmon_kernel::sample::Collector;

    #[test]
    fn rows_per_resource_and_kind() {
        let mut c = Collector::new(Roots::test_fixture("modern"));
        let base = c.sample().unwrap();
        let mut now = base.clone();
        now.instant += Duration::from_secs(1);
        now.pressure[0].1.total_us += 250_000;
        let r = rows(&base, &now);
        let keys: Vec<_> = r.iter().map(|r| format!("{}/{}", r.resource, r.kind)).collect();
        assert_eq!(
            keys,
            [
                "cpu/some",
                "cpu/full",
                "memory/some",
                "memory/full",
                "io/some",
                "io/full"
            ]
        );
        assert_eq!(r[0].stall_pct, Some(25.0));
        assert_eq!(r[1].stall_pct, Some(0.0));
        assert_eq!(r[0].window_seconds, 1.0);
    }

    #[test]
    fn no_psi_no_rows() {
        let mut c = Collector::new(Roots::test_fixture("old-kernel"));
        let s = c.sample().unwrap();
        assert!(rows(&s, &s).is_empty());
    }
}
