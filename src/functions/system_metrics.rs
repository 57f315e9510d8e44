//! `system_metrics(window := INTERVAL)`: see `sysmon_core::tables::metrics`.

use duckdb::core::LogicalTypeHandle;
use duckdb::vtab::BindInfo;
use sysmon_core::live;
use sysmon_core::ring::Window;
use sysmon_core::tables::metrics::{self, MetricsRow};

use super::{bind_window, window_parameter};
use crate::table::{BoxError, LiveTable};

pub struct SystemMetrics;

impl LiveTable for SystemMetrics {
    type Row = MetricsRow;
    type Options = Window;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![window_parameter()]
    }

    fn bind(bind: &BindInfo) -> Result<Window, BoxError> {
        bind_window(bind)
    }

    fn collect(window: &Window, _columns: &[usize]) -> Result<Vec<MetricsRow>, BoxError> {
        let (base, now) = live::window_pair(*window)?;
        Ok(vec![metrics::row(&base, &now)])
    }
}
