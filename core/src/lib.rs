//! sysmon-core: everything sysmon knows about a host, without DuckDB.
//!
//! * [`procfs`]: readers of `/proc` and `/sys` files (root injectable for fixture trees);
//! * [`sample`]: one reading of the host-wide files, and the [`Collector`](sample::Collector)
//!   that takes it with kept-open descriptors;
//! * [`ring`] and [`live`]: the process-wide ring of recent samples that windows start from;
//! * [`schema`]: the table declarations that drive SQL columns, Parquet schemas and docs;
//! * [`tables`]: one module per SQL table, turning samples into rows;
//! * [`recorder`]: the background recorder that writes the tables' history as Parquet;
//! * [`nvml`]: NVIDIA's management library, opened at run time, for the `gpus` table;
//! * [`host`], [`interval`]: static host facts, DuckDB interval text.
//!
//! Linux only: the readers need `/proc` and `/sys`.

pub mod host;
pub mod interval;
pub mod live;
pub mod nvml;
pub mod procfs;
pub mod recorder;
pub mod ring;
pub mod sample;
pub mod schema;
pub mod tables;

/// Every SQL function's columns, in the README's order: the live tables, then the recorder's
/// `record_metrics` and `recordings` (whose columns `stop_recording` returns too).
pub fn reference_tables() -> Vec<&'static schema::TableDecl> {
    use schema::Row;
    let mut all = tables::ALL_TABLES.to_vec();
    all.extend([recorder::StartedRow::TABLE, recorder::RecordingRow::TABLE]);
    all
}
