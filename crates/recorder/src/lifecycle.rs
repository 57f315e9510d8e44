//! A recorder's life: [`start`] checks, locks and spawns the two threads; [`stop`] (or the
//! process's normal exit, through an `atexit` hook) asks them to end and waits for the final
//! flush. [`Shared`] is what the threads and the handle share.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::{self, Config, Request};
use super::{RecordingRow, StartedRow, sampler, ship, writer};
use sysmon_kernel::sample::Collector;
use sysmon_kernel::sync::lock;
use sysmon_live::LiveState;
use sysmon_live::registry::{Entry, Registry};
use sysmon_store::handle::{Dir, open_root};
use sysmon_store::lock::Partition;
use sysmon_store::{layout, merge};
use sysmon_tables::schema::Timestamp;

/// Samples waiting for the writer thread at most (about an hour at 1 Hz).
pub const CHANNEL_SAMPLES: usize = 4096;
/// How long `stop_recording` and the exit hook wait for the final flush.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

pub use sysmon_live::registry::State;

/// What the writer thread reports.
#[derive(Clone, Debug, Default)]
pub struct WriterStatus {
    pub rows_written: u64,
    pub rows_journaled: u64,
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

/// How a recorder's threads end: the one stop flag, and the writer's end.
#[derive(Debug, Default)]
struct Ending {
    stop_requested: bool,
    finished: bool,
    /// Flushes asked for ([`Shared::request_flush`]) and done by the writer, counted: a
    /// request is met once `flushed` reaches the count it set.
    flushes_wanted: u64,
    flushed: u64,
}

/// State shared by a recorder's threads and its handle.
#[derive(Debug)]
pub struct Shared {
    ending: Mutex<Ending>,
    changed: Condvar,
    pub samples_taken: AtomicU64,
    pub samples_missed: AtomicU64,
    /// Samples the writer thread could not take in (channel full).
    pub samples_dropped: AtomicU64,
    pub sampler_cpu_ns: AtomicU64,
    pub writer_cpu_ns: AtomicU64,
    pub status: Mutex<WriterStatus>,
    state: Mutex<State>,
    stopped_at: Mutex<Option<Timestamp>>,
    /// Held by the writer while it changes the visible files of its partitions (flush, merge),
    /// and by the shipper while it takes finished files out of the spool.
    pub handoff: Mutex<()>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            ending: Mutex::new(Ending::default()),
            changed: Condvar::new(),
            samples_taken: AtomicU64::new(0),
            samples_missed: AtomicU64::new(0),
            samples_dropped: AtomicU64::new(0),
            sampler_cpu_ns: AtomicU64::new(0),
            writer_cpu_ns: AtomicU64::new(0),
            status: Mutex::new(WriterStatus::default()),
            state: Mutex::new(State::Running),
            stopped_at: Mutex::new(None),
            handoff: Mutex::new(()),
        }
    }
}

impl Shared {
    /// Records an error for `last_error`.
    pub fn error(&self, msg: impl Into<String>) {
        let mut s = lock(&self.status);
        s.last_error = Some(msg.into());
        s.last_error_at = Some(Timestamp::now());
    }

    /// Asks the threads to end.
    pub fn request_stop(&self) {
        lock(&self.ending).stop_requested = true;
        self.changed.notify_all();
    }

    pub fn stop_requested(&self) -> bool {
        lock(&self.ending).stop_requested
    }

    pub fn state(&self) -> State {
        *lock(&self.state)
    }

