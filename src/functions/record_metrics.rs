//! `record_metrics(dir, interval, tables := [...], process_interval := INTERVAL,
//! flush_interval := INTERVAL, publish_interval := INTERVAL, retention := INTERVAL, max_bytes := BIGINT)`: starts a
//! recorder (see `sysmon_recorder`) and returns its row.
//!
//! Bind checks every argument (and DuckDB's security settings) but starts nothing: DESCRIBE,
//! EXPLAIN and PREPARE bind without running. The recorder starts on the first scan call, once
//! per bound query: a re-run of the same bound query returns the same row.

use std::path::Path;
use std::sync::Mutex;

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;
use sysmon_kernel::sync::lock;
use sysmon_recorder::{
    self as recorder, Config, FLUSH_MAX, FLUSH_MIN, INTERVAL_MAX, INTERVAL_MIN, PUBLISH_MAX, RETENTION_MAX,
    RETENTION_MIN, Request, ShipRequest, StartedRow, UPLOAD_INTERVAL_MAX, UPLOAD_INTERVAL_MIN,
};

use crate::params::{interval, interval_value, positional, positional_interval};
use crate::table::{BoxError, LiveTable};

pub struct RecordMetrics;

pub struct Start {
    /// The request as checked in bind: the directory the lockdown check saw is the one used.
    config: Config,
    started: Mutex<Option<StartedRow>>,
}

impl LiveTable for RecordMetrics {
    type Row = StartedRow;
    type Options = Start;

    fn function() -> Function {
        catalog::record_metrics()
    }

    fn bind(bind: &BindInfo) -> Result<Start, BoxError> {
        let dir = positional(bind, 0, "dir")?;
        if dir.is_null() {
            return Err("dir must be a directory path, such as '/var/lib/sysmon'; got NULL".into());
        }
        let dir = dir.to_string();
        let interval_d = positional_interval(bind, 1, "interval", INTERVAL_MIN, INTERVAL_MAX)?;
        let tables = match bind.get_named_parameter("tables") {
            None => None,
            Some(v) if v.is_null() => {
                return Err(format!(
                    "tables must be a list of table names; got NULL; accepted: {}",
                    sysmon_tables::recorded::accepted_names()
                )
                .into());
            }
            Some(v) => {
                let items = v
                    .to_list()
                    .ok_or("tables must be a list of table names, such as ['metrics', 'cpus']")?;
                let mut names = Vec::new();
                for i in items {
                    if i.is_null() {
                        return Err(format!(
                            "tables must not contain NULL; accepted: {}",
                            sysmon_tables::recorded::accepted_names()
                        )
                        .into());
                    }
                    names.push(i.to_string());
                }
                Some(names)
            }
        };
        let max_bytes = match bind.get_named_parameter("max_bytes") {
            None => None,
            Some(v) if v.is_null() => return Err("max_bytes must be a positive number of bytes; got NULL".into()),
            Some(v) => Some(v.to_int64()),
        };
        let retention = match bind.get_named_parameter("retention") {
            None => None,
            Some(v) => Some(interval_value(&v, "retention", RETENTION_MIN, RETENTION_MAX)?),
        };
        let text = |name: &str| crate::params::named_text(bind, name, "a string");
        let spool_max_bytes = match bind.get_named_parameter("spool_max_bytes") {
            None => None,
            Some(v) if v.is_null() => {
                return Err("spool_max_bytes must be a positive number of bytes; got NULL".into());
            }
            Some(v) => Some(v.to_int64()),
        };
        let ship = ShipRequest {
            endpoint: text("endpoint")?,
            region: text("region")?,
            spool: text("spool")?,
            upload_interval: interval(bind, "upload_interval", UPLOAD_INTERVAL_MIN, UPLOAD_INTERVAL_MAX)?,
            spool_max_bytes,
        };
        if let sysmon_store::destination::Destination::S3 { .. } = sysmon_store::destination::Destination::parse(&dir)?
        {
            crate::lockdown::check_remote(bind, &dir, "recording into object storage")?;
        }
        let req = Request {
            dir,
            interval: interval_d,
            tables,
            process_interval: interval(bind, "process_interval", INTERVAL_MIN, INTERVAL_MAX)?,
            flush_interval: interval(bind, "flush_interval", FLUSH_MIN, FLUSH_MAX)?,
            publish_interval: interval(bind, "publish_interval", FLUSH_MIN, PUBLISH_MAX)?,
            retention,
            max_bytes,
            ship,
        };
        // The bounds are passed here only to phrase errors on NULL, negative and month values
        // as every other parameter's; `check` checks every bound.
        let config = {
            let p = process();
            recorder::check(&p.live, &p.recorders, &req)
        }?;
        crate::lockdown::check_dir(bind, &config.dir).map_err(|e| {
            let lexical =
                sysmon_kernel::access::lexical(Path::new(req.dir.strip_prefix("file://").unwrap_or(&req.dir)));
            if lexical == config.dir {
                e
            } else {
                format!("{e} ('{}' leads there through a symbolic link)", req.dir)
            }
        })?;
        crate::lockdown::check_recorded(bind, &config)?;
        Ok(Start {
            config,
            started: Mutex::new(None),
        })
    }

    fn collect(start: &Start, _columns: &[usize]) -> Result<Vec<StartedRow>, BoxError> {
        let mut started = lock(&start.started);
        if let Some(row) = started.as_ref() {
            return Ok(vec![row.clone()]);
        }
        let rec = process().record(start.config.clone())?;
        let row = rec.started_row();
        *started = Some(row.clone());
        Ok(vec![row])
    }
}
