//! The process object: the one [`LiveState`] of the process, and the registries of what runs
//! in its background (recorders, HTTP servers), with the one exit hook that stops them.
//!
//! This is the only process-wide static of sysmon ([`process()`]): DuckDB calls an extension's
//! table functions with no state of ours to hang things on, so the binding reaches the
//! process's state through it. Everything below takes what it uses as arguments
//! (`recorder::start(&live, &recorders, config)`), so tests build their own [`Process`] (or
//! just a `LiveState` and a registry) from a fixture tree.

use std::sync::{Arc, Once, OnceLock};

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

    /// Stops everything started on this process, bounded in time: the servers first (they
    /// answer from the recordings), then the recorders' final flushes and uploads.
    pub fn stop_all(&self) {
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
