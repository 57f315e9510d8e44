//! `system_pressure(window := INTERVAL)`: see `sysmon_core::tables::pressure`.

use duckdb::core::LogicalTypeHandle;
use duckdb::vtab::BindInfo;
use sysmon_core::live;
use sysmon_core::ring::Window;
use sysmon_core::tables::pressure::{self, PressureRow};

use super::{bind_window, window_parameter};
use crate::table::{BoxError, LiveTable};

pub struct SystemPressure;

impl LiveTable for SystemPressure {
    type Row = PressureRow;
    type Options = Window;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![window_parameter()]
    }

    fn bind(bind: &BindInfo) -> Result<Window, BoxError> {
        bind_window(bind)
    }

    fn collect(window: &Window, _columns: &[usize]) -> Result<Vec<PressureRow>, BoxError> {
        let (base, now) = live::window_pair(*window)?;
        Ok(pressure::rows(&base, &now))
    }
}
