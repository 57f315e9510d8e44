//! `system_cpus("window" := INTERVAL)`: see `sysmon_core::tables::cpus`.

use sysmon_core::procfs::Roots;
use sysmon_core::sample::HostSample;
use sysmon_core::tables::cpus::{self, CpusRow};

use super::HostWindowTable;

pub struct SystemCpus;

impl HostWindowTable for SystemCpus {
    type Row = CpusRow;

    fn rows(base: &HostSample, now: &HostSample) -> Vec<CpusRow> {
        let freq = cpus::frequencies(&Roots::default(), now.stat.cpus.iter().map(|c| c.cpu));
        cpus::rows(base, now, &freq)
    }
}
