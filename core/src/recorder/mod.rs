//! The recorder: samples the host on a fixed interval and writes the rows as Parquet.
//!
//! A recorder belongs to the process (not to a DuckDB connection): [`start`] spawns two
//! threads and [`stop`] (or the process's normal exit, through an `atexit` hook) ends them
//! after a final flush. Design rules, each with the reason:
//!
//! * **Two threads.** The sampling thread ([`sampler`]) does only the reads of each tick
//!   (kept-open `/proc` files, `pread`), publishes the sample to the live ring (so live queries
//!   reuse it) and hands it to the writer thread through a bounded channel. The writer thread
//!   ([`writer`]) turns samples into rows, encodes Parquet, writes, merges and deletes: no
//!   file system call can delay a tick.
//! * **Ticks on the wall clock.** Tick `k` is due at `k × interval` since the Unix epoch, so
//!   recordings of several hosts line up and do not drift; a tick that cannot be served in its
//!   slot is counted in `samples_missed`, never made up by a burst.
//! * **Bounded memory.** The channel holds at most [`CHANNEL_SAMPLES`] samples; each table
//!   buffers at most [`BUFFER_BYTES`] worth of rows while writes fail. What does not fit is
//!   counted in `rows_dropped`; writing resumes when the fault clears (each flush retries).
//! * **Nothing a reader sees is partial**, and merges are crash-safe: see [`store`], [`merge`].
//! * **Only this host's partitions are touched** (clean-up, merging, retention, `max_bytes`),
//!   and a `flock` per partition ([`lock`]) keeps two recorders from writing one.
//! * **Panic-safe threads.** Both thread bodies run inside `catch_unwind`; a panic ends the
//!   recorder with state `failed` and the message in `last_error`, never the process.

pub mod columns;
pub mod faults;
pub mod layout;
pub mod lock;
pub mod merge;
pub mod retention;
pub mod sampler;
pub mod store;
pub mod tables;
pub mod writer;

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::host;
use crate::live::lock as lock_mutex;
use crate::procfs::Roots;
use crate::sample::Collector;
use crate::schema::Timestamp;
use lock::PartitionLock;
use tables::TableEntry;

/// Version of the recorded files' schemas, written into every file
/// ([`store::keys::SCHEMA_VERSION`]); bumped when a table gains columns.
pub const SCHEMA_VERSION: u32 = 1;

/// The shortest and longest `interval`.
pub const INTERVAL_MIN: Duration = Duration::from_millis(10);
pub const INTERVAL_MAX: Duration = Duration::from_secs(86_400);
/// The default and the bounds of `flush_interval`.
pub const FLUSH_DEFAULT: Duration = Duration::from_secs(10);
pub const FLUSH_MIN: Duration = Duration::from_millis(100);
pub const FLUSH_MAX: Duration = Duration::from_secs(86_400);
/// The default `process_interval` (never below `interval`).
pub const PROCESS_DEFAULT: Duration = Duration::from_secs(60);
/// The shortest `retention`.
pub const RETENTION_MIN: Duration = Duration::from_secs(60);
/// Samples waiting for the writer thread at most (about an hour at 1 Hz).
pub const CHANNEL_SAMPLES: usize = 4096;
/// Rows buffered per table at most while writes fail, in bytes of the in-memory columns.
pub const BUFFER_BYTES: usize = 32 << 20;
/// How long `stop_recording` and the exit hook wait for the final flush.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

crate::declare_table! {
    /// One row per recorder started in this process. `stop_recording(id)` returns the same
    /// columns: the stopped recorder's final row.
    pub struct RecordingRow => "recordings", "recordings" {
        /// The recorder's id, for `stop_recording(id)`.
        id: i64 [""],
        /// The directory it writes (absolute).
        dir: String [""],
        /// Sampling interval of the host tables.
        interval_seconds: f64 ["seconds"],
        /// Sampling interval of the per-process tables.
        process_interval_seconds: f64 ["seconds"],
        /// How long rows wait in memory before they are written.
        flush_interval_seconds: f64 ["seconds"],
        /// The tables recorded.
        tables: Vec<String> [""],
        /// `running`, `stopped`, or `failed` (a thread ended without being stopped: a bug).
        state: String [""],
        /// When it started.
        started_at: Timestamp [""],
        /// When it stopped; NULL while running.
        stopped_at: Option<Timestamp> [""],
        /// Ticks sampled.
        samples_taken: u64 [""],
        /// Ticks that could not be served in time (counted, not made up).
        samples_missed: u64 [""],
        /// Rows in files that were written.
        rows_written: u64 [""],
        /// Rows lost because the bounded buffer overflowed while writes failed.
        rows_dropped: u64 [""],
        /// Parquet files written (flushes and merges).
        files_written: u64 [""],
        /// Bytes of those files.
        bytes_written: u64 ["bytes"],
        /// Files deleted by `retention` and `max_bytes`.
        files_deleted: u64 [""],
        /// When rows were last written.
        last_flush_at: Option<Timestamp> [""],
        /// The most recent error, NULL when there was none; kept after the fault clears.
        last_error: Option<String> [""],
        /// When `last_error` happened.
        last_error_at: Option<Timestamp> [""],
        /// CPU time used by the recorder's two threads.
        cpu_seconds: f64 ["seconds"],
    }
}

