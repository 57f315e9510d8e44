//! The recorders of one [`LiveState`](crate::live::LiveState): ids, lookups, and the checks
//! `record_metrics` and `stop_recording` make before they act.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use super::RecordingRow;
use super::lifecycle::{Recorder, State};
use crate::sync::lock;

#[derive(Debug)]
pub struct Recorders {
    list: Mutex<Vec<Arc<Recorder>>>,
    next_id: AtomicI64,
    /// Held while a recorder starts, so two starts on one directory cannot both pass the check.
    pub(super) starting: Mutex<()>,
    pub(super) exit_hook: Once,
}

impl Default for Recorders {
    fn default() -> Self {
        Recorders {
            list: Mutex::new(Vec::new()),
            next_id: AtomicI64::new(1),
            starting: Mutex::new(()),
            exit_hook: Once::new(),
        }
    }
}

impl Recorders {
    pub(super) fn next_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    pub(super) fn add(&self, rec: Arc<Recorder>) {
        lock(&self.list).push(rec);
    }

    /// An error if a running recorder writes `dir` (the one "already recording" message).
    /// `checked_at` is when the request was checked: a recorder started since then was
    /// started by another `record_metrics` of the same statement (or of a concurrent one),
    /// and keeps running after the statement fails, so the error says so.
    pub fn refuse_running_on(&self, dir: &Path, checked_at: Instant) -> Result<(), String> {
        let running = lock(&self.list)
            .iter()
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

    /// An error if a running recorder uploads to the S3 destination `shown` (two recorders of
    /// one host would write the same objects).
    pub fn refuse_running_to(&self, shown: &str) -> Result<(), String> {
        let running = lock(&self.list)
            .iter()
            .find(|r| r.config.remote.as_ref().is_some_and(|m| m.shown == shown) && r.state() == State::Running)
            .map(|r| r.id);
        match running {
            Some(other) => Err(format!(
                "recorder {other} is already recording into '{shown}' for this host; stop it first with stop_recording({other})"
            )),
            None => Ok(()),
        }
    }

    /// The recorder with this id, if any.
    pub fn get(&self, id: i64) -> Option<Arc<Recorder>> {
        lock(&self.list).iter().find(|r| r.id == id).cloned()
    }

    /// The running recorder `id` (safe in bind), or an error saying why not.
    pub fn check_stoppable(&self, id: i64) -> Result<Arc<Recorder>, String> {
        match self.get(id) {
            None => Err(self.unknown_id(id)),
            Some(r) if r.state() != State::Running => Err(format!(
                "recorder {id} is already {}; see recordings()",
                r.state().as_str()
            )),
            Some(r) => Ok(r),
        }
    }

    fn unknown_id(&self, id: i64) -> String {
        let ids: Vec<String> = lock(&self.list).iter().map(|r| r.id.to_string()).collect();
        if ids.is_empty() {
            format!("no recorder has id {id}: no recorder was started in this process")
        } else {
            format!("no recorder has id {id}; ids of this process: {}", ids.join(", "))
        }
    }

    /// Every recorder, oldest first.
    pub fn rows(&self) -> Vec<RecordingRow> {
        let recs: Vec<Arc<Recorder>> = lock(&self.list).clone();
        recs.iter().map(|r| r.row()).collect()
    }

    /// Stops every running recorder, waiting at most `timeout` in all.
    pub fn stop_all(&self, timeout: Duration) {
        let recs: Vec<Arc<Recorder>> = lock(&self.list).clone();
        for r in &recs {
            r.shared.request_stop();
        }
        let deadline = Instant::now() + timeout;
        for r in &recs {
            r.shared
                .wait_finished(deadline.saturating_duration_since(Instant::now()));
        }
        // Then the final uploads of `s3://` destinations, within what is left of `timeout`.
        for r in &recs {
            if let Some(s) = &r.shipper
                && r.shared.wait_finished(Duration::ZERO)
            {
                s.finish(deadline);
            }
        }
    }
}
