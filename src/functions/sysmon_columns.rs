//! `sysmon_columns()`: one row per column of every sysmon function, from the table
//! declarations (`sysmon_core::catalog::column_rows`).

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, ColumnRow, Function};

use crate::table::{BoxError, LiveTable};

pub struct SysmonColumns;

impl LiveTable for SysmonColumns {
    type Row = ColumnRow;
    type Options = ();

    fn function() -> Function {
        catalog::sysmon_columns()
    }

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<ColumnRow>, BoxError> {
        Ok(catalog::column_rows())
    }
}
