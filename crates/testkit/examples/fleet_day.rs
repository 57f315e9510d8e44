//! The fleet simulation's generator (`make fleet-sim`, `scripts/fleet_sim.py`): the recordings
//! of many hosts, written by the recorder's own writer, in the recorder's layout:
//!
//! ```text
//! OUT/metrics/host=<host>/date=<day>/L9-<first_us>-<last_us>.parquet
//! ```
//!
//! Each host's day is the recorder benchmark's synthetic day (`sysmon_testkit::synthetic`): one real
//! sample of this machine, evolved second by second at 1 Hz, with a seed of its own per host, so
//! hosts differ in load, memory and traffic. `--hosts N` hosts (default 100), `--history K`
//! earlier days per host (default 6) holding only their first hour (they exist so that listing
//! the bucket costs what it costs after a week; the queries measured read the last day), all
//! written as a finished day is (one level-9 file per host and day, zstd, statistics).
//!
//! `--variant DIR R` also writes every file under DIR with row groups of R rows instead of the
//! recorder's (`store::ROW_GROUP_ROWS`, so a day is one row group): an alternative the
//! simulation measures.
//!
//! `cargo run --release -p sysmon-testkit --example fleet_day -- OUT [--hosts N] [--history K] [--variant DIR R]`
//! prints one line per host and a summary line `DAY <YYYY-MM-DD> <first_us> <last_us>`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a generator: a failure may abort it

use sysmon_testkit::synthetic;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{ArrayRef, RecordBatch};
use sysmon_kernel::procfs::Roots;
use sysmon_kernel::sample::{Collector, HostSample};
use sysmon_store::store;
use sysmon_tables::columns::{Batch, TIMESTAMP_TZ};
use sysmon_tables::metrics::MetricsRow;
use sysmon_tables::schema::{Row, Timestamp};

const DAY_US: i64 = 86_400_000_000;

/// `YYYY-MM-DD` of a UTC day number (days since 1970-01-01), civil-from-days.
fn date_of(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Writes `batch` as `OUT/metrics/host=<host>/date=<date of first ts>/L9-<first>-<last>.parquet`,
/// as the recorder writes a finished day (`store::write_batch`), or with row groups of
/// `row_group_rows` rows (the recorder's writer properties otherwise).
fn write(out: &Path, host: &str, batch: &RecordBatch, row_group_rows: Option<usize>) -> u64 {
    let ts = batch
        .column(MetricsRow::TABLE.column_index("ts").expect("ts"))
        .as_any()
        .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
        .expect("ts column");
    let (first, last) = (ts.value(0), ts.value(ts.len() - 1));
    let dir = out
        .join("metrics")
        .join(format!("host={host}"))
        .join(format!("date={}", date_of(first.div_euclid(DAY_US))));
    std::fs::create_dir_all(&dir).expect("create the day folder");
    let meta = store::FileMeta {
        table: "metrics",
        host: host.to_string(),
        interval_seconds: 1.0,
    };
    let name = format!("L9-{first}-{last}.parquet");
    let kv = store::metadata_kv(&meta, 9, &[]);
    let Some(rows) = row_group_rows else {
        return store::write_batch(&dir, &name, MetricsRow::TABLE, batch, kv).expect("write a host's day");
    };
    let props = store::writer_properties(MetricsRow::TABLE, kv)
        .into_builder()
        .set_max_row_group_row_count(Some(rows))
        .build();
    let file = std::fs::File::create(dir.join(&name)).expect("create a host's day");
    let options = parquet::arrow::arrow_writer::ArrowWriterOptions::new()
        .with_properties(props)
        .with_skip_arrow_metadata(true); // as store::write_atomically
    let mut w = parquet::arrow::ArrowWriter::try_new_with_options(file, batch.schema(), options).expect("writer");
    w.write(batch).expect("write a host's day");
    w.close().expect("close a host's day");
    std::fs::metadata(dir.join(&name)).expect("stat").len()
}

/// `batch`'s first `rows` rows with every `ts` moved `by_us` earlier (an earlier day's hour).
fn earlier(batch: &RecordBatch, rows: usize, by_us: i64) -> RecordBatch {
    let part = batch.slice(0, rows.min(batch.num_rows()));
    let i = MetricsRow::TABLE.column_index("ts").expect("ts");
    let mut cols: Vec<ArrayRef> = part.columns().to_vec();
    let ts = cols[i]
        .as_any()
        .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
        .expect("ts column");
    let moved = ts
        .unary::<_, TimestampMicrosecondType>(|v| v - by_us)
        .with_timezone(TIMESTAMP_TZ);
    cols[i] = Arc::new(moved);
    RecordBatch::try_new(part.schema(), cols).expect("same schema")
}

fn host_day(
    sample: &HostSample,
    out: &Path,
    index: usize,
    t0: i64,
    history: usize,
    variant: Option<(&Path, usize)>,
) -> (String, usize, u64) {
    let host = format!("host-{index:03}");
    let mut s = sample.clone();
    s.hostname = host.clone();
    let seed = synthetic::SEED ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let rows = synthetic::evolve(s, 86_400, seed, t0);
    let mut b = Batch::new(MetricsRow::TABLE);
    b.push_all(&rows);
    let batch = b.take().expect("batch");
    let mut bytes = write(out, &host, &batch, None);
    if let Some((dir, rows)) = variant {
        write(dir, &host, &batch, Some(rows));
    }
    for k in 1..=history {
        let day = earlier(&batch, 3600, k as i64 * DAY_US);
        bytes += write(out, &host, &day, None);
        if let Some((dir, rows)) = variant {
            write(dir, &host, &day, Some(rows));
        }
    }
    (host, batch.num_rows(), bytes)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .map(|i| {
                args.get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .expect("a number after the option")
            })
            .unwrap_or(default)
    };
    let out = PathBuf::from(
        args.first()
            .filter(|a| !a.starts_with("--"))
            .expect("usage: fleet_day OUT [--hosts N] [--history K]"),
    );
    let hosts = opt("--hosts", 100);
    let history = opt("--history", 6);
    let variant_dir = args
        .iter()
        .position(|a| a == "--variant")
        .map(|i| PathBuf::from(args.get(i + 1).expect("--variant DIR ROWS")));
    let variant_rows: usize = args.iter().position(|a| a == "--variant").map_or(0, |i| {
        args.get(i + 2)
            .and_then(|v| v.parse().ok())
            .expect("--variant DIR ROWS")
    });
    let variant = variant_dir.as_deref().map(|d| (d, variant_rows.max(1)));
    if let Some((d, _)) = variant {
        let _ = std::fs::remove_dir_all(d.join("metrics"));
    }
    let _ = std::fs::remove_dir_all(out.join("metrics"));
    let sample = Collector::new(Roots::default()).sample().expect("sample");
    // Yesterday (UTC): a finished day, as the bucket holds it once the day is closed.
    let t0 = (Timestamp::now().micros / DAY_US - 1) * DAY_US;
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= hosts {
                        break;
                    }
                    let r = host_day(&sample, &out, i, t0, history, variant);
                    results.lock().expect("results").push(r);
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort();
    let total: u64 = results.iter().map(|r| r.2).sum();
    for (host, rows, bytes) in &results {
        println!("HOST {host} {rows} {bytes}");
    }
    println!("DAY {} {} {}", date_of(t0 / DAY_US), t0, t0 + DAY_US - 1);
    println!(
        "generated {hosts} hosts x (1 day + {history} one-hour days), {total} bytes, in {:.1} s on {workers} threads",
        started.elapsed().as_secs_f64()
    );
}
