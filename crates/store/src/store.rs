//! Writing Parquet files so that a reader never sees a partial one.
//!
//! Every file is written under a temporary name (see [`layout::temp_name`]), fsync'ed, renamed
//! to its final name and its folder fsync'ed: after a crash at any point, a visible `.parquet`
//! file is complete, and a temporary file is deleted by the next recorder of that partition.
//!
//! # Encodings (design rule, with the measurement that justifies it)
//!
//! Per column, by type: timestamps and integers (cumulative counters, byte gauges)
//! `DELTA_BINARY_PACKED`; doubles `BYTE_STREAM_SPLIT`, except cumulative time counters, `PLAIN`
//! (see [`cumulative_seconds`]); strings dictionary. In parquet 60 a column's own encoding only
//! applies when its dictionary is off (otherwise it is just the fallback after the dictionary
//! overflows), so the dictionary is disabled for every column whose encoding is set, except
//! gauges whose values repeat ([`quantized_gauge`]). Merged files ([`writer_properties`]): zstd,
//! data page v2, statistics per column chunk only (page statistics cost bytes and a day's file
//! has few pages per column), rows sorted by series ([`sysmon_tables::columns::series_key`]) and `ts`
//! `PLAIN` where the table has a series key. Level-0 files ([`level0_properties`], one flush,
//! merged away within minutes): the same encodings, no compression, no statistics (zstd
//! contexts per column chunk were a quarter of the writer's CPU). The Arrow schema is not
//! embedded (it repeats the Parquet schema in a few kilobytes per file). Measured by `make
//! bench` (synthetic day) and `recorder --rewrite` (a real recording): see `docs/recorder.md`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnPath;

use super::faults::Hooks;
use super::handle::open_nofollow;
use super::layout::{self, sync_dir};
use sysmon_tables::columns::{SORT_ROWS, series_key, sort_rows};
use sysmon_tables::schema::{ColType, TableDecl};

/// Version of the recorded files' schemas, written into every file
/// ([`keys::SCHEMA_VERSION`]); bumped when a table gains columns.
pub const SCHEMA_VERSION: u32 = 1;

/// Parquet key-value metadata keys written into every file.
pub mod keys {
    /// The sysmon version that wrote the file (`CARGO_PKG_VERSION`).
    pub const SYSMON_VERSION: &str = "sysmon.version";
    /// [`super::SCHEMA_VERSION`] of the writer: columns are only ever added, so files of
    /// several schema versions are read together with `union_by_name := true`.
    pub const SCHEMA_VERSION: &str = "sysmon.schema_version";
    /// The table (folder) name, e.g. `metrics`.
    pub const TABLE: &str = "sysmon.table";
    /// The host name the rows describe.
    pub const HOST: &str = "sysmon.host";
    /// The recording interval in seconds (decimal).
    pub const INTERVAL_SECONDS: &str = "sysmon.interval_seconds";
    /// Merge level: 0 for a flush, higher for merged files.
    pub const LEVEL: &str = "sysmon.level";
    /// Merged files only: the names of the files merged into this one, comma-separated. The
    /// next recorder of the partition deletes any of them still present (a crash after the
    /// merged file was renamed into place but before its inputs were deleted).
    pub const MERGED_FROM: &str = "sysmon.merged_from";
}

/// Rows per row group: bounds the memory of a merge (a row group is buffered encoded
/// before it is written) while keeping a day of 1 Hz host metrics to one row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Rows per row group of a level-0 file: a publish holds one row group encoded in memory, and
/// at short intervals a publish holds many rows (the default tables at 100 ms: 30,000 `disks`
/// rows per 5 minutes), so this bounds the writer's peak memory (the RSS aim of issue 11).
pub const LEVEL0_ROW_GROUP_ROWS: usize = 8 * 1024;

/// zstd level. Level 3 (zstd's default) and 9 differ by under 3% in size on the benchmark's
/// day of metrics, at three times the CPU; the encodings do the heavy lifting.
pub const ZSTD_LEVEL: i32 = 3;

/// What every file of a recording says about itself.
#[derive(Clone, Debug)]
pub struct FileMeta {
    pub table: &'static str,
    pub host: String,
    pub interval_seconds: f64,
}

/// The writer properties for `decl`'s columns, with `kv` as key-value metadata.
pub fn writer_properties(decl: &TableDecl, kv: Vec<KeyValue>) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(kv));
    // Rows sorted by series (see `series_key`): each series repeats the same timestamps,
    // which zstd finds in PLAIN values and DELTA_BINARY_PACKED hides (disks on a real
    // recording: 4.7 kB against 20 kB).
    let keyed = series_key(decl).len() > 1;
    for c in decl.columns {
        let path = ColumnPath::from(c.name);
        let encoding = match column_encoding(c.name, c.ty) {
            Some(_) if keyed && c.name == "ts" => Some(Encoding::PLAIN),
            e => e,
        };
        if let Some(e) = encoding {
            b = b
                .set_column_dictionary_enabled(path.clone(), quantized_gauge(c.name))
                .set_column_encoding(path, e);
        }
    }
    b.build()
}

