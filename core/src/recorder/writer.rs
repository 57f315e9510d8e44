//! The writer thread: rows from samples, Parquet files, merges, retention.
//!
//! It receives [`Tick`]s from the sampling thread, appends each table's rows to its
//! [`Batch`], and every `flush_interval` writes each table's buffered rows as one level-0 file
//! per UTC day, then merges full levels ([`merge::compact`]) and applies retention. A write
//! that fails keeps its rows buffered (up to the table's cap; beyond it new rows are counted
//! in `rows_dropped`), records the error in `last_error`, and is retried at the next flush.
//! When the channel closes (stop, exit, or a dead sampling thread), it flushes what is left
//! and releases the partition locks.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::file::properties::WriterProperties;

use super::columns::Batch;
use super::lock::PartitionLock;
use super::sampler::Sampled;
use super::store::{self, FileMeta};
use super::tables::RecordableTable;
use super::{BUFFER_BYTES, Config, Shared, faults, layout, merge, retention, thread_cpu_ns, wall_us};
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
    host_dir: PathBuf,
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
}

pub fn run(
    config: Config,
    shared: Arc<Shared>,
    rx: Receiver<Sampled>,
    state: Arc<LiveState>,
    locks: Vec<PartitionLock>,
) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut w = Writer::new(config, shared.clone(), state);
        w.body(rx);
    }));
    if let Err(panic) = result {
        shared.error(format!(
            "internal error: the writer thread panicked: {}",
            super::panic_text(&*panic)
        ));
    }
    drop(locks);
    shared.writer_cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
    shared.finish();
}

impl Writer {
    fn new(config: Config, shared: Arc<Shared>, state: Arc<LiveState>) -> Writer {
        let hooks = faults::current();
        let tables = config
            .tables
            .iter()
            .enumerate()
            .map(|(index, &entry)| {
                let ncols = entry.decl().columns.len().max(1);
                let meta = FileMeta {
                    table: entry.name(),
                    host: config.host.clone(),
                    interval_seconds: config.interval_of(entry.cadence).as_secs_f64(),
                };
                TableState {
                    entry,
                    index,
                    host_dir: layout::host_dir(&config.dir, entry.name(), &config.host),
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
        }
        self.final_flush();
    }

    /// Turns a tick into rows.
    fn take(&mut self, tick: Sampled) {
        let day = layout::day_of(tick.host.ts.micros);
        let mut rows_per_tick = 0;
        let mut flush_now = Vec::new();
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
                self.shared.error(format!("{}: cannot make rows: {e}", t.entry.name()));
            }
            t.rows_last_tick = (t.batch.len() - before) as u64;
            if t.entry.cadence == Cadence::Host {
                rows_per_tick += t.rows_last_tick;
            }
        }
        lock(&self.shared.status).rows_per_tick = rows_per_tick;
        for ti in flush_now {
            self.flush_table(ti);
        }
    }

    /// Writes what each table holds; true if nothing is left pending.
    fn flush_all(&mut self) -> bool {
        let mut all = true;
        for ti in 0..self.tables.len() {
            all &= self.flush_table(ti);
        }
        self.apply_retention();
        all
    }

    fn flush_table(&mut self, ti: usize) -> bool {
        let t = &mut self.tables[ti];
        if !t.batch.is_empty() {
            stash_batch(t, &self.shared);
        }
        while let Some(day) = t.pending.first().map(|p| p.day) {
            let n = t.pending.iter().take_while(|p| p.day == day).count();
            let group = &t.pending[..n];
            let first_us = group.iter().map(|p| p.first_us).min().unwrap_or(0);
            let last_us = group.iter().map(|p| p.last_us).max().unwrap_or(0);
            let rows: usize = group.iter().map(|p| p.batch.num_rows()).sum();
            let day_dir = layout::date_dir(&t.host_dir, day);
            let mut name = layout::FileName {
                level: 0,
                first_us,
                last_us,
                dup: 0,
            };
            while day_dir.join(name.render()).exists() {
                name.dup += 1;
            }
            let result = store::write_atomically(
                &day_dir,
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
                    match merge::compact(&day_dir, t.entry.decl(), &t.schema, &t.meta, self.fanin) {
                        Ok(m) => {
                            let mut s = lock(&self.shared.status);
                            s.files_written += m.files;
                            s.bytes_written += m.bytes;
                        }
                        Err(e) => self.shared.error(format!(
                            "{}: cannot merge in {}: {e}",
                            t.entry.name(),
                            day_dir.display()
                        )),
                    }
                }
                Err(e) => {
                    self.shared
                        .error(format!("{}: cannot write {}: {e}", t.entry.name(), day_dir.display()));
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
            let day_dir = layout::date_dir(&t.host_dir, day);
            match merge::close_day(&day_dir, t.entry.decl(), &t.schema, &t.meta) {
                Ok(m) => {
                    t.days_to_close.remove(&day);
                    let mut s = lock(&self.shared.status);
                    s.files_written += m.files;
                    s.bytes_written += m.bytes;
                }
                Err(e) => self
                    .shared
                    .error(format!("{}: cannot merge {}: {e}", t.entry.name(), day_dir.display())),
            }
        }
        true
    }

    /// Merges each finished day left with several files (by a restart or a crash).
    fn close_past_days(&mut self) {
        let today = layout::day_of(wall_us());
        for t in &mut self.tables {
            match layout::list_days(&t.host_dir) {
                Ok(days) => t
                    .days_to_close
                    .extend(days.into_iter().map(|(d, _)| d).filter(|d| *d < today)),
                Err(e) => self
                    .shared
                    .error(format!("{}: cannot list {}: {e}", t.entry.name(), t.host_dir.display())),
            }
        }
        for ti in 0..self.tables.len() {
            self.flush_table(ti);
        }
    }

    fn apply_retention(&mut self) {
        if self.config.retention.is_none() && self.config.max_bytes.is_none() {
            return;
        }
        let dirs: Vec<PathBuf> = self.tables.iter().map(|t| t.host_dir.clone()).collect();
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
