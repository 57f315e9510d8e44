//! `serve_metrics(port := BIGINT, bind := VARCHAR, dir := VARCHAR, endpoint := VARCHAR,
//! region := VARCHAR, token_file := VARCHAR)`: starts an HTTP server
//! (see `sysmon_serve`) and returns its row.
//!
//! `token_file` is checked in bind (an existing file must be a valid token file; a missing one
//! needs its directory) and under `enable_external_access = false` must be allowed like a file
//! DuckDB itself reads (its path resolved, symlinks included); it is created, if missing, only
//! by the start.
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
        let text = |name: &str, accepts: &str| crate::params::named_text(bind, name, accepts);
        let req = Request {
            port,
            bind: text("bind", "an IP address, such as '127.0.0.1'")?,
            dir: text(
                "dir",
                "the directory of a recording, such as '/var/lib/sysmon', or s3://<bucket>[/<prefix>]",
            )?,
            endpoint: text("endpoint", "an http:// or https:// URL")?,
            region: text("region", "a region name, such as 'us-east-1'")?,
            token_file: text(
                "token_file",
                "the path of the file that holds the token (created with mode 0600 when missing), such as '/etc/sysmon/serve.token'",
            )?,
        };
        let config = serve::check(&req)?;
        if let Some(dir) = &config.dir {
            crate::lockdown::check_dir(bind, dir)?;
        }
        if let Some(path) = &config.token_file {
            check_token_file(bind, path)?;
            serve::auth::check_token_file(path)?;
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

/// Refuses `path` when DuckDB's lockdown denies it: allowed when it is listed in
/// `allowed_paths` or lies inside `allowed_directories`, both compared where they really are
/// (`sysmon_kernel::access::resolve`: symlinks followed), as DuckDB compares its own files.
fn check_token_file(bind: &BindInfo, path: &std::path::Path) -> Result<(), String> {
    let Some(l) = crate::lockdown::lockdown(bind) else {
        return Ok(());
    };
    if sysmon_kernel::access::Allowed::new(&l.dirs, &l.paths).allows(path, false) {
        return Ok(());
    }
    let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    Err(format!(
        "DuckDB's configuration denies access to token_file '{}' (resolved: '{}'): enable_external_access is false, and it is not inside allowed_directories ({}) nor listed in allowed_paths ({})",
        path.display(),
        sysmon_kernel::access::resolve(path).display(),
        list(&l.dirs),
        list(&l.paths),
    ))
}
