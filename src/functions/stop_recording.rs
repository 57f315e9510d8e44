//! `stop_recording(id)`: flushes what the recorder buffers into a final file, stops its
//! threads and returns its final `recordings()` row.
//!
//! Bind checks that `id` names a running recorder but stops nothing (DESCRIBE, EXPLAIN and
//! PREPARE bind without running); the recorder stops on the first scan call, once per bound
//! query: a re-run of the same bound query returns the same row.

use std::sync::Mutex;

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;
use sysmon_kernel::sync::lock;
use sysmon_recorder::RecordingRow;

use crate::params::positional;
use crate::table::{BoxError, LiveTable};

pub struct StopRecording;

pub struct Stop {
    id: i64,
    stopped: Mutex<Option<RecordingRow>>,
}

impl LiveTable for StopRecording {
    type Row = RecordingRow;
    type Options = Stop;

    fn function() -> Function {
        catalog::stop_recording()
    }

    fn bind(bind: &BindInfo) -> Result<Stop, BoxError> {
        let v = positional(bind, 0, "id")?;
        if v.is_null() {
            return Err("id must be the id of a running recorder (see recordings()); got NULL".into());
        }
        let id = v.to_int64();
        process().recorders.check_stoppable(id)?;
        crate::lockdown::check_stop(bind, id)?;
        Ok(Stop {
            id,
            stopped: Mutex::new(None),
        })
    }

    fn collect(stop: &Stop, _columns: &[usize]) -> Result<Vec<RecordingRow>, BoxError> {
        let mut stopped = lock(&stop.stopped);
        if let Some(row) = stopped.as_ref() {
            return Ok(vec![row.clone()]);
        }
        let row = process().stop_recording(stop.id)?;
        *stopped = Some(row.clone());
        Ok(vec![row])
    }
}