crate::declare_table! {
    /// The one row `record_metrics` returns: the recorder it started.
    pub struct StartedRow => "record_metrics", "record_metrics" {
        /// The recorder's id, for `stop_recording(id)` and `recordings()`.
        id: i64 [""],
        /// The directory it writes (absolute: a relative one is resolved against the working directory).
        dir: String [""],
        /// Sampling interval of the host tables.
        interval_seconds: f64 ["seconds"],
        /// The tables recorded.
        tables: Vec<String> [""],
        /// When it started.
        started_at: Timestamp [""],
        /// Sampling interval of the per-process tables.
        process_interval_seconds: f64 ["seconds"],
        /// How long rows wait in memory before they are written.
        flush_interval_seconds: f64 ["seconds"],
    }
}

impl Recorder {
    /// The row `record_metrics` returns.
    pub fn started_row(&self) -> StartedRow {
        StartedRow {
            id: self.id,
            dir: self.config.dir.display().to_string(),
            interval_seconds: self.config.interval.as_secs_f64(),
            tables: self.config.table_names(),
            started_at: self.started_at,
            process_interval_seconds: self.config.process_interval.as_secs_f64(),
            flush_interval_seconds: self.config.flush_interval.as_secs_f64(),
        }
    }
}

/// What `record_metrics` asks for, before it is checked.
#[derive(Clone, Debug)]
pub struct Request {
    pub dir: String,
    pub interval: Duration,
    pub tables: Option<Vec<String>>,
    pub process_interval: Option<Duration>,
    pub flush_interval: Option<Duration>,
    pub retention: Option<Duration>,
    pub max_bytes: Option<i64>,
}

/// A checked request.
#[derive(Clone, Debug)]
pub struct Config {
    /// Absolute, normalized.
    pub dir: PathBuf,
    pub interval: Duration,
    pub process_interval: Duration,
    pub flush_interval: Duration,
    pub tables: Vec<&'static TableEntry>,
    pub retention: Option<Duration>,
    pub max_bytes: Option<u64>,
    /// The `host=` partition value.
    pub host: String,
}

impl Config {
    pub fn table_names(&self) -> Vec<String> {
        self.tables.iter().map(|t| t.name().to_string()).collect()
    }

    pub fn host_dirs(&self) -> Vec<PathBuf> {
        self.tables
            .iter()
            .map(|t| layout::host_dir(&self.dir, t.name(), &self.host))
            .collect()
    }
}

/// `path` made absolute (against the working directory) and without `.` and `..` parts.
pub fn absolute(path: &Path) -> io::Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

