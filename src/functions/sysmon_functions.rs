//! `sysmon_functions()`: one row per sysmon function, from its description in
//! `sysmon_core::catalog` (the same one its DuckDB registration comes from).

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function, FunctionRow};

use crate::table::{BoxError, LiveTable};

pub struct SysmonFunctions;

impl LiveTable for SysmonFunctions {
    type Row = FunctionRow;
    type Options = ();

    fn function() -> Function {
        catalog::sysmon_functions()
    }

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<FunctionRow>, BoxError> {
        Ok(catalog::function_rows())
    }
}
