//! `servers()`: one row per HTTP server started in this process (see `sysmon_serve`).

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;
use sysmon_serve::ServerRow;

use crate::table::{BoxError, LiveTable};

pub struct Servers;

impl LiveTable for Servers {
    type Row = ServerRow;
    type Options = ();

    fn function() -> Function {
        catalog::servers()
    }

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<ServerRow>, BoxError> {
        Ok(process().servers.rows())
    }
}
