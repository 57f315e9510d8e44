//! The writer thread: rows from samples, Parquet files, merges, retention.
//!
//! It receives [`Tick`]s from the sampling thread, appends each table's rows to its
//! [`Batch`], and every `flush_interval` writes each table's buffered rows as one level-0 file
//! per UTC day, then merges full levels ([`merge::compact`]) and applies retention. A write
//! that fails keeps its rows buffered (up to the table's cap; beyond it new rows are counted
//! in `rows_dropped`), records the error in `last_error`, and is retried at the next flush.
//! When the channel closes (stop, exit, or a dead sampling thread), it flushes what is left
//! and releases the partition locks.
//!
//! Every folder is written through a held descriptor ([`super::handle`]). Before each table's
//! write the writer checks that the recording directory is still the one it holds (re-creating
//! it when it was deleted, refusing when a link or a file took its place) and that the
//! partition's lock is still the lock on disk ([`Partition::still_held`]); a lost lock is taken
//! again, and when another recorder took it first, this recorder stops with the reason in
//! `last_error` so that one writer alone writes each partition. Failures of one flush are
//! reported together in `last_error`, naming every table that failed.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::file::properties::WriterProperties;

use super::columns::Batch;
use super::faults::Hooks;
use super::handle::{Dir, FileId, open_root};
use super::lock::Partition;
use super::sampler::Sampled;
use super::store::{self, FileMeta};
use super::tables::RecordableTable;
use super::{BUFFER_BYTES, Config, Shared, layout, merge, retention, thread_cpu_ns, wall_us};
use crate::live::LiveState;
use crate::schema::{Cadence, Timestamp};
use crate::sync::lock;

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
                    schema: super::columns::arrow_schema(entry.decl()),
                    props0: store::level0_properties(entry.decl(), store::metadata_kv(&meta, 0, &[])),
                    meta,
                    batch: Batch::new(entry.decl()),
                    batch_day: None,
                    pending: Vec::new(),
                    pending_rows: 0,
                    days_to_close: BTreeSet::new(),
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
    /// now, marks the writer lost.
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
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
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
        self.close_past_days();
        self.apply_retention();
        let mut next_flush = Instant::now() + self.config.flush_interval;
        loop {
            let wait = next_flush.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(tick) => self.take(tick),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_flush {
                self.flush_all();
                next_flush = Instant::now() + self.config.flush_interval;
            }
            self.shared.writer_cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
            if self.lost.is_some() {
                break;
            }
        }
        match self.lost.take() {
            None => self.final_flush(),
            Some(msg) => {
                // Another recorder owns a partition now: nothing more is written, and what is
                // buffered is dropped (writing it would store rows twice).
                self.shared.request_stop();
                let lost: usize = self.tables.iter().map(|t| t.pending_rows + t.batch.len()).sum();
                lock(&self.shared.status).rows_dropped += lost as u64;
                self.shared.error(msg);
            }
        }
    }

    /// Turns a tick into rows.
    fn take(&mut self, tick: Sampled) {
        let day = layout::day_of(tick.host.ts.micros);
        let mut rows_per_tick = 0;
        let mut flush_now = Vec::new();
        let mut failures = Vec::new();
        for (ti, t) in self.tables.iter_mut().enumerate() {
            // A table not due at this tick (process cadence), or whose reads failed, has none.
            let Some((_, rows)) = tick.tables.iter().find(|(i, _)| *i == t.index) else {
                continue;
            };
            if t.batch_day != Some(day) {
                if !t.batch.is_empty() {
                    stash_batch(t, &self.shared);
                    flush_now.push(ti);
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
            if let Err(e) = rows.push(&self.state, &mut t.batch) {
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
        for ti in flush_now {
            if self.lost.is_none() {
                self.flush_table(ti, &mut failures);
            }
        }
        self.report(failures);
    }

    /// Writes what each table holds; true if nothing is left pending.
    fn flush_all(&mut self) -> bool {
        let mut all = true;
        let mut failures = Vec::new();
        for ti in 0..self.tables.len() {
            if self.lost.is_some() {
                return false;
            }
            all &= self.flush_table(ti, &mut failures);
        }
        self.report(failures);
        self.apply_retention();
        all
    }

    fn flush_table(&mut self, ti: usize, failures: &mut Vec<Failure>) -> bool {
        // The shipper of an `s3://` destination takes finished files only while no flush or
        // merge changes them.
        let shared = Arc::clone(&self.shared);
        let _handoff = lock(&shared.handoff);
        let nothing = {
            let t = &self.tables[ti];
            t.batch.is_empty() && t.pending.is_empty() && t.days_to_close.is_empty()
        };
        if nothing {
            return true;
        }
        if let Err(e) = self.ensure_partition(ti) {
            failures.push(Failure {
                table: self.tables[ti].entry.name(),
                what: "writing".into(),
                error: e,
            });
            return false;
        }
        let hooks = &self.hooks;
        let dir_shown = self.config.dir.display().to_string();
        let t = &mut self.tables[ti];
        let host_path = t.part.dir.path();
        if !t.batch.is_empty() {
            stash_batch(t, &self.shared);
        }
        while let Some(day) = t.pending.first().map(|p| p.day) {
            let n = t.pending.iter().take_while(|p| p.day == day).count();
            let group = &t.pending[..n];
            let first_us = group.iter().map(|p| p.first_us).min().unwrap_or(0);
            let last_us = group.iter().map(|p| p.last_us).max().unwrap_or(0);
            let rows: usize = group.iter().map(|p| p.batch.num_rows()).sum();
            let day_dir = match layout::open_date_dir(&host_path, day, true, &t.part.shown) {
                Ok(d) => d,
                Err(e) => {
                    failures.push(Failure {
                        table: t.entry.name(),
                        what: format!("writing under '{dir_shown}'"),
                        error: e.to_string(),
                    });
                    return false;
                }
            };
            let day_path = day_dir.path();
            let mut name = layout::FileName {
                level: 0,
                first_us,
                last_us,
                dup: 0,
            };
            while day_path.join(name.render()).exists() {
                name.dup += 1;
            }
            let result = store::write_atomically(
                hooks,
                &day_path,
                &name.render(),
                &t.schema,
                t.props0.clone(),
                |w| {
                    for p in group {
                        w.write(&p.batch).map_err(|e| std::io::Error::other(e.to_string()))?;
                    }
                    Ok(())
                },
                || {},
            );
            match result {
                Ok(bytes) => {
                    t.pending.drain(..n);
                    t.pending_rows -= rows;
                    let mut s = lock(&self.shared.status);
                    s.rows_written += rows as u64;
                    s.files_written += 1;
                    s.bytes_written += bytes;
                    s.last_flush_at = Some(Timestamp::now());
                    drop(s);
                    match merge::compact(hooks, &day_path, t.entry.decl(), &t.schema, &t.meta, self.fanin) {
                        Ok(m) => {
                            let mut s = lock(&self.shared.status);
                            s.files_written += m.files;
                            s.bytes_written += m.bytes;
                        }
                        Err(e) => failures.push(Failure {
                            table: t.entry.name(),
                            what: format!("merging under '{dir_shown}'"),
                            error: e.to_string(),
                        }),
                    }
                }
                Err(e) => {
                    failures.push(Failure {
                        table: t.entry.name(),
                        what: format!("writing under '{dir_shown}'"),
                        error: e.to_string(),
                    });
                    return false;
                }
            }
        }
        let current = t.batch_day;
        let closable: Vec<i64> = t
            .days_to_close
            .iter()
            .copied()
            .filter(|d| Some(*d) != current)
            .collect();
        for day in closable {
            let closed = layout::open_date_dir(&host_path, day, false, &t.part.shown)
                .and_then(|d| merge::close_day(hooks, &d.path(), t.entry.decl(), &t.schema, &t.meta));
            match closed {
                Ok(m) => {
                    t.days_to_close.remove(&day);
                    let mut s = lock(&self.shared.status);
                    s.files_written += m.files;
                    s.bytes_written += m.bytes;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    t.days_to_close.remove(&day);
                }
                Err(e) => failures.push(Failure {
                    table: t.entry.name(),
                    what: format!(
                        "merging the finished day {} under '{dir_shown}'",
                        layout::date_string(day)
                    ),
                    error: e.to_string(),
                }),
            }
        }
        true
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
            self.flush_table(ti, &mut failures);
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

    /// The last flush: retried a few times, then what is left is counted as dropped.
    fn final_flush(&mut self) {
        for attempt in 0..3 {
            if self.flush_all() {
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
