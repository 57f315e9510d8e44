//! The writer thread: rows from samples, the write-ahead log, Parquet files, merges, retention.
//!
//! It takes in the [`Sampled`] ticks queued by the sampling thread once every [`DRAIN_INTERVAL`]
//! (and before each flush, and at once when a stop is requested) and appends each table's rows to
//! its [`Batch`]. Every `flush_interval` each table's buffered rows are appended to the partition's
//! write-ahead log ([`sysmon_store::wal`]: one `pwrite`, no fsync); every `publish_interval` (on its
//! multiples on the wall clock), at a new UTC day, when a log passes [`WAL_PUBLISH_BYTES`], and at
//! stop, each log is published as one level-0 Parquet file per UTC day, the log emptied, then full
//! levels merged ([`merge::compact`]) and retention applied. At start it replays what a killed
//! recorder left in the logs. A write that fails keeps its rows buffered (up to the table's cap;
//! beyond it new rows are counted in `rows_dropped`), records the error in `last_error`, and is
//! retried at the next flush. When the channel closes (stop, exit, or a dead sampling thread), it
//! flushes and publishes what is left and releases the partition locks.
//!
//! Every folder is written through a held descriptor ([`sysmon_store::handle`]). Before each table's
//! publish the writer checks that the recording directory is still the one it holds (re-creating
//! it when it was deleted, refusing when a link or a file took its place) and that the
//! partition's lock is still the lock on disk ([`Partition::still_held`]); a lost lock is taken
//! again, and when another recorder took it first, this recorder stops with the reason in
//! `last_error` so that one writer alone writes each partition (a log appended meanwhile sits in
//! the held folder, so nothing reaches another recorder's partition). Failures of one flush are
//! reported together in `last_error`, naming every table that failed.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::file::properties::WriterProperties;

use super::sampler::Sampled;
use super::{BUFFER_BYTES, Config, Shared, thread_cpu_ns, wall_us};
use sysmon_kernel::sync::lock;
use sysmon_live::LiveState;
use sysmon_store::faults::Hooks;
use sysmon_store::handle::{Dir, FileId, open_root};
use sysmon_store::lock::Partition;
use sysmon_store::store::{self, FileMeta};
use sysmon_store::wal::Wal;
use sysmon_store::{layout, merge, retention};
use sysmon_tables::columns::Batch;
use sysmon_tables::recorded::RecordableTable;
use sysmon_tables::schema::Cadence;

/// A log this large is published at the next flush, whatever `publish_interval` says (bounds
/// the log's size, and the memory and time of one publish, at short intervals).
pub const WAL_PUBLISH_BYTES: u64 = 16 << 20;

/// How often the writer wakes to take in the ticks queued in its channel (sooner when a flush is
/// due, at once when a stop is requested). Waking once per tick cost a futex wake on the sampling
/// thread and a wait on the writer's, about a quarter of the writer's time at 10 Hz
/// (docs/recorder.md, "Round four"). A second of ticks is at most 100 (the shortest interval is
/// 10 ms), far below [`super::CHANNEL_SAMPLES`]; the rows wait in the channel instead of the
/// batch, so what a crash may lose is unchanged (both are memory until the next flush).
pub const DRAIN_INTERVAL: Duration = Duration::from_secs(1);

mod journal;
mod publish;

struct Pending {
    day: i64,
    batch: RecordBatch,
    first_us: i64,
    last_us: i64,
}

struct TableState {
    entry: RecordableTable,
    index: usize,
    /// The table's `host=<host>` folder, held open and locked.
    part: Partition,
    schema: SchemaRef,
    meta: FileMeta,
    /// The properties of this table's level-0 files, set up once.
    props0: WriterProperties,
    batch: Batch,
    batch_day: Option<i64>,
    pending: Vec<Pending>,
    pending_rows: usize,
    days_to_close: BTreeSet<i64>,
    /// The partition's write-ahead log (opened at start, or at the next flush after it could
    /// not be opened or its folder was replaced) and the rows it holds.
    wal: Option<Wal>,
    wal_rows: usize,
    cap_rows: usize,
    rows_last_tick: u64,
}