/// A gauge whose values repeat (percentages of tick counts, load averages with two decimals):
/// a dictionary (falling back to the column's encoding when it grows too big) is 2 to 3 times
/// smaller than `BYTE_STREAM_SPLIT` on a real recording (`cpu_user_pct` of `cpus`: 2.8 kB against
/// 9.2 kB; see `docs/recorder.md`).
fn quantized_gauge(name: &str) -> bool {
    name.ends_with("_pct") || name.starts_with("load_")
}

/// The writer properties of a level-0 file (one flush of one table, merged away within
/// minutes): the same per-column encodings, but no compression and no statistics, so a flush
/// sets up no zstd context per column and computes no min/max. Merged files get
/// [`writer_properties`] (see `docs/recorder.md`, "Recorder cost").
pub fn level0_properties(decl: &TableDecl, kv: Vec<KeyValue>) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::UNCOMPRESSED)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(LEVEL0_ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(kv));
    for c in decl.columns {
        if let Some(e) = column_encoding(c.name, c.ty) {
            let path = ColumnPath::from(c.name);
            b = b
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path, e);
        }
    }
    b.build()
}

/// A column's own encoding (`None`: dictionary, for text).
fn column_encoding(name: &str, ty: ColType) -> Option<Encoding> {
    match ty {
        ColType::UBigInt if kib_gauge(name) => Some(Encoding::PLAIN),
        ColType::TimestampTz | ColType::BigInt | ColType::UBigInt | ColType::Integer | ColType::UInteger => {
            Some(Encoding::DELTA_BINARY_PACKED)
        }
        ColType::Double if cumulative_seconds(name) => Some(Encoding::PLAIN),
        ColType::Double => Some(Encoding::BYTE_STREAM_SPLIT),
        ColType::Boolean | ColType::Varchar | ColType::VarcharList => None,
        ColType::Date => Some(Encoding::DELTA_BINARY_PACKED),
    }
}

/// A cumulative time counter kept as DOUBLE (`cpu_*_seconds`, disks' `*_time_seconds`: on a
/// real recording PLAIN is 25% smaller there too): PLAIN + zstd is 20%
/// smaller than BYTE_STREAM_SPLIT + zstd on these (measured on the benchmark's synthetic day:
/// 276 kB against 350 kB for `cpu_idle_seconds`), while BYTE_STREAM_SPLIT wins on gauges
/// (`cpu_busy_pct`: 70 kB against 108 kB; `uptime_seconds`: 10 kB against 82 kB).
fn cumulative_seconds(name: &str) -> bool {
    (name.starts_with("cpu_") && name.ends_with("_seconds")) || name.ends_with("_time_seconds")
}

/// A memory gauge in bytes (`mem_*_bytes`, `swap_*_bytes`): the kernel counts kibibytes
/// (`/proc/meminfo`) or pages (cgroups), so every value and every difference is a multiple of
/// 1,024, and
/// `DELTA_BINARY_PACKED` packs those ten zero bits into every delta, where zstd cannot see
/// them; PLAIN + zstd is 22% smaller on a real hour of `metrics` (`mem_used_bytes`: 5.3 kB
/// against 7.0 kB; the six such columns: 8.4 kB less; `docs/recorder.md`, round three).
fn kib_gauge(name: &str) -> bool {
    (name.starts_with("mem_") || name.starts_with("swap_")) && name.ends_with("_bytes")
}

/// The key-value metadata of a file.
pub fn metadata_kv(meta: &FileMeta, level: u32, merged_from: &[String]) -> Vec<KeyValue> {
    let mut kv = vec![
        KeyValue::new(keys::SYSMON_VERSION.into(), env!("CARGO_PKG_VERSION").to_string()),
        KeyValue::new(keys::SCHEMA_VERSION.into(), SCHEMA_VERSION.to_string()),
        KeyValue::new(keys::TABLE.into(), meta.table.to_string()),
        KeyValue::new(keys::HOST.into(), meta.host.clone()),
        KeyValue::new(keys::INTERVAL_SECONDS.into(), format!("{}", meta.interval_seconds)),
        KeyValue::new(keys::LEVEL.into(), level.to_string()),
    ];
    if !merged_from.is_empty() {
        kv.push(KeyValue::new(keys::MERGED_FROM.into(), merged_from.join(",")));
    }
    kv
}

