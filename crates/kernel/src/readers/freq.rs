//! The clock of each CPU: cpufreq's `scaling_cur_freq` where present, else `/proc/cpuinfo`
//! (the `freq_mhz` column of `system_cpus()`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::procfs::{KeptFile, Roots, cpuinfo, read_small, read_trimmed};

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

#[cfg(test)]
mod tests {
    use super::*;

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