    /// Waits on the ending until `done` holds or `deadline` passes; whether it holds.
    fn wait(&self, deadline: Instant, done: impl Fn(&Ending) -> bool) -> bool {
        let mut ending = lock(&self.ending);
        loop {
            if done(&ending) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            ending = match self.changed.wait_timeout(ending, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Sleeps until `deadline`, a stop request or a flush request; true if stopped.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        self.wait(deadline, |e| e.stop_requested || e.flushes_wanted > e.flushed);
        self.stop_requested()
    }

    /// Asks the writer to flush its buffered rows into the write-ahead log now, and waits until
    /// it has (or `timeout` passes, or the writer ends); whether it did. What a reader of the
    /// folder in this process calls first, so that it sees the latest samples.
    pub fn request_flush(&self, timeout: Duration) -> bool {
        let wanted = {
            let mut e = lock(&self.ending);
            if e.finished || e.stop_requested {
                return false;
            }
            e.flushes_wanted += 1;
            e.flushes_wanted
        };
        self.changed.notify_all();
        self.wait(Instant::now() + timeout, |e| e.flushed >= wanted || e.finished)
            && lock(&self.ending).flushed >= wanted
    }

    /// The flush requests not met yet: the count to report done after the flush.
    pub(super) fn flush_wanted(&self) -> Option<u64> {
        let e = lock(&self.ending);
        (e.flushes_wanted > e.flushed).then_some(e.flushes_wanted)
    }

    /// The writer flushed for every request up to `upto`.
    pub(super) fn flushed(&self, upto: u64) {
        let mut e = lock(&self.ending);
        e.flushed = e.flushed.max(upto);
        drop(e);
        self.changed.notify_all();
    }

    /// Called once by the writer thread when it ends, whatever the reason.
    pub(super) fn finish(&self) {
        *lock(&self.state) = if self.stop_requested() {
            State::Stopped
        } else {
            State::Failed
        };
        *lock(&self.stopped_at) = Some(Timestamp::now());
        lock(&self.ending).finished = true;
        self.changed.notify_all();
    }

    /// Waits for the writer's end; false on timeout.
    pub fn wait_finished(&self, timeout: Duration) -> bool {
        self.wait(Instant::now() + timeout, |e| e.finished)
    }
}

/// A recorder of this process.
#[derive(Debug)]
pub struct Recorder {
    pub id: i64,
    pub config: Config,
    pub started_at: Timestamp,
    /// When it started, on the monotonic clock (compared with [`Config::checked_at`]).
    pub started_instant: Instant,
    pub shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The uploader of an `s3://` destination.
    pub shipper: Option<ship::Shipper>,
}

impl Recorder {
    pub fn state(&self) -> State {
        self.shared.state()
    }

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
            publish_interval_seconds: self.config.publish_interval.as_secs_f64(),
            destination: self.destination(),
        }
    }

    /// The destination as shown: the directory, or `s3://bucket/prefix`.
    pub fn destination(&self) -> String {
        match &self.config.remote {
            Some(r) => r.shown.clone(),
            None => self.config.dir.display().to_string(),
        }
    }

    /// The recorder's row for `recordings()`.
    pub fn row(&self) -> RecordingRow {
        let s = lock(&self.shared.status).clone();
        let sh = &self.shared;
        let dropped_at_channel = sh.samples_dropped.load(Ordering::Relaxed) * s.rows_per_tick.max(1);
        let shipped = self.shipper.as_ref().map(|s| s.status());
        let cpu_ns = sh.sampler_cpu_ns.load(Ordering::Relaxed)
            + sh.writer_cpu_ns.load(Ordering::Relaxed)
            + shipped.as_ref().map_or(0, |s| s.cpu_ns);
        let ship_dropped = shipped.as_ref().map_or(0, |s| s.rows_dropped);
        RecordingRow {
            id: self.id,
            dir: self.config.dir.display().to_string(),
            interval_seconds: self.config.interval.as_secs_f64(),
            process_interval_seconds: self.config.process_interval.as_secs_f64(),
            flush_interval_seconds: self.config.flush_interval.as_secs_f64(),
            publish_interval_seconds: self.config.publish_interval.as_secs_f64(),
            tables: self.config.table_names(),
            state: self.state().as_str().to_string(),
            started_at: self.started_at,
            stopped_at: *lock(&sh.stopped_at),
            samples_taken: sh.samples_taken.load(Ordering::Relaxed),
            samples_missed: sh.samples_missed.load(Ordering::Relaxed),
            rows_written: s.rows_written,
            rows_journaled: s.rows_journaled,
            rows_dropped: s.rows_dropped + dropped_at_channel + ship_dropped,
            files_written: s.files_written,
            bytes_written: s.bytes_written,
            files_deleted: s.files_deleted,
            last_flush_at: s.last_flush_at,
            last_error: s.last_error,
            last_error_at: s.last_error_at,
            cpu_seconds: cpu_ns as f64 / 1e9,
            destination: self.destination(),
            objects_uploaded: shipped.as_ref().map(|s| s.objects_uploaded),
            bytes_uploaded: shipped.as_ref().map(|s| s.bytes_uploaded),
            // Measured now: the shipper may be waiting on an unreachable store.
            upload_backlog_bytes: shipped.as_ref().map(|_| ship::dir_bytes(&self.config.dir)),
            last_upload_at: shipped.as_ref().and_then(|s| s.last_upload_at),
            upload_lag_seconds: shipped.as_ref().map(|s| {
                // Rows not yet in the bucket: the spool's oldest, or those since the last take.
                let oldest = s.oldest_unshipped_us.min(wall_us());
                (wall_us() - oldest) as f64 / 1e6
            }),
        }
    }

