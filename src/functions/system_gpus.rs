//! `system_gpus()`: see `sysmon_core::tables::gpus`.

use duckdb::vtab::BindInfo;
use sysmon_core::host;
use sysmon_core::schema::Timestamp;
use sysmon_core::tables::gpus::{self, GpusRow};

use crate::table::{BoxError, LiveTable};

pub struct SystemGpus;

impl LiveTable for SystemGpus {
    type Row = GpusRow;
    type Options = ();

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<GpusRow>, BoxError> {
        Ok(gpus::collect(Timestamp::now(), &host::hostname())?)
    }
}
