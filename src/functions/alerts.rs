//! `alerts()`: one row per running alert and instance (see `sysmon_alert`).

use duckdb::vtab::BindInfo;
use sysmon_alert::AlertRow;
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;

use crate::table::{BoxError, LiveTable};

pub struct Alerts;

impl LiveTable for Alerts {
    type Row = AlertRow;
    type Options = ();

    fn function() -> Function {
        catalog::alerts()
    }

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<AlertRow>, BoxError> {
        Ok(process().alerts.rows())
    }
}
