//! `report_metrics(dir, path, since := TIMESTAMPTZ, until := TIMESTAMPTZ, host := VARCHAR)`:
//! writes one self-contained HTML report of a recording (see `sysmon_core::view::report`).
//!
//! Bind checks the arguments and DuckDB's security settings (reading `dir` and writing `path`
//! are file access, as for COPY: refused under `enable_external_access = false` unless
//! `allowed_directories`/`allowed_paths` allow them) but writes nothing: DESCRIBE, EXPLAIN and
//! PREPARE bind without running. The file is written on the first scan call, once per bound
//! query.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function};
use sysmon_core::sync::lock;
use sysmon_core::view::report::{self, ReportRequest, ReportRow};

use crate::params::{positional, timestamp};
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
    sysmon_core::recorder::config::resolve(Path::new(&text)).map_err(|e| format!("{name} '{text}': {e}").into())
}

impl LiveTable for ReportMetrics {
    type Row = ReportRow;
    type Options = Report;

    fn function() -> Function {
        catalog::report_metrics()
    }

    fn bind(bind: &BindInfo) -> Result<Report, BoxError> {
        let dir = path_arg(bind, 0, "dir", "/var/lib/sysmon")?;
        let path = path_arg(bind, 1, "path", "/tmp/host-report.html")?;
        let host = match bind.get_named_parameter("host") {
            None => None,
            Some(v) if v.is_null() => {
                return Err("host must be a recorded host name; got NULL (leave it out for the only host)".into());
            }
            Some(v) => Some(v.to_string()),
        };
        let since_us = timestamp(bind, "since")?;
        let until_us = timestamp(bind, "until")?;
        if let (Some(s), Some(u)) = (since_us, until_us)
            && s >= u
        {
            return Err(format!(
                "since ({}) must be before until ({})",
                report::utc_text(s),
                report::utc_text(u)
            )
            .into());
        }
        crate::lockdown::check_dir(bind, &dir)?;
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
        let row = report::write(&r.req)?;
        *written = Some(row.clone());
        Ok(vec![row])
    }
}
