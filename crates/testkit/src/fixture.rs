//! Synthetic recordings for tests and benchmarks: days of any recorded table at any rate,
//! written by the recorder's own writer ([`store::write_batch`], merged-file properties, rows
//! sorted by series in chunks as a merge sorts them) into the recorder's layout.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};

use sysmon_store::layout::{self, FileName};
use sysmon_store::store::{self, FileMeta};
use sysmon_tables::columns::{SORT_ROWS, arrow_schema, series_key, sort_rows};
use sysmon_tables::schema::ColType;

/// A fresh, empty folder under the temporary directory.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sysmon-view-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::create_dir_all(&d);
    std::fs::canonicalize(&d).unwrap_or(d)
}

/// A deterministic value of `column` for series `series` at second `t`: smooth waves with
/// some jitter, within the column's range (percentages 0..100, bytes around a GiB).
pub fn value(column: &str, series: usize, t: i64) -> f64 {
    let x = t as f64;
    let jitter = ((t.wrapping_mul(2_654_435_761).wrapping_add(series as i64 * 97)) % 1000).abs() as f64 / 1000.0;
    let wave = (x / 900.0 + series as f64).sin() * 0.5 + 0.5;
    if column.ends_with("_pct") {
        (wave * 80.0 + jitter * 20.0).clamp(0.0, 100.0)
    } else if column.ends_with("_per_sec") {
        wave * 5e7 + jitter * 1e7
    } else if column.starts_with("load_") {
        wave * 4.0 + jitter
    } else if column.contains("total") {
        16.0 * 1024.0 * 1024.0 * 1024.0
    } else {
        (wave * 6.0 + jitter) * 1024.0 * 1024.0 * 1024.0
    }
}

/// Writes `ticks` ticks `step_us` apart from `start_us` (one UTC day at most) of `series`
/// series of the recorded table `table` of `host` under `dir`, as one merged (level 1) file.
/// Returns the file and its size.
pub fn write_day(
    dir: &Path,
    host: &str,
    table: &str,
    start_us: i64,
    ticks: usize,
    step_us: i64,
    series: usize,
) -> io::Result<(PathBuf, u64)> {
    let t = sysmon_tables::recorded::find(table)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no recorded table {table}")))?;
    let decl = t.decl();
    let schema = arrow_schema(decl);
    let key = series_key(decl);
    let err = |e: arrow_schema::ArrowError| io::Error::other(e.to_string());
    let mut chunks: Vec<RecordBatch> = Vec::new();
    let per_chunk = (SORT_ROWS / series.max(1)).max(1);
    let mut tick = 0;
    while tick < ticks {
        let n = per_chunk.min(ticks - tick);
        let rows: Vec<(usize, i64)> = (tick..tick + n)
            .flat_map(|i| (0..series).map(move |s| (s, start_us + i as i64 * step_us)))
            .collect();
        let columns: Vec<ArrayRef> = decl
            .columns
            .iter()
            .enumerate()
            .map(|(ci, c)| column(c.name, c.ty, key.first() == Some(&ci), host, &rows))
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(err)?;
        chunks.push(sort_rows(&batch, &key).map_err(err)?);
        tick += n;
    }
    let all = arrow_select::concat::concat_batches(&schema, chunks.iter()).map_err(err)?;
    let last_us = start_us + (ticks.max(1) as i64 - 1) * step_us;
    let host_dir = layout::host_dir(dir, table, host);
    let day_dir = layout::date_dir(&host_dir, layout::day_of(start_us));
    std::fs::create_dir_all(&day_dir)?;
    let name = FileName {
        level: 1,
        first_us: start_us,
        last_us,
        dup: 0,
    }
    .render();
    let meta = FileMeta {
        table: t.name(),
        host: host.to_string(),
        interval_seconds: step_us as f64 / 1e6,
    };
    let bytes = store::write_batch(&day_dir, &name, decl, &all, store::metadata_kv(&meta, 1, &[]))?;
    Ok((day_dir.join(name), bytes))
}

fn column(name: &str, ty: ColType, is_key: bool, host: &str, rows: &[(usize, i64)]) -> ArrayRef {
    let secs = |ts: i64| ts.div_euclid(1_000_000);
    match ty {
        ColType::TimestampTz => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
            rows.iter().for_each(|&(_, ts)| b.append_value(ts));
            Arc::new(b.finish())
        }
        ColType::Varchar => {
            let mut b = StringBuilder::new();
            for &(s, _) in rows {
                match name {
                    "hostname" => b.append_value(host),
                    "kind" => b.append_value("some"),
                    _ if is_key => b.append_value(format!("{name}{s}")),
                    _ => b.append_value("x"),
                }
            }
            Arc::new(b.finish())
        }
        ColType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(rows.len());
            rows.iter().for_each(|_| b.append_value(name == "is_physical"));
            Arc::new(b.finish())
        }
        ColType::Integer => {
            let mut b = Int32Builder::with_capacity(rows.len());
            rows.iter().for_each(|&(s, _)| b.append_value(s as i32));
            Arc::new(b.finish())
        }
        ColType::UInteger => {
            let mut b = UInt32Builder::with_capacity(rows.len());
            rows.iter().for_each(|&(s, _)| b.append_value(s as u32));
            Arc::new(b.finish())
        }
        ColType::BigInt => {
            let mut b = Int64Builder::with_capacity(rows.len());
            rows.iter().for_each(|&(_, ts)| b.append_value(secs(ts)));
            Arc::new(b.finish())
        }
        ColType::UBigInt => {
            let mut b = UInt64Builder::with_capacity(rows.len());
            rows.iter()
                .for_each(|&(s, ts)| b.append_value(value(name, s, secs(ts)) as u64));
            Arc::new(b.finish())
        }
        ColType::Double => {
            let mut b = Float64Builder::with_capacity(rows.len());
            rows.iter()
                .for_each(|&(s, ts)| b.append_value(value(name, s, secs(ts))));
            Arc::new(b.finish())
        }
        ColType::VarcharList => {
            let mut b = ListBuilder::new(StringBuilder::new());
            rows.iter().for_each(|_| b.append(true));
            Arc::new(b.finish())
        }
        ColType::Date => Arc::new(arrow_array::Date32Array::from_iter_values(
            rows.iter().map(|&(_, ts)| ts.div_euclid(86_400_000_000) as i32),
        )),
    }
}
