//! `alert_metrics(name, query, every := INTERVAL, "for" := INTERVAL, severity := VARCHAR,
//! summary := VARCHAR, repeat := INTERVAL, webhook := VARCHAR, dir := VARCHAR)`: starts an alert
//! (see `sysmon_alert`) and returns its row.
//!
//! Bind checks every argument and DuckDB's security settings, and checks the query in the
//! alerts' own database (`crate::alert_db`: it must be one query expression that binds there),
//! but starts nothing: DESCRIBE, EXPLAIN and PREPARE bind without running. The alert starts on
//! the first scan call, once per bound query: a re-run of the same bound query returns the
//! same row. Under `enable_external_access = false` a webhook is refused (posting is network
//! access, as DuckDB refuses its own), and `dir` must be allowed as `record_metrics`' is.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duckdb::vtab::BindInfo;
use sysmon_alert::notify::Webhook;
use sysmon_alert::{
    AlertDir, AlertRow, EVERY_DEFAULT, EVERY_MAX, EVERY_MIN, FOR_MAX, REPEAT_DEFAULT, REPEAT_MAX, REPEAT_MIN, Rule,
};
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;
use sysmon_kernel::sync::lock;
use sysmon_recorder::{self as recorder, Config, Request};

use crate::alert_db::{self, AlertDb, Plan};
use crate::params::{interval, named_text, positional};
use crate::table::{BoxError, LiveTable};

pub struct AlertMetrics;

pub struct Start {
    rule: Rule,
    recorder: Option<Config>,
    db: Arc<AlertDb>,
    plan: Plan,
    started: Mutex<Option<Vec<AlertRow>>>,
}

fn required_text(bind: &BindInfo, index: u64, name: &str, accepts: &str) -> Result<String, BoxError> {
    let v = positional(bind, index, name)?;
    if v.is_null() {
        return Err(format!("{name} must be {accepts}; got NULL").into());
    }
    Ok(v.to_string())
}

impl LiveTable for AlertMetrics {
    type Row = AlertRow;
    type Options = Start;

    fn function() -> Function {
        catalog::alert_metrics()
    }

    fn bind(bind: &BindInfo) -> Result<Start, BoxError> {
        let name = required_text(bind, 0, "name", "the alert's name, such as 'disk_full'")?;
        sysmon_alert::check_name(&name)?;
        let query = required_text(
            bind,
            1,
            "query",
            "a SELECT, such as 'SELECT mount_point, used_pct FROM system_filesystems() WHERE used_pct > 90'",
        )?;
        let every = interval(bind, "every", EVERY_MIN, EVERY_MAX)?.unwrap_or(EVERY_DEFAULT);
        let for_ = interval(bind, "for", Duration::ZERO, FOR_MAX)?.unwrap_or(Duration::ZERO);
        let repeat = interval(bind, "repeat", REPEAT_MIN, REPEAT_MAX)?.unwrap_or(REPEAT_DEFAULT);
        let severity = named_text(bind, "severity", "a text, such as 'critical'")?;
        if severity.as_deref().is_some_and(|s| s.is_empty() || s.len() > 64) {
            return Err("severity must be a text of 1 to 64 characters, such as 'critical'".into());
        }
        let summary = named_text(bind, "summary", "a text, such as '{mount_point} is {used_pct}% full'")?;
        if summary.as_deref().is_some_and(|s| s.len() > 4096) {
            return Err("summary must be at most 4,096 characters".into());
        }
        let webhook = match named_text(bind, "webhook", "an http:// or https:// URL")? {
            None => None,
            Some(raw) => {
                let w = Webhook::parse(&raw)?;
                crate::lockdown::check_remote(bind, w.shown(), "posting to a webhook")?;
                Some(w)
            }
        };
        let (dir, recorder) = match named_text(
            bind,
            "dir",
            "a recording folder, such as '/var/lib/sysmon', or s3://<bucket>[/<prefix>]",
        )? {
            None => (None, None),
            Some(raw) => {
                let (dir, config) = check_dir(bind, &raw)?;
                (Some(dir), Some(config))
            }
        };
        if process().alerts.get(&name).is_some() {
            return Err(format!(
                "an alert named '{name}' is already running; stop it first with stop_alert('{name}'), or choose another name"
            )
            .into());
        }
        let lockdown = crate::lockdown::lockdown(bind);
        let db = alert_db::database(lockdown.as_ref(), crate::functions::register_for_alerts)?;
        let plan = db.plan(&query)?;
        if let Some(s) = &summary {
            let columns: Vec<String> = plan.columns.iter().map(|c| c.0.clone()).collect();
            sysmon_alert::check_summary(s, &columns)?;
        }
        Ok(Start {
            rule: Rule {
                name,
                query,
                every,
                for_,
                repeat,
                severity,
                summary,
                webhook,
                dir,
            },
            recorder,
            db,
            plan,
            started: Mutex::new(None),
        })
    }

    fn collect(start: &Start, _columns: &[usize]) -> Result<Vec<AlertRow>, BoxError> {
        let mut started = lock(&start.started);
        if let Some(rows) = started.as_ref() {
            return Ok(rows.clone());
        }
        let (evaluator, interrupt) = start.db.evaluator(start.plan.clone())?;
        let alert = process().alert(start.rule.clone(), start.recorder.clone(), evaluator, interrupt)?;
        let rows = alert.rows();
        *started = Some(rows.clone());
        Ok(rows)
    }
}

/// The recorder of the `alerts` table that `dir` names, checked as `record_metrics(dir, ...,
/// tables := ['alerts'])` would be (the lockdown included).
fn check_dir(bind: &BindInfo, raw: &str) -> Result<(AlertDir, Config), BoxError> {
    use sysmon_store::destination::Destination;
    if let Destination::S3 { .. } = Destination::parse(raw)? {
        crate::lockdown::check_remote(bind, raw, "recording alerts into object storage")?;
    }
    let req = Request {
        dir: raw.to_string(),
        interval: Duration::from_secs(1),
        tables: Some(vec!["alerts".to_string()]),
        ..Request::default()
    };
    let config = recorder::config::check(&process().live, &req)?;
    crate::lockdown::check_dir(bind, &config.dir).map_err(|e| {
        let lexical = sysmon_kernel::access::lexical(Path::new(raw.strip_prefix("file://").unwrap_or(raw)));
        if lexical == config.dir {
            e
        } else {
            format!("{e} ('{raw}' leads there through a symbolic link)")
        }
    })?;
    let shown = match &config.remote {
        Some(r) => r.shown.clone(),
        None => config.dir.display().to_string(),
    };
    Ok((
        AlertDir {
            key: config.dir.clone(),
            shown,
        },
        config,
    ))
}
