//! `system_cpus()`: one row per logical CPU.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{CpuPct, CpuSeconds};
use crate::procfs::{KeptFile, Roots, cpuinfo, read_small, read_trimmed};
use crate::sample::HostSample;
use crate::schema::Timestamp;

crate::declare_table! {
    /// One row per online logical CPU. Cumulative columns count since boot; `_pct` columns
    /// cover the window that ends at `ts` and lasts `window_seconds`.
    pub struct CpusRow => "cpus", "system_cpus" {
        /// When the sample was taken.
        ts: Timestamp [""],
        /// Host name at the sample time.
        hostname: String [""],
        /// Logical CPU id (the N of cpuN), from 0.
        cpu: i32 [""],
        /// Time in user mode (including guest) since boot.
        cpu_user_seconds: Option<f64> ["seconds"],
        /// Time in user mode at low priority (including guest_nice).
        cpu_nice_seconds: Option<f64> ["seconds"],
        /// Time in kernel mode.
        cpu_system_seconds: Option<f64> ["seconds"],
        /// Time idle.
        cpu_idle_seconds: Option<f64> ["seconds"],
        /// Time idle while I/O was outstanding.
        cpu_iowait_seconds: Option<f64> ["seconds"],
        /// Time servicing hardware interrupts.
        cpu_irq_seconds: Option<f64> ["seconds"],
        /// Time servicing software interrupts.
        cpu_softirq_seconds: Option<f64> ["seconds"],
        /// Time stolen by the hypervisor.
        cpu_steal_seconds: Option<f64> ["seconds"],
        /// Time running guests (inside cpu_user_seconds).
        cpu_guest_seconds: Option<f64> ["seconds"],
        /// Time running niced guests (inside cpu_nice_seconds).
        cpu_guest_nice_seconds: Option<f64> ["seconds"],
        /// Share of the window this CPU was busy: 100 − idle − iowait.
        cpu_busy_pct: Option<f64> ["percent"],
        /// Share of the window in user mode (nice excluded).
        cpu_user_pct: Option<f64> ["percent"],
        /// Share of the window in niced user mode.
        cpu_nice_pct: Option<f64> ["percent"],
        /// Share of the window in kernel mode.
        cpu_system_pct: Option<f64> ["percent"],
        /// Share of the window idle.
        cpu_idle_pct: Option<f64> ["percent"],
        /// Share of the window idle with I/O outstanding.
        cpu_iowait_pct: Option<f64> ["percent"],
        /// Share of the window in hardware interrupts.
        cpu_irq_pct: Option<f64> ["percent"],
        /// Share of the window in software interrupts.
        cpu_softirq_pct: Option<f64> ["percent"],
        /// Share of the window stolen by the hypervisor.
        cpu_steal_pct: Option<f64> ["percent"],
        /// Length of the window the `_pct` columns cover.
        window_seconds: f64 ["seconds"],
        /// Current clock (cpufreq `scaling_cur_freq`, else `cpu MHz` of /proc/cpuinfo); NULL where the kernel reports neither.
        freq_mhz: Option<f64> ["MHz"],
    }
}

/// Current clock of each CPU in MHz, by CPU id: cpufreq where present, else /proc/cpuinfo.
pub fn frequencies(roots: &Roots, cpus: impl Iterator<Item = u32>) -> HashMap<u32, f64> {
    let mut out = HashMap::new();
    let mut missing = false;
    for cpu in cpus {
        let p = roots.sys(&format!("devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq"));
        match read_trimmed(&p).and_then(|s| s.parse::<f64>().ok()) {
            Some(khz) => {
                out.insert(cpu, khz / 1000.0);
            }
            None => missing = true,
        }
    }
    if missing && let Some(text) = read_small(&roots.proc("cpuinfo")) {
        for c in cpuinfo::parse(&text) {
            if let Some(mhz) = c.mhz {
                out.entry(c.processor).or_insert(mhz);
            }
        }
    }
    out
}

/// How long the recorder reuses the clocks it read from `/proc/cpuinfo` (see [`FreqReader`]).
pub const CPUINFO_MAX_AGE: Duration = Duration::from_secs(10);

/// [`frequencies`] for a caller that asks every tick (the recorder). cpufreq's
/// `scaling_cur_freq` files are kept open and re-read with `pread` at every call. Where a CPU
/// has no cpufreq (many VMs), its clock comes from `/proc/cpuinfo`, which is expensive to
/// generate (the kernel formats every CPU's flags and, on x86, asks each CPU for its clock):
/// that file is read at most once per [`CPUINFO_MAX_AGE`] and the values read are reused in
/// between, so such a clock is at most that old (and a CPU's cpufreq file is looked for again
/// at the same cadence).
#[derive(Debug)]
pub struct FreqReader {
    roots: Roots,
    /// Per CPU: its kept-open cpufreq file, or `None` where it has none.
    cpufreq: HashMap<u32, Option<KeptFile>>,
    cpuinfo: KeptFile,
    from_cpuinfo: HashMap<u32, f64>,
    cpuinfo_read_at: Option<Instant>,
}

