//! `system_cpus()`: one row per logical CPU.

use std::io;

use super::{HostPath, HostWindow, Table};
use std::collections::HashMap;
use sysmon_live::LiveState;

use super::{CpuColumns, window_seconds};
use crate::schema::Timestamp;
pub use sysmon_kernel::readers::freq::{CPUINFO_MAX_AGE, FreqReader, frequencies};
use sysmon_kernel::sample::HostSample;

crate::declare_table! {
    /// One row per online logical CPU. Cumulative columns count since boot; `_pct` columns
    /// cover the window that ends at `ts` and lasts `window_seconds`.
    pub struct CpusRow => "system_cpus", recorded as "cpus" every interval {
        /// When the sample was taken.
        ts: Timestamp [""],
        /// Host name at the sample time.
        hostname: String [""],
        /// Logical CPU id (the N of cpuN), from 0.
        cpu: i32 [""],
        /// This CPU's times and their shares of the window.
        cpu_times: CpuColumns [..],
        /// Current clock (cpufreq `scaling_cur_freq`, else `cpu MHz` of /proc/cpuinfo); NULL where the kernel reports neither.
        freq_mhz: Option<f64> ["MHz"],
    }
}

/// One row per CPU of `now`, over the window from `base`. A CPU absent from `base` (brought
/// online meanwhile) has NULL percentages.
pub fn rows(base: &HostSample, now: &HostSample, freq_mhz: &HashMap<u32, f64>) -> Vec<CpusRow> {
    let window = window_seconds(base, now);
    now.stat
        .cpus
        .iter()
        .map(|c| {
            let before = base.stat.cpus.iter().find(|b| b.cpu == c.cpu).map(|b| &b.times);
            CpusRow {
                ts: now.ts,
                hostname: now.hostname.clone(),
                cpu: i32::try_from(c.cpu).unwrap_or(i32::MAX),
                cpu_times: CpuColumns::between(before, Some(&c.times), window),
                freq_mhz: freq_mhz.get(&c.cpu).copied(),
            }
        })
        .collect()
}

/// `system_cpus()`: clocks from the state's [`FreqReader`].
pub struct Cpus;

impl Table for Cpus {
    type Row = CpusRow;
    type Options = ();
    type Input = HostWindow;
    const SUMMARY: &'static str =
        "One row per online logical CPU: CPU times by mode, their shares of the window, clock.";
    const EXAMPLE: &'static str = "SELECT cpu, cpu_busy_pct, freq_mhz FROM system_cpus() ORDER BY cpu_busy_pct DESC";
    const FILES: &'static [&'static str] = &["/sys/devices/system/cpu", "/proc/cpuinfo"];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Proc, HostPath::Sys];

    fn rows(w: &HostWindow, state: &LiveState, _: &()) -> io::Result<Vec<CpusRow>> {
        let freq = state.freq().read(w.now.stat.cpus.iter().map(|c| c.cpu));
        Ok(rows(&w.base, &w.now, &freq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysmon_kernel::procfs::Roots;
    use sysmon_kernel::sample::Collector;

    #[test]
    fn rows_per_cpu_with_frequency() {
        let roots = Roots::test_fixture("modern");
        let mut c = Collector::new(roots.clone());
        let base = c.sample().unwrap();
        let mut now = base.clone();
        now.stat.cpus[1].times.user += 100;
        let f = frequencies(&roots, now.stat.cpus.iter().map(|c| c.cpu));
        let r = rows(&base, &now, &f);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].cpu, 1);
        assert_eq!(r[1].cpu_times.cpu_busy_pct, Some(100.0));
        assert_eq!(r[0].cpu_times.cpu_busy_pct, None);
        assert_eq!(r[0].freq_mhz, Some(3500.0), "cpu0 has cpufreq");
        assert_eq!(r[1].freq_mhz, Some(2994.374), "cpu1 falls back to cpuinfo");
    }
}