struct Writer {
    config: Config,
    shared: Arc<Shared>,
    state: Arc<LiveState>,
    tables: Vec<TableState>,
    fanin: usize,
    hooks: Hooks,
    /// The recording directory, held open.
    root: Dir,
    /// Set when another recorder took a partition's lock: the writer stops.
    lost: Option<String>,
    /// A publish failed: retried at every flush until it succeeds.
    publish_retry: bool,
}

/// One thing that failed for one table during a flush.
struct Failure {
    table: &'static str,
    what: String,
    error: String,
}

/// The writer's part of a started recorder: the held recording directory, the locked
/// partitions (one per table, in `config.tables` order) and the test hooks.
pub struct Held {
    pub root: Dir,
    pub partitions: Vec<Partition>,
    pub hooks: Hooks,
}

pub fn run(config: Config, shared: Arc<Shared>, rx: Receiver<Sampled>, state: Arc<LiveState>, held: Held) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut w = Writer::new(config, shared.clone(), state, held);
        w.body(rx);
    }));
    if let Err(panic) = result {
        shared.error(format!(
            "internal error: the writer thread panicked: {}",
            super::panic_text(&*panic)
        ));
    }
    shared.writer_cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
    shared.finish();
}

impl Writer {
    fn new(config: Config, shared: Arc<Shared>, state: Arc<LiveState>, held: Held) -> Writer {
        let Held {
            root,
            partitions,
            hooks,
        } = held;
        let tables = config
            .tables
            .iter()
            .zip(partitions)
            .enumerate()
            .map(|(index, (&entry, part))| {
                let ncols = entry.decl().columns.len().max(1);
                let meta = FileMeta {
                    table: entry.name(),
                    host: config.host.clone(),
                    interval_seconds: config.interval_of(entry.cadence).as_secs_f64(),
                };
                TableState {
                    entry,
                    index,
                    part,
                    schema: sysmon_tables::columns::arrow_schema(entry.decl()),
                    props0: store::level0_properties(entry.decl(), store::metadata_kv(&meta, 0, &[])),
                    meta,
                    batch: Batch::new(entry.decl()),
                    batch_day: None,
                    pending: Vec::new(),
                    pending_rows: 0,
                    days_to_close: BTreeSet::new(),
                    wal: None,
                    wal_rows: 0,
                    cap_rows: hooks.buffer_rows.unwrap_or(BUFFER_BYTES / (ncols * 9)).max(1),
                    rows_last_tick: 0,
                }
            })
            .collect();
        Writer {
            config,
            shared,
            state,
            tables,
            fanin: hooks.merge_fanin.unwrap_or(merge::FANIN),
            hooks,
            root,
            lost: None,
            publish_retry: false,
        }
    }

