//! Reading a recorded table for the charts: the folders and files the range touches, the row
//! groups whose `ts` statistics overlap it, and only the columns the charts draw.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, BooleanArray, RecordBatch};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;
use parquet::file::statistics::Statistics;

use super::*;
use sysmon_store::read_recording::{Scope, Source, plan_local};

/// Reads one table of one host under `dir` over the request's range.
pub fn read(dir: &Path, req: &Request) -> Result<History, Error> {
    let t = req.table;
    let host_dir = layout::host_dir(dir, t.name, &req.host);
    let (mut ds, mut h) = begin(req);
    let (from_us, to_us) = (ds.from_us, ds.to_us);
    if !host_dir.is_dir() {
        let found: Vec<String> = hosts(dir)?.into_iter().map(|h| h.host).collect();
        if !found.contains(&req.host) {
            return Err(Error::UnknownHost {
                host: req.host.clone(),
                found,
            });
        }
    }
    // The recording's own plan (`sysmon_store::read_recording`): published files, a merge in
    // flight read once, and the write-ahead log's rows not yet published, so the charts are as
    // fresh as the last flush.
    let scope = Scope {
        host: Some(req.host.clone()),
        since_us: Some(from_us),
        until_us: Some(to_us),
    };
    let schema = match t.decl() {
        Some(decl) => sysmon_tables::columns::arrow_schema(decl),
        None => return Ok(finish(t, ds, h)),
    };
    let parts = match plan_local(dir, t.name, &schema, &scope) {
        Ok(p) => p,
        // A host that has other tables but not this one yet: nothing to draw.
        Err(_) if !host_dir.is_dir() => Vec::new(),
        Err(e) => return Err(Error::Io(e)),
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for part in parts {
        match part.source {
            Source::File { path, .. } => files.push(path),
            Source::Rows { batch, .. } => add_batch(&batch, t, &mut ds, &mut h),
            Source::Remote { key, .. } => {
                return Err(Error::Io(format!(
                    "internal error: '{key}' of a folder's plan is remote"
                )));
            }
            Source::Object { bytes, key } => {
                read_parquet(bytes, t, &mut ds, &mut h).map_err(|e| Error::Io(format!("reading '{key}': {e}")))?
            }
        }
    }
    // Files are read on up to one thread per core (a week is seven day files), each into its
    // own accumulators, merged at the end.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
        .min(files.len())
        .max(1);
    if threads == 1 {
        read_files(&files, t, &mut ds, &mut h)?;
    } else {
        let parts: Vec<Vec<PathBuf>> = (0..threads)
            .map(|i| files.iter().skip(i).step_by(threads).cloned().collect())
            .collect();
        let results: Vec<Result<(Downsampler, History), Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .map(|part| {
                    let mut pd = Downsampler::new(from_us, to_us, req.width);
                    let mut ph = h.clone();
                    scope.spawn(move || read_files(part, t, &mut pd, &mut ph).map(|()| (pd, ph)))
                })
                .collect();
            handles
                .into_iter()
                .map(|j| {
                    j.join()
                        .unwrap_or_else(|_| Err(Error::Io("internal error: a history reader thread panicked".into())))
                })
                .collect()
        });
        for r in results {
            let (pd, ph) = r?;
            ds.merge(pd);
            h.rows_read += ph.rows_read;
            h.files_read += ph.files_read;
            h.row_groups_read += ph.row_groups_read;
            h.row_groups_skipped += ph.row_groups_skipped;
        }
    }
    Ok(finish(t, ds, h))
}

/// The most threads one request reads with.
pub const MAX_THREADS: usize = 8;

pub(super) fn read_files(
    files: &[PathBuf],
    t: &ChartTable,
    ds: &mut Downsampler,
    h: &mut History,
) -> Result<(), Error> {
    for path in files {
        match read_file(path, t, ds, h) {
            Ok(()) => {}
            // Merged away or deleted by retention between the listing and the open.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(format!("reading '{}': {e}", path.display()))),
        }
    }
    Ok(())
}

