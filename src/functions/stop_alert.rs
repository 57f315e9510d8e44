//! `stop_alert(name)`: stops a running alert (its webhook gets a short grace to deliver what
//! is queued; what is left is counted as dropped) and returns its final `alerts()` rows.
//!
//! Bind checks that `name` names a running alert but stops nothing (DESCRIBE, EXPLAIN and
//! PREPARE bind without running); the alert stops on the first scan call, once per bound
//! query: a re-run of the same bound query returns the same rows.

use std::sync::Mutex;

use duckdb::vtab::BindInfo;
use sysmon_alert::AlertRow;
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;
use sysmon_kernel::sync::lock;

use crate::params::positional;
use crate::table::{BoxError, LiveTable};

pub struct StopAlert;

pub struct Stop {
    name: String,
    stopped: Mutex<Option<Vec<AlertRow>>>,
}

impl LiveTable for StopAlert {
    type Row = AlertRow;
    type Options = Stop;

    fn function() -> Function {
        catalog::stop_alert()
    }

    fn bind(bind: &BindInfo) -> Result<Stop, BoxError> {
        let v = positional(bind, 0, "name")?;
        if v.is_null() {
            return Err("name must be the name of a running alert (see alerts()); got NULL".into());
        }
        let name = v.to_string();
        if process().alerts.get(&name).is_none() {
            let names: Vec<String> = process().alerts.all().iter().map(|a| a.rule.name.clone()).collect();
            let running = if names.is_empty() {
                "none is running".to_string()
            } else {
                format!("running: {}", names.join(", "))
            };
            return Err(format!("no alert named '{name}' is running ({running}; see alerts())").into());
        }
        Ok(Stop {
            name,
            stopped: Mutex::new(None),
        })
    }

    fn collect(stop: &Stop, _columns: &[usize]) -> Result<Vec<AlertRow>, BoxError> {
        let mut stopped = lock(&stop.stopped);
        if let Some(rows) = stopped.as_ref() {
            return Ok(rows.clone());
        }
        let rows = process().stop_alert(&stop.name)?;
        *stopped = Some(rows.clone());
        Ok(rows)
    }
}