    /// Reports the failures of one flush (or tick) in `last_error`, every table named: those
    /// that failed the same way are listed together.
    fn report(&self, failures: Vec<Failure>) {
        if failures.is_empty() {
            return;
        }
        let total = self.tables.len();
        let mut groups: Vec<(String, String, Vec<&'static str>)> = Vec::new();
        for f in failures {
            match groups.iter_mut().find(|(w, e, _)| *w == f.what && *e == f.error) {
                Some((_, _, tables)) => {
                    if !tables.contains(&f.table) {
                        tables.push(f.table)
                    }
                }
                None => groups.push((f.what, f.error, vec![f.table])),
            }
        }
        let text: Vec<String> = groups
            .into_iter()
            .map(|(what, error, tables)| {
                format!(
                    "{what} failed for {} of {total} tables ({}): {error}",
                    tables.len(),
                    tables.join(", ")
                )
            })
            .collect();
        self.shared.error(text.join("; "));
    }

    /// Checks that the recording directory is still the one held: re-created when it was
    /// deleted, taken anew when another real directory now stands at its path, refused when a
    /// link or a file took its place (nothing is written then; rows stay buffered).
    fn ensure_root(&mut self) -> Result<(), String> {
        let dir = &self.config.dir;
        let shown = dir.display();
        let replaced = |by: &str| {
            format!(
                "the recording directory '{shown}' was replaced by {by} while recording; not writing there (rows stay buffered until it is a directory again)"
            )
        };
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_symlink() => return Err(replaced("a symbolic link")),
            Ok(m) if !m.is_dir() => return Err(replaced("a file")),
            Ok(m) if self.root.id().ok() == Some(FileId::of(&m)) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot look at the recording directory '{shown}': {e}")),
        }
        match open_root(dir) {
            Ok(root) => {
                self.root = root;
                Ok(())
            }
            Err(e) => Err(format!("cannot re-create the recording directory '{shown}': {e}")),
        }
    }

    /// Checks that table `ti`'s partition lock is still the lock on disk, and takes it again
    /// when it is not (the folders were deleted or replaced). When another recorder holds it
    /// now, or held it since (its stamp is in the new lock), marks the writer lost.
    fn ensure_partition(&mut self, ti: usize) -> Result<(), String> {
        self.ensure_root()?;
        let t = &mut self.tables[ti];
        if t.part.still_held(&self.root) {
            return Ok(());
        }
        match t.part.reacquire(&self.root, &self.config.dir) {
            Ok(p) => {
                let _ = merge::recover(&p.dir.path());
                t.part = p;
                self.shared.error(format!(
                    "{}: the partition's lock file was gone (its folder was deleted or replaced while recording); took the lock again and re-created {}",
                    t.entry.name(),
                    t.part.shown.display()
                ));
                Ok(())
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::AlreadyExists) => {
                let msg = format!(
                    "stopped: {} was deleted or replaced while recording and another recorder has taken its lock since ({e}); this recorder stopped so that one writer alone writes each partition (its unwritten rows are counted in rows_dropped)",
                    t.part.shown.display()
                );
                self.lost = Some(msg.clone());
                Err(msg)
            }
            Err(e) => Err(format!("cannot take the lock of {} again: {e}", t.part.shown.display())),
        }
    }

    fn body(&mut self, rx: Receiver<Sampled>) {
        self.replay();
        self.close_past_days();
        self.apply_retention();
        let mut next_flush = Instant::now() + self.config.flush_interval;
        let mut next_publish = self.next_publish();
        loop {
            let next_drain = Instant::now() + DRAIN_INTERVAL;
            // Woken early only by a stop request; then every tick still coming is taken in
            // (the sampling thread ends at once and closes the channel).
            let stopping = self.shared.sleep_until(next_flush.min(next_drain));
            let closed = self.drain(&rx, stopping);
            let now = Instant::now();
            // A reader in this process wants the latest samples in the log (`read_recording`):
            // the ticks drained above are flushed now, on top of the regular flushes.
            if let Some(wanted) = self.shared.flush_wanted()
                && !closed
            {
                self.flush_all();
                self.shared.flushed(wanted);
            }
            if now >= next_flush && !closed {
                self.flush_all();
                next_flush = Instant::now() + self.config.flush_interval;
                if now >= next_publish || self.publish_retry || self.wal_full() {
                    self.publish_all();
                    if now >= next_publish {
                        next_publish = self.next_publish();
                    }
                }
            }
            self.shared.writer_cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
            if closed || self.lost.is_some() {
                break;
            }
        }
        match self.lost.take() {
            None => self.final_flush(),
            Some(msg) => self.drop_held(msg),
        }
    }

