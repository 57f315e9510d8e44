//! `system_info()`: see `sysmon_core::tables::info`.

use duckdb::vtab::BindInfo;
use sysmon_core::procfs::Roots;
use sysmon_core::tables::info::{self, InfoRow};

use crate::table::{BoxError, LiveTable};

pub struct SystemInfo;

impl LiveTable for SystemInfo {
    type Row = InfoRow;
    type Options = ();

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<InfoRow>, BoxError> {
        Ok(vec![info::collect(&Roots::default())?])
    }
}
