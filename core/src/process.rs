//! The process object: the one [`LiveState`] of the process, and the registries of what runs
//! in its background (recorders, HTTP servers, alerts), with the one exit hook that stops them.
//!
//! This is the only process-wide static of sysmon ([`process()`]): DuckDB calls an extension's
//! table functions with no state of ours to hang things on, so the binding reaches the
//! process's state through it. Everything below takes what it uses as arguments
//! (`recorder::start(&live, &recorders, config)`), so tests build their own [`Process`] (or
//! just a `LiveState` and a registry) from a fixture tree.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once, OnceLock};

use sysmon_alert::{self as alert, Alert, AlertRow, Alerts, Evaluator, Interrupt, Rule};
use sysmon_kernel::sync::lock;

use sysmon_kernel::procfs::Roots;
use sysmon_live::LiveState;
use sysmon_recorder::{self as recorder, Config, Recorder, Recorders, RecordingRow};
use sysmon_serve::{self as serve, Server, ServerRow, Servers};

/// The process's live state and what was started on it.
#[derive(Debug)]
pub struct Process {
    pub live: Arc<LiveState>,
    pub recorders: Recorders,
    pub servers: Servers,
    pub alerts: Alerts,
    /// The recorders started for alerts' `dir`s (by folder): stopped with the last alert of
    /// their folder. A recorder the user started is used, never stopped, by an alert.
    alert_recorders: Mutex<HashMap<PathBuf, i64>>,
    exit_hook: Once,
}

/// The process of the running program: the real host, the real clock.
pub fn process() -> &'static Process {
    static PROCESS: OnceLock<Process> = OnceLock::new();
    PROCESS.get_or_init(|| Process::new(LiveState::new(Roots::default()).with_test_roots()))
}

impl Process {
    pub fn new(live: LiveState) -> Process {
        Process {
            live: Arc::new(live),
            recorders: Recorders::default(),
            servers: Servers::default(),
            alerts: Alerts::default(),
            alert_recorders: Mutex::new(HashMap::new()),
            exit_hook: Once::new(),
        }
    }

    /// Starts a recorder of a checked `config` (the act of `record_metrics`).
    pub fn record(&self, config: Config) -> Result<Arc<Recorder>, String> {
        self.register_exit_hook();
        recorder::start(&self.live, &self.recorders, config)
    }

    /// Stops recorder `id` after its final flush; its final row (the act of `stop_recording`).
    pub fn stop_recording(&self, id: i64) -> Result<RecordingRow, String> {
        recorder::stop(&self.recorders, id)
    }

    /// Has this process's recorders of folder `dir` flush their buffers into the log (at most
    /// `timeout` each), so that a reader of the folder sees their latest samples.
    pub fn flush_recording(&self, dir: &std::path::Path, timeout: std::time::Duration) -> usize {
        recorder::lifecycle::flush_folder(&self.recorders, dir, timeout)
    }

    /// Starts an HTTP server (the act of `serve_metrics`).
    pub fn serve(&self, config: serve::Config) -> Result<Arc<Server>, String> {
        self.register_exit_hook();
        serve::start(&self.live, &self.servers, config)
    }

    /// Stops server `id`; its final row (the act of `stop_serving`).
    pub fn stop_serving(&self, id: i64) -> Result<ServerRow, String> {
        serve::stop(&self.servers, id)
    }

    /// Starts alert `rule` (the act of `alert_metrics`). When it has a `dir`, `recorder` is the
    /// checked config of a recorder of the `alerts` table there: a running recorder of that
    /// folder that records `alerts` is used; none running, this one is started (and stopped
    /// with the folder's last alert).
    pub fn alert(
        &self,
        rule: Rule,
        recorder: Option<Config>,
        evaluator: Box<dyn Evaluator>,
        interrupt: Arc<dyn Interrupt>,
    ) -> Result<Arc<Alert>, String> {
        self.register_exit_hook();
        if self.alerts.get(&rule.name).is_some() {
            return Err(format!(
                "an alert named '{}' is already running; stop it first with stop_alert('{}'), or choose another name",
                rule.name, rule.name
            ));
        }
        if let Some(config) = recorder {
            self.ensure_alert_recorder(config)?;
        }
        let key = rule.dir.as_ref().map(|d| d.key.clone());
        let started = alert::start(&self.live, &self.alerts, rule, evaluator, interrupt);
        if started.is_err()
            && let Some(key) = key
        {
            self.release_alert_recorder(&key);
        }
        started
    }

    fn ensure_alert_recorder(&self, config: Config) -> Result<(), String> {
        let mut owned = lock(&self.alert_recorders);
        let running = self
            .recorders
            .all()
            .into_iter()
            .find(|r| r.config.dir == config.dir && r.state() == recorder::State::Running);
        match running {
            Some(r) if r.config.tables.iter().any(|t| t.name() == "alerts") => Ok(()),
            Some(r) => Err(format!(
                "recorder {} records into '{}' without the alerts table: stop it (stop_recording({})) and start it again with 'alerts' among its tables, or give this alert another dir",
                r.id,
                config.dir.display(),
                r.id
            )),
            None => {
                let dir = config.dir.clone();
                let rec = self.record(config)?;
                owned.insert(dir, rec.id);
                Ok(())
            }
        }
    }

    /// Stops the recorder started for folder `key`'s alerts when none of them runs any more.
    fn release_alert_recorder(&self, key: &std::path::Path) {
        let in_use = self
            .alerts
            .all()
            .iter()
            .any(|a| a.rule.dir.as_ref().is_some_and(|d| d.key == key));
        if in_use {
            return;
        }
        let id = lock(&self.alert_recorders).remove(key);
        if let Some(id) = id {
            let _ = recorder::stop(&self.recorders, id);
        }
    }

    /// Stops alert `name`; its final rows (the act of `stop_alert`). The recorder started for
    /// its `dir` stops with the folder's last alert, after its final flush.
    pub fn stop_alert(&self, name: &str) -> Result<Vec<AlertRow>, String> {
        let key = self
            .alerts
            .get(name)
            .and_then(|a| a.rule.dir.as_ref().map(|d| d.key.clone()));
        let rows = alert::stop(&self.alerts, name)?;
        if let Some(key) = key {
            self.release_alert_recorder(&key);
        }
        Ok(rows)
    }

    /// Stops everything started on this process, bounded in time: the alerts first (their
    /// last transitions go to the recorders), the servers (they answer from the recordings),
    /// then the recorders' final flushes and uploads.
    pub fn stop_all(&self) {
        self.alerts.stop_all(alert::STOP_GRACE);
        self.servers.stop_all(serve::STOP_TIMEOUT);
        self.recorders.stop_all(recorder::EXIT_TIMEOUT);
    }

    /// At the first start of anything on [`process()`], registers [`exit_hook`], which stops
    /// what was started there. Another `Process` (a test's) registers nothing: its owner stops
    /// what it started.
    fn register_exit_hook(&self) {
        if !std::ptr::eq(self, process()) {
            return;
        }
        self.exit_hook.call_once(|| {
            // SAFETY: registering a plain extern "C" function without arguments.
            unsafe {
                libc::atexit(exit_hook);
            }
        });
    }
}

/// Runs at normal process exit: stops every server and recorder of the process (the
/// recorders' final flush), bounded in time. Never panics (a panic cannot unwind out of an
/// `extern "C"` function).
extern "C" fn exit_hook() {
    let _ = std::panic::catch_unwind(|| process().stop_all());
}