fn writable(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access reads a NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Checks a request without acting (safe in bind): every error names the parameter and what
/// it accepts.
pub fn check(req: &Request) -> Result<Config, String> {
    if req.dir.trim().is_empty() {
        return Err("dir must be a directory path, such as '/var/lib/sysmon'; got an empty string".into());
    }
    let dir = absolute(Path::new(&req.dir)).map_err(|e| format!("dir '{}': cannot resolve: {e}", req.dir))?;
    let shown = dir.display().to_string();
    match std::fs::metadata(&dir) {
        Ok(m) if !m.is_dir() => return Err(format!("dir '{shown}' is a file, not a directory")),
        Ok(_) if !writable(&dir) => return Err(format!("dir '{shown}' is not writable by this process")),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => {
            // It will be created: its nearest existing ancestor must be a writable directory.
            let mut a = dir.parent();
            while let Some(p) = a {
                match std::fs::metadata(p) {
                    Ok(m) if m.is_dir() && writable(p) => break,
                    Ok(_) => {
                        return Err(format!(
                            "dir '{shown}' cannot be created: '{}' is not a writable directory",
                            p.display()
                        ));
                    }
                    Err(_) => a = p.parent(),
                }
            }
        }
        Err(e) => return Err(format!("dir '{shown}': {e}")),
    }
    if !(INTERVAL_MIN..=INTERVAL_MAX).contains(&req.interval) {
        return Err(format!(
            "interval must be from {} to {}; got {}",
            crate::interval::describe(INTERVAL_MIN),
            crate::interval::describe(INTERVAL_MAX),
            crate::interval::describe(req.interval)
        ));
    }
    let tables = match &req.tables {
        Some(names) => tables::resolve(names)?,
        None => tables::defaults(),
    };
    let process_interval = req.process_interval.unwrap_or(PROCESS_DEFAULT.max(req.interval));
    if process_interval < req.interval {
        return Err(format!(
            "process_interval must be at least interval ({}); got {}",
            crate::interval::describe(req.interval),
            crate::interval::describe(process_interval)
        ));
    }
    let max_bytes = match req.max_bytes {
        None => None,
        Some(b) if b > 0 => Some(b as u64),
        Some(b) => return Err(format!("max_bytes must be a positive number of bytes; got {b}")),
    };
    let config = Config {
        dir,
        interval: req.interval,
        process_interval,
        flush_interval: req.flush_interval.unwrap_or(FLUSH_DEFAULT),
        tables,
        retention: req.retention,
        max_bytes,
        host: layout::host_partition(&host::hostname()),
    };
    if let Some(other) = running_on(&config.dir) {
        return Err(format!(
            "recorder {other} is already recording into '{shown}' for this host; stop it first with stop_recording({other})"
        ));
    }
    Ok(config)
}

/// The id of a running recorder of this process writing `dir`.
fn running_on(dir: &Path) -> Option<i64> {
    lock_mutex(&RECORDERS)
        .iter()
        .find(|r| r.config.dir == dir && r.state() == State::Running)
        .map(|r| r.id)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    Stopped,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stopped => "stopped",
            State::Failed => "failed",
        }
    }
}

/// What the writer thread reports.
#[derive(Clone, Debug, Default)]
pub struct WriterStatus {
    pub rows_written: u64,
    pub rows_dropped: u64,
    pub files_written: u64,
    pub bytes_written: u64,
    pub files_deleted: u64,
    pub last_flush_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    /// Rows one tick produces (all tables), to count the rows of samples dropped at the channel.
    pub rows_per_tick: u64,
}

