//! `serve_metrics(port := BIGINT, bind := VARCHAR, dir := VARCHAR, endpoint := VARCHAR,
//! region := VARCHAR)`: starts an HTTP server
//! (see `sysmon_serve`) and returns its row.
//!
//! Bind checks every argument (and DuckDB's security settings) but starts nothing: DESCRIBE,
//! EXPLAIN and PREPARE bind without running. The server starts on the first scan call, once per
//! bound query: a re-run of the same bound query returns the same row. A port in use is found
//! when the socket is bound, on that first scan, and starts nothing either.

use std::sync::Mutex;

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;
use sysmon_kernel::sync::lock;
use sysmon_serve::{self as serve, Config, Request, ServeStartedRow};

use crate::table::{BoxError, LiveTable};

pub struct ServeMetrics;

pub struct Start {
    config: Config,
    started: Mutex<Option<ServeStartedRow>>,
}

impl LiveTable for ServeMetrics {
    type Row = ServeStartedRow;
    type Options = Start;

    fn function() -> Function {
        catalog::serve_metrics()
    }

    fn bind(bind: &BindInfo) -> Result<Start, BoxError> {
        crate::lockdown::check_serve(bind)?;
        let port = match bind.get_named_parameter("port") {
            None => None,
            Some(v) if v.is_null() => {
                return Err("port must be a TCP port from 1 to 65535, or 0 for any free port; got NULL".into());
            }
            Some(v) => Some(v.to_int64()),
        };
        let text = |name: &str, accepts: &str| -> Result<Option<String>, BoxError> {
            match bind.get_named_parameter(name) {
                None => Ok(None),
                Some(v) if v.is_null() => Err(format!("{name} must be {accepts}; got NULL").into()),
                Some(v) => Ok(Some(v.to_string())),
            }
        };
        let req = Request {
            port,
            bind: text("bind", "an IP address, such as '127.0.0.1'")?,
            dir: text(
                "dir",
                "the directory of a recording, such as '/var/lib/sysmon', or s3://<bucket>[/<prefix>]",
            )?,
            endpoint: text("endpoint", "an http:// or https:// URL")?,
            region: text("region", "a region name, such as 'us-east-1'")?,
        };
        let config = serve::check(&req)?;
        if let Some(dir) = &config.dir {
            crate::lockdown::check_dir(bind, dir)?;
        }
        if let Some(b) = &config.bucket {
            crate::lockdown::check_remote(bind, &b.shown, "reading a recording from object storage")?;
        }
        Ok(Start {
            config,
            started: Mutex::new(None),
        })
    }

    fn collect(start: &Start, _columns: &[usize]) -> Result<Vec<ServeStartedRow>, BoxError> {
        let mut started = lock(&start.started);
        if let Some(row) = started.as_ref() {
            return Ok(vec![row.clone()]);
        }
        let server = process().serve(start.config.clone())?;
        let row = server.started_row();
        *started = Some(row.clone());
        Ok(vec![row])
    }
}