    /// Asks the threads to end and waits at most `timeout` for the final flush (and for an
    /// `s3://` destination, the final upload, at most [`ship::STOP_UPLOAD_TIMEOUT`] of it:
    /// what is left stays in the spool). False when the final flush did not end in time.
    pub fn stop(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.shared.request_stop();
        if !self.shared.wait_finished(timeout) {
            return false;
        }
        for h in lock(&self.threads).drain(..) {
            let _ = h.join();
        }
        if let Some(s) = &self.shipper {
            s.finish(deadline.min(Instant::now() + ship::STOP_UPLOAD_TIMEOUT));
        }
        true
    }
}

/// Checks `req` without acting (safe in bind), as [`config::check`] does, and refuses it when
/// a running recorder of `recorders` already writes its directory or its S3 destination.
pub fn check(state: &LiveState, recorders: &Recorders, req: &Request) -> Result<Config, String> {
    let config = config::check(state, req)?;
    refuse_running_on(recorders, &config.dir, config.checked_at)?;
    if let Some(r) = &config.remote {
        refuse_running_to(recorders, &r.shown)?;
    }
    Ok(config)
}

/// Starts a recorder of a checked `config` on `state`, kept in `recorders` (the act of
/// `record_metrics`, on its first scan call, with the config its bind checked: the directory
/// the lockdown check saw).
pub fn start(state: &Arc<LiveState>, recorders: &Recorders, config: Config) -> Result<Arc<Recorder>, String> {
    let hooks = config.faults.clone();
    let _starting = recorders.starting();
    refuse_running_on(recorders, &config.dir, config.checked_at)?;
    let dir_shown = config.dir.display().to_string();
    let existed = config.dir.exists();
    let root = open_root(&config.dir).map_err(|e| format!("dir '{dir_shown}' cannot be created: {e}"))?;
    probe_writable(&root).map_err(|e| format!("dir '{dir_shown}' is not writable: {e}"))?;
    // A start refused from here on leaves no folder or `.lock` it made behind.
    let give_up = |partitions: Vec<Partition>, e: String| -> String {
        abandon(&root, partitions, (!existed).then_some(config.dir.as_path()));
        e
    };
    let mut partitions: Vec<Partition> = Vec::new();
    for t in &config.tables {
        match Partition::acquire(&root, &config.dir, t.name(), &config.host) {
            Ok(p) => partitions.push(p),
            Err(e) => return Err(give_up(partitions, format!("dir '{dir_shown}': {e}"))),
        }
    }
    let recovered = partitions.iter().try_for_each(|p| {
        merge::recover(&p.dir.path())
            .map(drop)
            .map_err(|e| format!("dir '{dir_shown}': cannot clean up {}: {e}", p.shown.display()))
    });
    if let Err(e) = recovered {
        return Err(give_up(partitions, e));
    }
    let id = recorders.next_id();
    let shared = Arc::new(Shared::default());
    let shipper = match &config.remote {
        Some(_) => match ship::start(&config, shared.clone(), hooks.clone(), id) {
            Ok(s) => Some(s),
            Err(e) => return Err(give_up(partitions, e)),
        },
        None => None,
    };
    let mut collector = Collector::new(state.roots().clone());
    let stop_shipper = |shipper: &Option<ship::Shipper>| {
        if let Some(s) = shipper {
            s.finish(Instant::now());
        }
    };
    let mut baseline = match collector.sample() {
        Ok(b) => b,
        Err(e) => {
            stop_shipper(&shipper);
            return Err(give_up(partitions, format!("cannot sample the host: {e}")));
        }
    };
    baseline.instant = state.now();
    let baseline = Arc::new(baseline);
    state.publish(baseline.clone());

    let (tx, rx) = sync_channel(CHANNEL_SAMPLES);
    let held = writer::Held {
        root,
        partitions,
        hooks,
    };
    let writer = {
        let (shared, config, state) = (shared.clone(), config.clone(), state.clone());
        std::thread::Builder::new()
            .name(format!("sysmon-rec{id}-w"))
            .spawn(move || writer::run(config, shared, rx, state, held))
    };
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            stop_shipper(&shipper);
            return Err(format!("cannot start the writer thread: {e}"));
        }
    };
    let sampler = {
        let (shared, config, state) = (shared.clone(), config.clone(), state.clone());
        std::thread::Builder::new()
            .name(format!("sysmon-rec{id}-s"))
            .spawn(move || sampler::run(config, shared, state, collector, baseline, tx))
    };
    let sampler = match sampler {
        Ok(h) => h,
        Err(e) => {
            // The writer sees its channel closed and ends.
            shared.request_stop();
            stop_shipper(&shipper);
            return Err(format!("cannot start the sampling thread: {e}"));
        }
    };
    let rec = Arc::new(Recorder {
        id,
        config,
        started_at: Timestamp::now(),
        started_instant: Instant::now(),
        shared,
        threads: Mutex::new(vec![sampler, writer]),
        shipper,
    });
    recorders.add(rec.clone());
    Ok(rec)
}

