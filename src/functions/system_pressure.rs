//! `system_pressure("window" := INTERVAL)`: see `sysmon_core::tables::pressure`.

use sysmon_core::sample::HostSample;
use sysmon_core::tables::pressure::{self, PressureRow};

use super::HostWindowTable;

pub struct SystemPressure;

impl HostWindowTable for SystemPressure {
    type Row = PressureRow;

    fn rows(base: &HostSample, now: &HostSample) -> Vec<PressureRow> {
        pressure::rows(base, now)
    }
}
