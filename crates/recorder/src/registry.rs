//! The recorders of a process ([`Recorders`], a [`Registry`] of [`Recorder`]s) and the checks
//! `record_metrics` makes against them before it starts one.

use std::path::Path;
use std::time::{Duration, Instant};

use super::RecordingRow;
use super::lifecycle::{Recorder, State};
use sysmon_live::registry::{Entry, Registry};

/// The recorders of one process (the process object owns it).
pub type Recorders = Registry<Recorder>;

impl Entry for Recorder {
    type Row = RecordingRow;
    const NOUN: &'static str = "recorder";
    const LISTING: &'static str = "recordings()";

    fn id(&self) -> i64 {
        self.id
    }

    fn stopped_as(&self) -> Option<&'static str> {
        match self.state() {
            State::Running => None,
            s => Some(s.as_str()),
        }
    }

    fn row(&self) -> RecordingRow {
        Recorder::row(self)
    }

    fn request_stop(&self) {
        self.shared.request_stop();
    }

    fn wait_finished(&self, timeout: Duration) -> bool {
        self.shared.wait_finished(timeout)
    }

    /// The final upload of an `s3://` destination.
    fn finish(&self, deadline: Instant) {
        if let Some(s) = &self.shipper {
            s.finish(deadline);
        }
    }
}

/// An error if a running recorder of `recorders` writes `dir` (the one "already recording"
/// message). `checked_at` is when the request was checked: a recorder started since then was
/// started by another `record_metrics` of the same statement (or of a concurrent one), and
/// keeps running after the statement fails, so the error says so.
pub fn refuse_running_on(recorders: &Recorders, dir: &Path, checked_at: Instant) -> Result<(), String> {
    let running = recorders
        .all()
        .into_iter()
        .find(|r| r.config.dir == dir && r.state() == State::Running)
        .map(|r| (r.id, r.started_instant));
    match running {
        Some((other, started)) if started > checked_at => Err(format!(
            "recorder {other} is already recording into '{}' for this host: it was started after this record_metrics call was bound, by another record_metrics call on the same directory in this statement (such as both sides of a UNION ALL, or a CTE used twice) or in a concurrent one; it keeps running after this error: stop it with stop_recording({other}) if it was not meant to run",
            dir.display()
        )),
        Some((other, _)) => Err(format!(
            "recorder {other} is already recording into '{}' for this host; stop it first with stop_recording({other})",
            dir.display()
        )),
        None => Ok(()),
    }
}

/// An error if a running recorder of `recorders` uploads to the S3 destination `shown` (two
/// recorders of one host would write the same objects).
pub fn refuse_running_to(recorders: &Recorders, shown: &str) -> Result<(), String> {
    let running = recorders
        .all()
        .into_iter()
        .find(|r| r.config.remote.as_ref().is_some_and(|m| m.shown == shown) && r.state() == State::Running)
        .map(|r| r.id);
    match running {
        Some(other) => Err(format!(
            "recorder {other} is already recording into '{shown}' for this host; stop it first with stop_recording({other})"
        )),
        None => Ok(()),
    }
}