/// State shared by a recorder's threads and its handle.
pub struct Shared {
    stop: Mutex<bool>,
    stop_cv: Condvar,
    finished: Mutex<bool>,
    finished_cv: Condvar,
    stop_requested: AtomicBool,
    pub samples_taken: AtomicU64,
    pub samples_missed: AtomicU64,
    /// Samples the writer thread could not take in (channel full).
    pub samples_dropped: AtomicU64,
    pub sampler_cpu_ns: AtomicU64,
    pub writer_cpu_ns: AtomicU64,
    pub status: Mutex<WriterStatus>,
    state: Mutex<State>,
    stopped_at: Mutex<Option<Timestamp>>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            finished: Mutex::new(false),
            finished_cv: Condvar::new(),
            stop_requested: AtomicBool::new(false),
            samples_taken: AtomicU64::new(0),
            samples_missed: AtomicU64::new(0),
            samples_dropped: AtomicU64::new(0),
            sampler_cpu_ns: AtomicU64::new(0),
            writer_cpu_ns: AtomicU64::new(0),
            status: Mutex::new(WriterStatus::default()),
            state: Mutex::new(State::Running),
            stopped_at: Mutex::new(None),
        }
    }

    /// Records an error for `last_error`.
    pub fn error(&self, msg: impl Into<String>) {
        let mut s = lock_mutex(&self.status);
        s.last_error = Some(msg.into());
        s.last_error_at = Some(Timestamp::now());
    }

    /// Asks the threads to end.
    pub fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::SeqCst);
        *lock_mutex(&self.stop) = true;
        self.stop_cv.notify_all();
    }

    pub fn stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::SeqCst)
    }

    /// Sleeps until `deadline` or a stop request; true if stopped.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        let mut stop = lock_mutex(&self.stop);
        loop {
            if *stop {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stop = match self.stop_cv.wait_timeout(stop, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Called once by the writer thread when it ends, whatever the reason.
    fn finish(&self) {
        {
            let mut st = lock_mutex(&self.state);
            *st = if self.stop_requested() {
                State::Stopped
            } else {
                State::Failed
            };
        }
        *lock_mutex(&self.stopped_at) = Some(Timestamp::now());
        *lock_mutex(&self.finished) = true;
        self.finished_cv.notify_all();
    }

    /// Waits for the writer's end; false on timeout.
    fn wait_finished(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut done = lock_mutex(&self.finished);
        while !*done {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            done = match self.finished_cv.wait_timeout(done, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
}

/// A recorder of this process.
pub struct Recorder {
    pub id: i64,
    pub config: Config,
    pub started_at: Timestamp,
    pub shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Recorder {
    pub fn state(&self) -> State {
        *lock_mutex(&self.shared.state)
    }

    /// The recorder's row for `recordings()`.
    pub fn row(&self) -> RecordingRow {
        let s = lock_mutex(&self.shared.status).clone();
        let sh = &self.shared;
        let dropped_at_channel = sh.samples_dropped.load(Ordering::Relaxed) * s.rows_per_tick.max(1);
        let cpu_ns = sh.sampler_cpu_ns.load(Ordering::Relaxed) + sh.writer_cpu_ns.load(Ordering::Relaxed);
        RecordingRow {
            id: self.id,
            dir: self.config.dir.display().to_string(),
            interval_seconds: self.config.interval.as_secs_f64(),
            process_interval_seconds: self.config.process_interval.as_secs_f64(),
            flush_interval_seconds: self.config.flush_interval.as_secs_f64(),
            tables: self.config.table_names(),
            state: self.state().as_str().to_string(),
            started_at: self.started_at,
            stopped_at: *lock_mutex(&sh.stopped_at),
            samples_taken: sh.samples_taken.load(Ordering::Relaxed),
            samples_missed: sh.samples_missed.load(Ordering::Relaxed),
            rows_written: s.rows_written,
            rows_dropped: s.rows_dropped + dropped_at_channel,
            files_written: s.files_written,
            bytes_written: s.bytes_written,
            files_deleted: s.files_deleted,
            last_flush_at: s.last_flush_at,
            last_error: s.last_error,
            last_error_at: s.last_error_at,
            cpu_seconds: cpu_ns as f64 / 1e9,
        }
    }
}

static RECORDERS: Mutex<Vec<Arc<Recorder>>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicI64 = AtomicI64::new(1);
static EXIT_HOOK: Once = Once::new();

/// CPU time of the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// Starts a recorder (the act of `record_metrics`, on its first scan call).
pub fn start(req: &Request) -> Result<Arc<Recorder>, String> {
    let config = check(req)?;
    EXIT_HOOK.call_once(|| {
        // SAFETY: registering a plain extern "C" function without arguments.
        unsafe {
            libc::atexit(exit_hook);
        }
    });
    faults::refresh();
    // Serialize starts, so two concurrent starts on one directory cannot both pass the check.
    static STARTING: Mutex<()> = Mutex::new(());
    let _starting = lock_mutex(&STARTING);
    if let Some(other) = running_on(&config.dir) {
        return Err(format!(
            "recorder {other} is already recording into '{}' for this host; stop it first with stop_recording({other})",
            config.dir.display()
        ));
    }
    let dir_shown = config.dir.display().to_string();
    std::fs::create_dir_all(&config.dir).map_err(|e| format!("dir '{dir_shown}' cannot be created: {e}"))?;
    probe_writable(&config.dir).map_err(|e| format!("dir '{dir_shown}' is not writable: {e}"))?;
    let mut locks: Vec<PartitionLock> = Vec::new();
    for h in config.host_dirs() {
        locks.push(PartitionLock::acquire(&h).map_err(|e| format!("dir '{dir_shown}': {e}"))?);
    }
    for h in config.host_dirs() {
        merge::recover(&h).map_err(|e| format!("dir '{dir_shown}': cannot clean up {}: {e}", h.display()))?;
    }
    let mut collector = Collector::new(Roots::default());
    let baseline = collector.sample().map_err(|e| format!("cannot sample the host: {e}"))?;

    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    let shared = Arc::new(Shared::new());
    let (tx, rx) = sync_channel(CHANNEL_SAMPLES);
    let baseline = Arc::new(baseline);
    crate::live::publish(baseline.clone());
    let writer = {
        let shared = shared.clone();
        let config = config.clone();
        let baseline = baseline.clone();
        std::thread::Builder::new()
            .name(format!("sysmon-rec{id}-w"))
            .spawn(move || writer::run(config, shared, rx, baseline, locks))
            .map_err(|e| format!("cannot start the writer thread: {e}"))?
    };
    let sampler = {
        let shared = shared.clone();
        let config = config.clone();
        std::thread::Builder::new()
            .name(format!("sysmon-rec{id}-s"))
            .spawn(move || sampler::run(config, shared, collector, tx))
    };
    let sampler = match sampler {
        Ok(h) => h,
        Err(e) => {
            // The writer sees its channel closed and ends.
            shared.request_stop();
            return Err(format!("cannot start the sampling thread: {e}"));
        }
    };
    let rec = Arc::new(Recorder {
        id,
        config,
        started_at: Timestamp::now(),
        shared,
        threads: Mutex::new(vec![sampler, writer]),
    });
    lock_mutex(&RECORDERS).push(rec.clone());
    Ok(rec)
}

/// Creates and removes a file in `dir`.
fn probe_writable(dir: &Path) -> io::Result<()> {
    let p = dir.join(format!(".sysmon-probe-{}{}", std::process::id(), layout::TEMP_SUFFIX));
    std::fs::write(&p, b"")?;
    std::fs::remove_file(&p)
}

/// The recorder with this id, if any.
pub fn get(id: i64) -> Option<Arc<Recorder>> {
    lock_mutex(&RECORDERS).iter().find(|r| r.id == id).cloned()
}

/// Checks that `id` names a running recorder (safe in bind).
pub fn check_stoppable(id: i64) -> Result<(), String> {
    match get(id) {
        None => Err(unknown_id(id)),
        Some(r) if r.state() != State::Running => Err(format!(
            "recorder {id} is already {}; see recordings()",
            r.state().as_str()
        )),
        Some(_) => Ok(()),
    }
}

fn unknown_id(id: i64) -> String {
    let ids: Vec<String> = lock_mutex(&RECORDERS).iter().map(|r| r.id.to_string()).collect();
    if ids.is_empty() {
        format!("no recorder has id {id}: no recorder was started in this process")
    } else {
        format!("no recorder has id {id}; ids of this process: {}", ids.join(", "))
    }
}

/// Stops a recorder after its final flush and returns its final row (the act of
/// `stop_recording`).
pub fn stop(id: i64) -> Result<RecordingRow, String> {
    check_stoppable(id)?;
    let rec = get(id).ok_or_else(|| unknown_id(id))?;
    if !stop_one(&rec, STOP_TIMEOUT) {
        return Err(format!(
            "recorder {id} did not finish its final flush within {} s; it is still trying (see recordings())",
            STOP_TIMEOUT.as_secs()
        ));
    }
    Ok(rec.row())
}

fn stop_one(rec: &Recorder, timeout: Duration) -> bool {
    rec.shared.request_stop();
    if !rec.shared.wait_finished(timeout) {
        return false;
    }
    for h in lock_mutex(&rec.threads).drain(..) {
        let _ = h.join();
    }
    true
}

/// Every recorder of this process, oldest first.
pub fn list() -> Vec<RecordingRow> {
    let recs: Vec<Arc<Recorder>> = lock_mutex(&RECORDERS).clone();
    recs.iter().map(|r| r.row()).collect()
}

/// Stops every running recorder, waiting at most `timeout` in all.
pub fn stop_all(timeout: Duration) {
    let recs: Vec<Arc<Recorder>> = lock_mutex(&RECORDERS).clone();
    for r in &recs {
        r.shared.request_stop();
    }
    let deadline = Instant::now() + timeout;
    for r in &recs {
        let left = deadline.saturating_duration_since(Instant::now());
        r.shared.wait_finished(left);
    }
}

/// Runs at normal process exit: the final flush of every running recorder, bounded in time.
/// Never panics (a panic cannot unwind out of an `extern "C"` function: it is caught here).
extern "C" fn exit_hook() {
    let _ = std::panic::catch_unwind(|| stop_all(EXIT_TIMEOUT));
}

/// The message of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Microseconds since the Unix epoch now.
pub fn wall_us() -> i64 {
    Timestamp::now().micros
}

#[cfg(test)]
mod tests;
