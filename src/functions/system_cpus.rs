//! `system_cpus(window := INTERVAL)`: see `sysmon_core::tables::cpus`.

use duckdb::core::LogicalTypeHandle;
use duckdb::vtab::BindInfo;
use sysmon_core::live;
use sysmon_core::procfs::Roots;
use sysmon_core::ring::Window;
use sysmon_core::tables::cpus::{self, CpusRow};

use super::{bind_window, window_parameter};
use crate::table::{BoxError, LiveTable};

pub struct SystemCpus;

impl LiveTable for SystemCpus {
    type Row = CpusRow;
    type Options = Window;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![window_parameter()]
    }

    fn bind(bind: &BindInfo) -> Result<Window, BoxError> {
        bind_window(bind)
    }

    fn collect(window: &Window, _columns: &[usize]) -> Result<Vec<CpusRow>, BoxError> {
        let (base, now) = live::window_pair(*window)?;
        let freq = cpus::frequencies(&Roots::default(), now.stat.cpus.iter().map(|c| c.cpu));
        Ok(cpus::rows(&base, &now, &freq))
    }
}
