//! `recordings()`: one row per recorder started in this process (see `sysmon_recorder`).

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;
use sysmon_recorder::RecordingRow;

use crate::table::{BoxError, LiveTable};

pub struct Recordings;

impl LiveTable for Recordings {
    type Row = RecordingRow;
    type Options = ();

    fn function() -> Function {
        catalog::recordings()
    }

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<RecordingRow>, BoxError> {
        Ok(process().recorders.rows())
    }
}