    /// Another recorder owns a partition now: nothing more is written, and every row this one
    /// holds (buffered, or in the log of the folder it lost) is counted as dropped: writing it
    /// would store rows twice.
    fn drop_held(&mut self, msg: String) {
        self.shared.request_stop();
        let lost: usize = self
            .tables
            .iter()
            .map(|t| t.pending_rows + t.batch.len() + t.wal_rows)
            .sum();
        lock(&self.shared.status).rows_dropped += lost as u64;
        self.shared.error(msg);
    }

    /// Takes in the ticks queued in the channel: those there now, or when `until_closed`, every
    /// tick until the sampling thread closes the channel. True when the channel is closed.
    fn drain(&mut self, rx: &Receiver<Sampled>, until_closed: bool) -> bool {
        loop {
            if self.lost.is_some() {
                return false;
            }
            let tick = if until_closed {
                match rx.recv() {
                    Ok(t) => t,
                    Err(_) => return true,
                }
            } else {
                match rx.try_recv() {
                    Ok(t) => t,
                    Err(TryRecvError::Empty) => return false,
                    Err(TryRecvError::Disconnected) => return true,
                }
            };
            self.take(tick);
        }
    }

    /// When the next publish is due: the next multiple of `publish_interval` on the wall clock
    /// (so recorders of several hosts publish, and a shipper finds their files, at the same
    /// moments).
    fn next_publish(&self) -> Instant {
        let p = (self.config.publish_interval.as_micros() as i64).max(1);
        let wait = p - wall_us().rem_euclid(p);
        Instant::now() + Duration::from_micros(wait as u64)
    }

    /// Whether a table's log has grown past [`WAL_PUBLISH_BYTES`].
    fn wal_full(&self) -> bool {
        self.tables
            .iter()
            .any(|t| t.wal.as_ref().is_some_and(|w| w.len() >= WAL_PUBLISH_BYTES))
    }

    /// Turns a tick into rows.
    fn take(&mut self, tick: Sampled) {
        let day = layout::day_of(tick.ts);
        let mut rows_per_tick = 0;
        let mut publish_now = Vec::new();
        let mut failures = Vec::new();
        for (ti, t) in self.tables.iter_mut().enumerate() {
            // A table not due at this tick (process cadence), or whose reads failed, has none.
            let Some((_, rows)) = tick.tables.iter().find(|(i, _)| *i == t.index) else {
                continue;
            };
            if t.batch_day != Some(day) {
                if !t.batch.is_empty() {
                    stash_batch(t, &self.shared);
                    publish_now.push(ti);
                }
                if let Some(old) = t.batch_day
                    && old < day
                {
                    t.days_to_close.insert(old);
                }
                t.batch_day = Some(day);
            }
            if t.batch.len() + t.pending_rows >= t.cap_rows {
                lock(&self.shared.status).rows_dropped += t.rows_last_tick.max(1);
                continue;
            }
            let before = t.batch.len();
            t.batch.set_tick_ts(Some(tick.ts));
            let pushed = rows.push(&self.state, &mut t.batch);
            t.batch.set_tick_ts(None);
            if let Err(e) = pushed {
                failures.push(Failure {
                    table: t.entry.name(),
                    what: "making rows".into(),
                    error: e.to_string(),
                });
            }
            t.rows_last_tick = (t.batch.len() - before) as u64;
            if t.entry.cadence == Cadence::Host {
                rows_per_tick += t.rows_last_tick;
            }
        }
        lock(&self.shared.status).rows_per_tick = rows_per_tick;
        // A finished UTC day is published and closed at once (its file is complete).
        for ti in publish_now {
            if self.lost.is_none() {
                self.append_table(ti, &mut failures);
                self.publish_table(ti, &mut failures);
            }
        }
        self.report(failures);
    }