impl FreqReader {
    pub fn new(roots: Roots) -> FreqReader {
        FreqReader {
            cpuinfo: KeptFile::new(roots.proc("cpuinfo")),
            roots,
            cpufreq: HashMap::new(),
            from_cpuinfo: HashMap::new(),
            cpuinfo_read_at: None,
        }
    }

    /// Current clock of each CPU in MHz, by CPU id (as [`frequencies`], with the cpuinfo
    /// values up to [`CPUINFO_MAX_AGE`] old).
    pub fn read(&mut self, cpus: impl Iterator<Item = u32>) -> HashMap<u32, f64> {
        let now = Instant::now();
        let stale = self
            .cpuinfo_read_at
            .is_none_or(|t| now.saturating_duration_since(t) >= CPUINFO_MAX_AGE);
        if stale {
            // Look again for cpufreq files that were missing (a driver loaded since).
            self.cpufreq.retain(|_, f| f.is_some());
        }
        let mut out = HashMap::new();
        let mut missing = false;
        for cpu in cpus {
            let roots = &self.roots;
            let slot = self.cpufreq.entry(cpu).or_insert_with(|| {
                Some(KeptFile::new(
                    roots.sys(&format!("devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq")),
                ))
            });
            let khz = match slot.as_mut().map(|f| f.read().map(|s| s.trim().parse::<f64>().ok())) {
                Some(Ok(v)) => v,
                Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    *slot = None;
                    None
                }
                _ => None,
            };
            match khz {
                Some(khz) => {
                    out.insert(cpu, khz / 1000.0);
                }
                None => missing = true,
            }
        }
        if missing {
            if stale {
                self.from_cpuinfo.clear();
                if let Ok(text) = self.cpuinfo.read() {
                    for c in cpuinfo::parse(text) {
                        if let Some(mhz) = c.mhz {
                            self.from_cpuinfo.insert(c.processor, mhz);
                        }
                    }
                }
                self.cpuinfo_read_at = Some(now);
            }
            for (cpu, mhz) in &self.from_cpuinfo {
                out.entry(*cpu).or_insert(*mhz);
            }
        }
        out
    }
}

/// One row per CPU of `now`, over the window from `base`. A CPU absent from `base` (brought
/// online meanwhile) has NULL percentages.
pub fn rows(base: &HostSample, now: &HostSample, freq_mhz: &HashMap<u32, f64>) -> Vec<CpusRow> {
    let window_seconds = now.instant.saturating_duration_since(base.instant).as_secs_f64();
    now.stat
        .cpus
        .iter()
        .map(|c| {
            let before = base.stat.cpus.iter().find(|b| b.cpu == c.cpu).map(|b| &b.times);
            let secs = CpuSeconds::from_ticks(Some(&c.times));
            let pct = CpuPct::between(before, Some(&c.times));
            CpusRow {
                ts: now.ts,
                hostname: now.hostname.clone(),
                cpu: i32::try_from(c.cpu).unwrap_or(i32::MAX),
                cpu_user_seconds: secs.user,
                cpu_nice_seconds: secs.nice,
                cpu_system_seconds: secs.system,
                cpu_idle_seconds: secs.idle,
                cpu_iowait_seconds: secs.iowait,
                cpu_irq_seconds: secs.irq,
                cpu_softirq_seconds: secs.softirq,
                cpu_steal_seconds: secs.steal,
                cpu_guest_seconds: secs.guest,
                cpu_guest_nice_seconds: secs.guest_nice,
                cpu_busy_pct: pct.busy,
                cpu_user_pct: pct.user,
                cpu_nice_pct: pct.nice,
                cpu_system_pct: pct.system,
                cpu_idle_pct: pct.idle,
                cpu_iowait_pct: pct.iowait,
                cpu_irq_pct: pct.irq,
                cpu_softirq_pct: pct.softirq,
                cpu_steal_pct: pct.steal,
                window_seconds,
                freq_mhz: freq_mhz.get(&c.cpu).copied(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Collector;

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
        assert_eq!(r[1].cpu_busy_pct, Some(100.0));
        assert_eq!(r[0].cpu_busy_pct, None);
        assert_eq!(r[0].freq_mhz, Some(3500.0), "cpu0 has cpufreq");
        assert_eq!(r[1].freq_mhz, Some(2994.374), "cpu1 falls back to cpuinfo");
    }

    #[test]
    fn freq_reader_matches_frequencies() {
        let roots = Roots::test_fixture("modern");
        let mut r = FreqReader::new(roots.clone());
        for _ in 0..3 {
            let f = r.read([0u32, 1].into_iter());
            assert_eq!(f, frequencies(&roots, [0u32, 1].into_iter()));
            assert_eq!(f.get(&0), Some(&3500.0), "cpu0 from cpufreq");
            assert_eq!(f.get(&1), Some(&2994.374), "cpu1 from cpuinfo");
        }
        let mut r = FreqReader::new(Roots::test_fixture("old-kernel"));
        assert!(r.read([0u32].into_iter()).is_empty());
    }

    #[test]
    fn no_frequency_anywhere_is_null() {
        let roots = Roots::test_fixture("old-kernel");
        let f = frequencies(&roots, [0u32].into_iter());
        assert!(f.is_empty());
    }
}
