//! The recorder: samples the host on a fixed interval and writes the rows as Parquet.
//!
//! A recorder belongs to the process's [`LiveState`](sysmon_live::LiveState) (not to a DuckDB
//! connection): [`start`] spawns two threads and [`stop`] (or the process's normal exit,
//! through an `atexit` hook) ends them after a final flush. The rooms: [`config`] (the request
//! and every check of it), [`lifecycle`] (start, stop, the threads' shared state),
//! [`Recorders`] (the recorders of a process, in [`lifecycle`]), `sysmon_tables::recorded` (which tables, driven how), [`sampler`]
//! and [`writer`] (the two threads), the store crate's `handle` (folders held open, so links cannot redirect
//! writes) and `lock` (one writer per partition). Design rules, each with the reason:
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
//!   and a `flock` per partition ([`lock`]), checked before every write, keeps two recorders
//!   from writing one.
//! * **Panic-safe threads.** Both thread bodies run inside `catch_unwind`; a panic ends the
//!   recorder with state `failed` and the message in `last_error`, never the process.

pub mod config;
pub mod lifecycle;
pub mod sampler;
pub mod ship;
pub mod writer;

use sysmon_tables::schema::Timestamp;

pub use config::{
    Config, FLUSH_DEFAULT, FLUSH_MAX, FLUSH_MIN, INTERVAL_MAX, INTERVAL_MIN, MAX_BYTES_MIN_PER_TABLE, PROCESS_DEFAULT,
    PUBLISH_DEFAULT, PUBLISH_MAX, RETENTION_MAX, RETENTION_MIN, Remote, Request, SPOOL_MAX_BYTES_DEFAULT, ShipRequest,
    UPLOAD_INTERVAL_DEFAULT, UPLOAD_INTERVAL_MAX, UPLOAD_INTERVAL_MIN, resolve,
};
pub use lifecycle::{
    CHANNEL_SAMPLES, EXIT_TIMEOUT, Recorder, Recorders, STOP_TIMEOUT, Shared, State, WriterStatus, check, start, stop,
    wall_us,
};
pub use sysmon_kernel::procfs::syscalls::thread_cpu_ns;
pub use sysmon_kernel::sync::panic_text;

pub use sysmon_store::store::SCHEMA_VERSION;

/// Rows buffered per table at most while writes fail, in bytes of the in-memory columns.
pub const BUFFER_BYTES: usize = 32 << 20;

sysmon_tables::declare_table! {
    /// One row per recorder started in this process. `stop_recording(id)` returns the same
    /// columns: the stopped recorder's final row.
    pub struct RecordingRow => "recordings" {
        /// The recorder's id, for `stop_recording(id)`.
        id: i64 [""],
        /// The directory it writes (absolute); for an `s3://` destination, its local spool.
        dir: String [""],
        /// Sampling interval of the host tables.
        interval_seconds: f64 ["seconds"],
        /// Sampling interval of the per-process tables.
        process_interval_seconds: f64 ["seconds"],
        /// How long rows wait in memory before they are written.
        flush_interval_seconds: f64 ["seconds"],
        /// How often the written rows are published as Parquet files: files (and what a reader sees) are up to this much behind.
        publish_interval_seconds: f64 ["seconds"],
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
        /// Rows in published files (what `read_parquet` sees), counted when they are published.
        rows_written: u64 [""],
        /// Rows flushed to the hidden write-ahead log, every `flush_interval`: safe from a crash
        /// of the process (the next recorder of the folder publishes them), in `rows_written`
        /// once published, at the latest `publish_interval` later.
        rows_journaled: u64 [""],
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
        /// CPU time used by the recorder's threads (sampling, writing, and uploading for `s3://`).
        cpu_seconds: f64 ["seconds"],
        /// Where the recording goes: the directory, or `s3://bucket/prefix` (never credentials).
        destination: String [""],
        /// Objects uploaded to the bucket; NULL for a local recording.
        objects_uploaded: Option<u64> [""],
        /// Bytes of those objects; NULL for a local recording.
        bytes_uploaded: Option<u64> ["bytes"],
        /// Bytes in the spool not yet in the bucket; NULL for a local recording.
        upload_backlog_bytes: Option<u64> ["bytes"],
        /// When an object was last uploaded; NULL for a local recording or before the first upload.
        last_upload_at: Option<Timestamp> [""],
        /// Age of the oldest row not yet in the bucket (at most about `flush_interval` + `upload_interval` while uploads succeed); NULL for a local recording.
        upload_lag_seconds: Option<f64> ["seconds"],
    }
}

sysmon_tables::declare_table! {
    /// The one row `record_metrics` returns: the recorder it started.
    pub struct StartedRow => "record_metrics" {
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
        /// How often the written rows are published as Parquet files: files (and what a reader sees) are up to this much behind.
        publish_interval_seconds: f64 ["seconds"],
        /// Where the recording goes: the directory, or `s3://bucket/prefix` (never credentials).
        destination: String [""],
    }
}

#[cfg(test)]
mod tests;

/// Hands the allocator's free pages back to the kernel, after a publish and its merges.
///
/// A publish encodes minutes of rows and a merge streams a whole level through a row group of
/// memory; glibc keeps what they freed in its arenas, so without this the recorder's resident
/// memory stepped up by 3.3 MiB at the first level-1 merge and stayed there (the one-hour run
/// at 100 ms in `docs/recorder.md`). Other allocators (musl) and other systems: nothing to do.
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointer and only walks glibc's own arenas, under their
    // locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
