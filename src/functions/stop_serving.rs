//! `stop_serving(id)`: stops an HTTP server and returns its final `servers()` row.
//!
//! Bind checks that `id` names a running server but stops nothing (DESCRIBE, EXPLAIN and
//! PREPARE bind without running); the server stops on the first scan call, once per bound
//! query: a re-run of the same bound query returns the same row.

use std::sync::Mutex;

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;
use sysmon_kernel::sync::lock;
use sysmon_serve::ServerRow;

use crate::params::positional;
use crate::table::{BoxError, LiveTable};

pub struct StopServing;

pub struct Stop {
    id: i64,
    stopped: Mutex<Option<ServerRow>>,
}

impl LiveTable for StopServing {
    type Row = ServerRow;
    type Options = Stop;

    fn function() -> Function {
        catalog::stop_serving()
    }

    fn bind(bind: &BindInfo) -> Result<Stop, BoxError> {
        let v = positional(bind, 0, "id")?;
        if v.is_null() {
            return Err("id must be the id of a running server (see servers()); got NULL".into());
        }
        let id = v.to_int64();
        process().servers.check_stoppable(id)?;
        Ok(Stop {
            id,
            stopped: Mutex::new(None),
        })
    }

    fn collect(stop: &Stop, _columns: &[usize]) -> Result<Vec<ServerRow>, BoxError> {
        let mut stopped = lock(&stop.stopped);
        if let Some(row) = stopped.as_ref() {
            return Ok(vec![row.clone()]);
        }
        let row = process().stop_serving(stop.id)?;
        *stopped = Some(row.clone());
        Ok(vec![row])
    }
}