pub(super) fn perr(e: impl fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

pub(super) fn read_file(path: &Path, t: &ChartTable, ds: &mut Downsampler, h: &mut History) -> io::Result<()> {
    read_parquet(open_nofollow(path)?, t, ds, h)
}

/// Adds the rows of one Parquet file (a local file, or an object's bytes) in the range.
pub(crate) fn read_parquet<R: ChunkReader + 'static>(
    file: R,
    t: &ChartTable,
    ds: &mut Downsampler,
    h: &mut History,
) -> io::Result<()> {
    let (from_us, to_us) = (ds.from_us, ds.to_us);
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
    let meta = builder.metadata().clone();
    let sd = meta.file_metadata().schema_descr();
    let leaf = |name: &str| (0..sd.num_columns()).find(|&i| sd.column(i).name() == name);
    let Some(ts_leaf) = leaf("ts") else {
        return Ok(());
    };
    let names = std::iter::once("ts")
        .chain(t.key.iter().copied())
        .chain(t.keep.iter().map(|(c, _)| *c))
        .chain(t.columns.iter().copied());
    let leaves: Vec<usize> = names.filter_map(leaf).collect();
    let groups: Vec<usize> = (0..meta.num_row_groups())
        .filter(|&i| match meta.row_group(i).column(ts_leaf).statistics() {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(&lo), Some(&hi)) => hi >= from_us && lo < to_us,
                _ => true,
            },
            _ => true,
        })
        .collect();
    h.files_read += 1;
    h.row_groups_read += groups.len() as u64;
    h.row_groups_skipped += (meta.num_row_groups() - groups.len()) as u64;
    if groups.is_empty() {
        return Ok(());
    }
    let mask = ProjectionMask::leaves(sd, leaves);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(groups)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(perr)?;
    for batch in reader {
        let batch = batch.map_err(perr)?;
        add_batch(&batch, t, ds, h);
    }
    Ok(())
}

pub(super) fn add_batch(batch: &RecordBatch, t: &ChartTable, ds: &mut Downsampler, h: &mut History) {
    let Some(ts) = batch
        .column_by_name("ts")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
    else {
        return;
    };
    let keys: Vec<KeyCol<'_>> = t
        .key
        .iter()
        .filter_map(|k| {
            let c = batch.column_by_name(k)?;
            c.as_string_opt::<i32>()
                .map(KeyCol::Str)
                .or_else(|| Num::of(c.as_ref()).map(KeyCol::Num))
        })
        .collect();
    let keep: Vec<(&BooleanArray, bool)> = t
        .keep
        .iter()
        .filter_map(|(c, v)| Some((batch.column_by_name(c)?.as_boolean_opt()?, *v)))
        .collect();
    let values: Vec<(usize, Num<'_>)> = t
        .columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, Num::of(batch.column_by_name(c)?.as_ref())?)))
        .collect();
    // Per row: its bucket and its series (rows of one series are contiguous in merged files,
    // so the key is compared with the previous row's and formatted only where it changes),
    // then each column added in one pass over the rows.
    let n = batch.num_rows();
    let mut rows: Vec<(u32, u32)> = Vec::with_capacity(n); // (row, bucket)
    let mut groups: Vec<u32> = Vec::with_capacity(n); // index into `ids`
    let mut ids: Vec<Vec<usize>> = Vec::new();
    let mut prev: Option<usize> = None;
    for row in 0..n {
        if !ts.is_valid(row) {
            continue;
        }
        let Some(bucket) = ds.bucket(ts.value(row)) else {
            continue;
        };
        h.rows_read += 1;
        if keep.iter().any(|(a, v)| a.is_valid(row) && a.value(row) != *v) {
            continue;
        }
        let same = prev.is_some_and(|p| keys.iter().all(|k| k.same(p, row)));
        if !same || ids.is_empty() {
            let key: Vec<String> = keys.iter().map(|k| k.text(row)).collect();
            let key = key.join("/");
            ids.push(values.iter().map(|(i, _)| ds.series(&key, *i)).collect());
        }
        prev = Some(row);
        rows.push((row as u32, bucket as u32));
        groups.push((ids.len() - 1) as u32);
    }
    for (j, (_, col)) in values.iter().enumerate() {
        macro_rules! add_all {
            ($a:expr) => {{
                let a = $a;
                let vals = a.values();
                let nulls = a.null_count() > 0;
                for (&(row, bucket), &g) in rows.iter().zip(&groups) {
                    let row = row as usize;
                    if nulls && a.is_null(row) {
                        continue;
                    }
                    ds.add(ids[g as usize][j], bucket as usize, vals[row] as f64);
                }
            }};
        }
        match col {
            Num::F64(a) => add_all!(a),
            Num::U64(a) => add_all!(a),
            Num::I64(a) => add_all!(a),
            Num::I32(a) => add_all!(a),
            Num::U32(a) => add_all!(a),
        }
    }
}