/// Gives up the partitions of a refused start ([`Partition::abandon`]: each one that holds
/// nothing but its `.lock` is removed), then the recording directory itself when this start
/// created it (`created`) and it is empty.
fn abandon(root: &Dir, partitions: Vec<Partition>, created: Option<&Path>) {
    for p in partitions {
        p.abandon(root);
    }
    if let Some(dir) = created {
        // rmdir: only an empty folder, never a link.
        let _ = std::fs::remove_dir(dir);
    }
}

/// Creates and removes a file in the held directory.
fn probe_writable(dir: &Dir) -> io::Result<()> {
    let p = dir.join(&format!(".sysmon-probe-{}{}", std::process::id(), layout::TEMP_SUFFIX));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&p)?;
    std::fs::remove_file(&p)
}

/// Asks every running recorder of `recorders` that writes into folder `dir` to flush its
/// buffered rows into the write-ahead log, each waiting at most `timeout`; how many did.
/// `read_recording` in the recording process calls it so that it reads up to the latest sample.
pub fn flush_folder(recorders: &Recorders, dir: &std::path::Path, timeout: Duration) -> usize {
    recorders
        .all()
        .iter()
        .filter(|r| r.config.dir == dir && r.state() == State::Running)
        .filter(|r| r.shared.request_flush(timeout))
        .count()
}

/// Stops recorder `id` of `recorders` after its final flush and returns its final row (the
/// act of `stop_recording`).
pub fn stop(recorders: &Recorders, id: i64) -> Result<RecordingRow, String> {
    let rec = recorders.check_stoppable(id)?;
    if !rec.stop(STOP_TIMEOUT) {
        return Err(format!(
            "recorder {id} did not finish its final flush within {} s; it is still trying (see recordings())",
            STOP_TIMEOUT.as_secs()
        ));
    }
    Ok(rec.row())
}

/// Microseconds since the Unix epoch now.
pub fn wall_us() -> i64 {
    Timestamp::now().micros
}

/// The recorders of one process (the process object owns it).
pub type Recorders = Registry<Recorder>;

impl Entry for Recorder {
    type Row = RecordingRow;
    const NOUN: &'static str = "recorder";
    const LISTING: &'static str = "recordings()";

    fn id(&self) -> i64 {
        self.id
    }

    fn state(&self) -> State {
        self.shared.state()
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