    /// Appends what each table holds to its log; true if nothing is left pending.
    fn flush_all(&mut self) -> bool {
        let mut all = true;
        let mut failures = Vec::new();
        for ti in 0..self.tables.len() {
            all &= self.append_table(ti, &mut failures);
        }
        self.report(failures);
        // A folder deleted or replaced is found here at the latest, not at the next publish
        // (up to `publish_interval` later): every table is published at once, which takes the
        // partition again (or stops the recorder when another recorder took it), so the rows
        // go to a folder this recorder holds, and the next flush to a log there.
        if self.tables.iter().any(|t| !t.part.still_held(&self.root)) {
            all &= self.publish_all();
        }
        all
    }

    /// Publishes every table's log; true if every log is empty afterwards.
    fn publish_all(&mut self) -> bool {
        let mut all = true;
        let mut failures = Vec::new();
        for ti in 0..self.tables.len() {
            if self.lost.is_some() {
                return false;
            }
            all &= self.publish_table(ti, &mut failures);
        }
        self.publish_retry = !all;
        self.report(failures);
        self.apply_retention();
        super::trim_heap();
        all
    }

    /// Merges each finished day left with several files (by a restart or a crash).
    fn close_past_days(&mut self) {
        let today = layout::day_of(wall_us());
        let mut failures = Vec::new();
        for t in &mut self.tables {
            match layout::list_days(&t.part.dir.path()) {
                Ok(days) => t
                    .days_to_close
                    .extend(days.into_iter().map(|(d, _)| d).filter(|d| *d < today)),
                Err(e) => failures.push(Failure {
                    table: t.entry.name(),
                    what: format!("listing {}", t.part.shown.display()),
                    error: e.to_string(),
                }),
            }
        }
        for ti in 0..self.tables.len() {
            self.publish_table(ti, &mut failures);
        }
        self.report(failures);
    }

    fn apply_retention(&mut self) {
        if self.config.retention.is_none() && self.config.max_bytes.is_none() {
            return;
        }
        let dirs: Vec<PathBuf> = self.tables.iter().map(|t| t.part.dir.path()).collect();
        match retention::apply(&dirs, wall_us(), self.config.retention, self.config.max_bytes) {
            Ok(d) => lock(&self.shared.status).files_deleted += d.files,
            Err(e) => self.shared.error(format!("retention: {e}")),
        }
    }

    /// The last flush and publish: retried a few times, then what is left unpublished is
    /// counted as dropped (rows already in a log stay there for the next recorder to replay).
    fn final_flush(&mut self) {
        for attempt in 0..3 {
            let appended = self.flush_all();
            let published = self.lost.is_none() && self.publish_all();
            if let Some(msg) = self.lost.take() {
                // The final publish found the partition taken over (see `ensure_partition`).
                return self.drop_held(msg);
            }
            if published && appended {
                return;
            }
            if attempt < 2 {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let lost: usize = self.tables.iter().map(|t| t.pending_rows + t.batch.len()).sum();
        lock(&self.shared.status).rows_dropped += lost as u64;
    }
}

/// Moves the rows being collected into the table's pending batches (to be written).
fn stash_batch(t: &mut TableState, shared: &Shared) {
    match t.batch.take() {
        Ok(b) => push_pending(t, b),
        Err(e) => shared.error(format!("{}: cannot buffer rows: {e}", t.entry.name())),
    }
}

fn push_pending(t: &mut TableState, batch: RecordBatch) {
    let Some(day) = t.batch_day else { return };
    let (first_us, last_us) = ts_range(&batch).unwrap_or((day * layout::MICROS_PER_DAY, day * layout::MICROS_PER_DAY));
    t.pending_rows += batch.num_rows();
    t.pending.push(Pending {
        day,
        batch,
        first_us,
        last_us,
    });
}

/// Smallest and largest value of the `ts` column (column 0 of every recorded table).
fn ts_range(batch: &RecordBatch) -> Option<(i64, i64)> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    let ts = batch
        .column_by_name("ts")?
        .as_primitive_opt::<TimestampMicrosecondType>()?;
    let mut it = (0..ts.len()).filter(|&i| ts.is_valid(i)).map(|i| ts.value(i));
    let first = it.next()?;
    Some(it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v))))
}
