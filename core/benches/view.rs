//! Dashboard history latency and report size (`cargo bench -p sysmon-core --bench view`).
//!
//! Writes 7 days of a 1 Hz recording of the tables the dashboard charts (metrics, 4 CPUs, 2
//! disks, 2 interfaces, 6 pressure series) with the recorder's writer, then times
//! `/api/history` for 15 minutes, 24 hours and 7 days ending at the recording's end, 1000
//! pixels wide: each table alone and the dashboard's whole set (the five tables). Baseline,
//! measured in the same run: the same rows read without pruning or projection (every file of
//! the table, every column), the way a reader that knows nothing of the layout would.
//! CPU time (all threads of the process) is printed beside wall time: on a loaded machine it
//! is the better measure of what a request costs. Then the size of a `report_metrics` file for
//! one day at 1 Hz.
//!
//! `--days N` writes N days instead of 7 (`--quick`: 2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool: a failure may abort it

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sysmon_serve::view::history::{self, CHART_TABLES, Request};
use sysmon_serve::view::report;
use sysmon_store::layout::{self, MICROS_PER_DAY};
use sysmon_testkit::fixture;

const HOST: &str = "bench-host";
const SERIES: &[(&str, usize)] = &[
    ("metrics", 1),
    ("cpus", 4),
    ("disks", 2),
    ("networks", 2),
    ("pressure", 6),
];

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/sysmon-bench/view");
    std::fs::create_dir_all(&d).expect("create target/sysmon-bench/view");
    d
}

/// CPU time of this process (every thread), in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid, owned `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Median wall time and median CPU time (all threads) of `n` runs of `f`.
fn median(n: usize, mut f: impl FnMut()) -> (Duration, f64) {
    let mut v: Vec<(Duration, f64)> = (0..n)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_seconds());
            f();
            (t.elapsed(), cpu_seconds() - c)
        })
        .collect();
    let mut cpu: Vec<f64> = v.iter().map(|x| x.1).collect();
    cpu.sort_by(f64::total_cmp);
    v.sort_by_key(|x| x.0);
    (v[n / 2].0, cpu[n / 2])
}

/// Every row of every file of `table`, every column: no pruning, no projection.
fn naive(dir: &Path, table: &str, from_us: i64, to_us: i64) -> u64 {
    let mut rows = 0;
    for (_, day) in layout::list_days(&layout::host_dir(dir, table, HOST)).expect("days") {
        for f in layout::list_files(&day).expect("files") {
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f.path).expect("open"))
                .expect("parquet")
                .build()
                .expect("reader");
            for b in reader {
                let b = b.expect("batch");
                let ts = b
                    .column_by_name("ts")
                    .and_then(|c| c.as_any().downcast_ref::<arrow_array::TimestampMicrosecondArray>())
                    .expect("ts");
                rows += ts.values().iter().filter(|&&t| t >= from_us && t < to_us).count() as u64;
            }
        }
    }
    rows
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let days: i64 = match args.iter().position(|a| a == "--days") {
        Some(i) => args.get(i + 1).and_then(|d| d.parse().ok()).expect("--days N"),
        None if args.iter().any(|a| a == "--quick") => 2,
        None => 7,
    };
    let dir = out_dir().join(format!("rec-{days}d"));
    let start = 20_000 * MICROS_PER_DAY;
    let end = start + days * MICROS_PER_DAY;
    let stamp = dir.join(".complete");
    if !stamp.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        let mut bytes = 0;
        for d in 0..days {
            for (table, n) in SERIES {
                let (_, b) = fixture::write_day(&dir, HOST, table, start + d * MICROS_PER_DAY, 86_400, 1_000_000, *n)
                    .expect("write a day");
                bytes += b;
            }
        }
        std::fs::write(&stamp, "").expect("stamp");
        println!(
            "== wrote {days} days at 1 Hz ({} series) in {:.1} s: {:.1} MB under {}",
            SERIES.iter().map(|s| s.1).sum::<usize>(),
            t.elapsed().as_secs_f64(),
            bytes as f64 / 1e6,
            dir.display()
        );
    } else {
        println!("== reusing {days} days at 1 Hz under {}", dir.display());
    }

    println!("== /api/history, 1000 pixels, ending at the recording's end (median of 5)");
    println!(
        "  {:<10} {:>8} {:>12} {:>12} {:>12} {:>10} {:>16}",
        "range", "table", "rows", "sysmon ms", "sysmon CPU ms", "naive ms", "naive / sysmon"
    );
    let end_ms = end / 1000;
    for (name, secs) in [("15 min", 900i64), ("24 h", 86_400), ("7 d", 7 * 86_400)] {
        let secs = secs.min(days * 86_400);
        let from_ms = end_ms - secs * 1000;
        let mut total = Duration::ZERO;
        let mut total_cpu = 0.0;
        let mut total_naive = Duration::ZERO;
        for t in CHART_TABLES {
            let req = Request {
                table: t,
                host: HOST.into(),
                from_ms,
                to_ms: end_ms,
                width: 1000,
            };
            let mut rows = 0;
            let (took, cpu) = median(5, || {
                let h = history::read(&dir, &req).expect("history");
                rows = h.rows_read;
                std::hint::black_box(h.to_json());
            });
            let mut naive_rows = 0;
            let (took_naive, _) = median(3, || naive_rows = naive(&dir, t.name, from_ms * 1000, end_ms * 1000));
            assert_eq!(rows, naive_rows, "{} {name}", t.name);
            total += took;
            total_cpu += cpu;
            total_naive += took_naive;
            println!(
                "  {name:<10} {:>8} {rows:>12} {:>12.1} {:>12.1} {:>10.1} {:>15.1}x",
                t.name,
                took.as_secs_f64() * 1e3,
                cpu * 1e3,
                took_naive.as_secs_f64() * 1e3,
                took_naive.as_secs_f64() / took.as_secs_f64()
            );
        }
        println!(
            "  {name:<10} {:>8} {:>12} {:>12.1} {:>12.1} {:>10.1} {:>15.1}x   <- the dashboard's five requests",
            "all",
            "",
            total.as_secs_f64() * 1e3,
            total_cpu * 1e3,
            total_naive.as_secs_f64() * 1e3,
            total_naive.as_secs_f64() / total.as_secs_f64()
        );
    }

    let out = out_dir().join("report-day.html");
    let t = Instant::now();
    let row = report::write(&report::ReportRequest {
        dir: report::Recording::Local(dir.clone()),
        path: out.clone(),
        since_us: Some(end - MICROS_PER_DAY),
        until_us: Some(end),
        host: Some(HOST.into()),
    })
    .expect("report");
    println!(
        "== report_metrics for one day at 1 Hz: {} bytes ({:.0} kB; uPlot and page code {} bytes of it), {} rows read, written in {:.0} ms -> {}",
        row.bytes_written,
        row.bytes_written as f64 / 1e3,
        sysmon_serve::view::assets::total_bytes(),
        row.rows_read,
        t.elapsed().as_secs_f64() * 1e3,
        out.display()
    );
}
