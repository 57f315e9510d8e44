//! `report_metrics(dir, path, since := TIMESTAMPTZ, until := TIMESTAMPTZ, host := VARCHAR,
//! endpoint := VARCHAR, region := VARCHAR)`: writes one self-contained HTML report of a
//! recording, local or in an S3 bucket (see `sysmon_serve::view::report`).
//!
//! Bind checks the arguments and DuckDB's security settings (reading `dir` and writing `path`
//! are file access, as for COPY: refused under `enable_external_access = false` unless
//! `allowed_directories`/`allowed_paths` allow them) but writes nothing: DESCRIBE, EXPLAIN and
//! PREPARE bind without running. The file is written on the first scan call, once per bound
//! query. A bucket (`dir := 's3://...'`, network access) is refused under the lockdown; it is
//! read on that first scan call, on a `current_thread` runtime of its own.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function};
use sysmon_kernel::sync::lock;
use sysmon_serve::view::report::{self, Recording, ReportRequest, ReportRow};
use sysmon_store::destination::Destination;
use sysmon_store::s3::S3Location;

use crate::params::{named_text, positional, time_range};
use crate::table::{BoxError, LiveTable};

pub struct ReportMetrics;

pub struct Report {
    req: ReportRequest,
    written: Mutex<Option<ReportRow>>,
}

/// A required VARCHAR path, absolute (a relative one against the working directory), with the
/// symbolic links of its existing part resolved: the path the lockdown check sees is the one
/// read or written.
fn path_arg(bind: &BindInfo, index: u64, name: &str, example: &str) -> Result<PathBuf, BoxError> {
    let v = positional(bind, index, name)?;
    if v.is_null() {
        return Err(format!("{name} must be a path, such as '{example}'; got NULL").into());
    }
    let text = v.to_string();
    if text.is_empty() {
        return Err(format!("{name} must be a path, such as '{example}'; got ''").into());
    }
    sysmon_recorder::config::resolve(Path::new(&text)).map_err(|e| format!("{name} '{text}': {e}").into())
}

impl LiveTable for ReportMetrics {
    type Row = ReportRow;
    type Options = Report;

    fn function() -> Function {
        catalog::report_metrics()
    }

    fn bind(bind: &BindInfo) -> Result<Report, BoxError> {
        let endpoint = named_text(bind, "endpoint", "an http:// or https:// URL")?;
        let region = named_text(bind, "region", "a region name, such as 'us-east-1'")?;
        let raw = positional(bind, 0, "dir")?;
        let dest = match raw.is_null() {
            true => None,
            false => Some(raw.to_string()).filter(|d| d.contains("://")),
        };
        let dir = match dest
            .as_deref()
            .map(Destination::parse)
            .transpose()
            .map_err(|e| format!("dir: {e}"))?
        {
            Some(parsed @ Destination::S3 { .. }) => {
                let loc = S3Location::check(&parsed, endpoint.as_deref(), region.as_deref())?
                    .ok_or("dir: not an s3:// URL")?;
                crate::lockdown::check_remote(bind, &loc.shown, "reading a recording from object storage")?;
                Recording::Bucket(loc)
            }
            // file:///path
            Some(Destination::Local(path)) => Recording::Local(
                sysmon_recorder::config::resolve(Path::new(&path)).map_err(|e| format!("dir '{path}': {e}"))?,
            ),
            None => Recording::Local(path_arg(bind, 0, "dir", "/var/lib/sysmon")?),
        };
        if let Recording::Local(d) = &dir
            && let Some(p) = [("endpoint", &endpoint), ("region", &region)]
                .iter()
                .find(|(_, v)| v.is_some())
                .map(|(n, _)| n)
        {
            return Err(format!(
                "{p} applies only to a dir of the form 's3://<bucket>[/<prefix>]'; '{}' is a local directory",
                d.display()
            )
            .into());
        }
        let path = path_arg(bind, 1, "path", "/tmp/host-report.html")?;
        let host = match bind.get_named_parameter("host") {
            None => None,
            Some(v) if v.is_null() => {
                return Err("host must be a recorded host name; got NULL (leave it out for the only host)".into());
            }
            Some(v) => Some(v.to_string()),
        };
        let (since_us, until_us) = time_range(bind)?;
        if let Recording::Local(d) = &dir {
            crate::lockdown::check_dir(bind, d)?;
        }
        crate::lockdown::check_dir(bind, &path)?;
        Ok(Report {
            req: ReportRequest {
                dir,
                path,
                since_us,
                until_us,
                host,
            },
            written: Mutex::new(None),
        })
    }

    fn collect(r: &Report, _columns: &[usize]) -> Result<Vec<ReportRow>, BoxError> {
        let mut written = lock(&r.written);
        if let Some(row) = written.as_ref() {
            return Ok(vec![row.clone()]);
        }
        // A recorder of this folder in this process: its latest samples go to the log first,
        // which the report reads with the published files.
        if let Recording::Local(dir) = &r.req.dir {
            sysmon_core::process::process().flush_recording(dir, std::time::Duration::from_secs(2));
        }
        let row = report::write(&r.req)?;
        *written = Some(row.clone());
        Ok(vec![row])
    }
}
