//! `system_metrics("window" := INTERVAL)`: see `sysmon_core::tables::metrics`.

use sysmon_core::sample::HostSample;
use sysmon_core::tables::metrics::{self, MetricsRow};

use super::HostWindowTable;

pub struct SystemMetrics;

impl HostWindowTable for SystemMetrics {
    type Row = MetricsRow;

    fn rows(base: &HostSample, now: &HostSample) -> Vec<MetricsRow> {
        vec![metrics::row(base, now)]
    }
}