fn parquet_err(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Writes batches to a new complete file `dir/name` (temp, fsync, rename, fsync dir).
/// Returns the file's size. `batches` is called with a writer; what it writes is the content.
/// `hooks` may inject a fault (tests).
pub fn write_atomically(
    hooks: &Hooks,
    dir: &Path,
    final_name: &str,
    schema: &SchemaRef,
    props: WriterProperties,
    batches: impl FnOnce(&mut ArrowWriter<BufWriter<File>>) -> io::Result<()>,
    before_rename: impl FnOnce(),
) -> io::Result<u64> {
    hooks.check_write()?;
    fs::create_dir_all(dir)?;
    let temp = dir.join(layout::temp_name(final_name));
    let target = dir.join(final_name);
    let result = (|| {
        let file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        let options = ArrowWriterOptions::new()
            .with_properties(props)
            .with_skip_arrow_metadata(true);
        let mut w =
            ArrowWriter::try_new_with_options(BufWriter::with_capacity(256 * 1024, file), schema.clone(), options)
                .map_err(parquet_err)?;
        batches(&mut w)?;
        let buf = w.into_inner().map_err(parquet_err)?;
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        drop(file);
        before_rename();
        hooks.check_write()?;
        if target.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", target.display()),
            ));
        }
        fs::rename(&temp, &target)?;
        sync_dir(dir)?;
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Writes one record batch as a complete file.
pub fn write_batch(
    dir: &Path,
    final_name: &str,
    decl: &TableDecl,
    batch: &RecordBatch,
    kv: Vec<KeyValue>,
) -> io::Result<u64> {
    write_atomically(
        &Hooks::default(),
        dir,
        final_name,
        &batch.schema(),
        writer_properties(decl, kv),
        |w| w.write(batch).map_err(parquet_err),
        || {},
    )
}

/// The key-value metadata of a complete file.
pub fn read_kv(path: &Path) -> io::Result<Vec<(String, String)>> {
    let reader = SerializedFileReader::new(open_nofollow(path)?).map_err(parquet_err)?;
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    Ok(kv)
}

pub fn kv_get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Streams the rows of `inputs`, in order, into a new complete file `dir/final_name`,
/// reading them with `schema` (the current declaration's). Memory is bounded by one row group.
/// `hooks` may pause it before the rename (`before_rename`, tests).
pub fn merge_files(
    hooks: &Hooks,
    dir: &Path,
    final_name: &str,
    decl: &TableDecl,
    schema: &SchemaRef,
    inputs: &[PathBuf],
    kv: Vec<KeyValue>,
) -> io::Result<(u64, u64)> {
    merge_files_then(hooks, dir, final_name, decl, schema, inputs, kv, || {
        hooks.merge_pause("before_rename")
    })
}

/// [`merge_files`], calling `before_rename` once the merged file is complete under its
/// temporary name (the shipper's day compaction pauses there in tests).
#[allow(clippy::too_many_arguments)]
pub fn merge_files_then(
    hooks: &Hooks,
    dir: &Path,
    final_name: &str,
    decl: &TableDecl,
    schema: &SchemaRef,
    inputs: &[PathBuf],
    kv: Vec<KeyValue>,
    before_rename: impl FnOnce(),
) -> io::Result<(u64, u64)> {
    let mut rows = 0u64;
    let key = series_key(decl);
    let mut chunk: Vec<RecordBatch> = Vec::new();
    let bytes = write_atomically(
        hooks,
        dir,
        final_name,
        schema,
        writer_properties(decl, kv),
        |w| {
            for input in inputs {
                let options = ArrowReaderOptions::new().with_schema(Arc::clone(schema));
                let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(open_nofollow(input)?, options)
                    .map_err(parquet_err)?
                    .with_batch_size(8192)
                    .build()
                    .map_err(parquet_err)?;
                for batch in reader {
                    let batch = batch.map_err(|e| io::Error::other(e.to_string()))?;
                    rows += batch.num_rows() as u64;
                    chunk.push(batch);
                    if chunk.iter().map(RecordBatch::num_rows).sum::<usize>() >= SORT_ROWS {
                        write_sorted(w, schema, &key, &mut chunk)?;
                    }
                }
            }
            write_sorted(w, schema, &key, &mut chunk)
        },
        before_rename,
    )?;
    Ok((bytes, rows))
}

/// Writes the rows of `chunk` sorted by `key` (see [`series_key`]) and empties it.
fn write_sorted(
    w: &mut ArrowWriter<BufWriter<File>>,
    schema: &SchemaRef,
    key: &[usize],
    chunk: &mut Vec<RecordBatch>,
) -> io::Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    let arrow = |e: arrow_schema::ArrowError| io::Error::other(e.to_string());
    let all = arrow_select::concat::concat_batches(schema, chunk.iter()).map_err(arrow)?;
    chunk.clear();
    w.write(&sort_rows(&all, key).map_err(arrow)?).map_err(parquet_err)
}

/// Number of rows in a complete file (from its footer).
pub fn row_count(path: &Path) -> io::Result<u64> {
    let reader = SerializedFileReader::new(open_nofollow(path)?).map_err(parquet_err)?;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}
