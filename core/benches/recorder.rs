//! Recorder benchmark (`make bench`; plain std::time, thread CPU clocks). Each figure is printed
//! next to its baseline, measured in the same run:
//!
//! 1. CPU time per sample of the recorder (both threads, their `schedstat` run time; each
//!    recorder in a process of its own, started together with `sadc 1 N <file>`) for (a) the host tables
//!    `metrics` + `cpus`, (b) the default table set, (c) the default set plus `processes` at
//!    `process_interval` = `interval` (a per-process snapshot every tick), and (a) at 10 Hz,
//!    against the raw `/proc` reads it performs (`Collector::sample`, plus a process snapshot
//!    for (c)) and against sar's collector `sadc` (run alongside at 1 Hz when it is installed);
//! 2. bytes per value of a synthetic day of `metrics` at 1 Hz written by our writer (the file
//!    is left for `scripts/bench_recorder.py`, which compares DuckDB's own `COPY`);
//! 3. the shortest interval sustained with under 1% missed ticks, and its CPU cost.
//!
//! Options: `--quick` (shorter runs), `--day-only` (just write the synthetic day),
//! `--profile host|default|processes SECS` (just record that set at 1 Hz for SECS seconds and
//! print its cost: a run to put under `valgrind --tool=callgrind` or `perf record`),
//! `--rewrite DIR` (each table of the recording in DIR merged into one file by the recorder's
//! merge: bytes per value per table of a real recording), `--soak SET IV_MS SECS DIR [PUBLISH_S [EVERY_S]]`
//! (record into DIR for SECS seconds, printing the RSS and heap series: the memory aim, and a
//! real recording for `--rewrite`), `--run a,b,b300,b10,c,a10` (only those CPU runs; `b300`/`b10`: the default set
//! at `publish_interval` 5 minutes (the default before issue 20) / 10 s, the cost curve), `--child ...` (internal: one recorder
//! process of the CPU runs).
//!
//! One file of 700 lines on purpose: a benchmark program whose runs share their helpers and
//! print side by side; splitting it would scatter one measurement over several files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool: a failure may abort it

use sysmon_testkit::synthetic;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sysmon_kernel::procfs::Roots;
use sysmon_kernel::sample::Collector;
use sysmon_recorder::{self as recorder, Request, thread_cpu_ns};
use sysmon_store::store;
use sysmon_tables::columns::Batch;
use sysmon_tables::metrics::MetricsRow;
use sysmon_tables::processes::{ProcessCollector, ProcessFields};
use sysmon_tables::schema::Row;

/// `target/sysmon-bench`, or `$SYSMON_BENCH_DIR` (two builds benchmarked side by side, each
/// with its own folder).
fn out_dir() -> PathBuf {
    let d = std::env::var_os("SYSMON_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/sysmon-bench"));
    std::fs::create_dir_all(&d).expect("create the bench folder");
    d
}

/// Raw reads: CPU time per `Collector::sample()` on this thread.
fn raw_reads(n: u32) -> f64 {
    let mut c = Collector::new(Roots::default());
    c.sample().expect("sample");
    let t0 = thread_cpu_ns();
    for _ in 0..n {
        std::hint::black_box(c.sample().expect("sample"));
    }
    (thread_cpu_ns() - t0) as f64 / n as f64
}

/// The same raw reads at a recorder's cadence: a thread that sleeps until each multiple of `iv`
/// on the wall clock and calls `Collector::sample`, CPU time per sample (its sleeps included).
/// A thread woken every 100 ms finds cold caches, so this is the floor of any sampler at that
/// interval, where [`raw_reads`] (a hot loop) is the floor of the reads alone. Runs on the
/// calling thread.
fn raw_reads_paced(iv: Duration, n: u32) -> f64 {
    let mut c = Collector::new(Roots::default());
    c.sample().expect("sample");
    let iv_us = iv.as_micros() as i64;
    let t0 = thread_cpu_ns();
    for _ in 0..n {
        let now = recorder::wall_us();
        let due = (now.div_euclid(iv_us) + 1) * iv_us;
        std::thread::sleep(Duration::from_micros((due - now) as u64));
        std::hint::black_box(c.sample().expect("sample"));
    }
    (thread_cpu_ns() - t0) as f64 / n as f64
}

/// Raw reads of a per-process snapshot (every field, as the recorder takes it): CPU time per
/// `ProcessCollector::snapshot()` on this thread.
fn raw_process_reads(n: u32) -> f64 {
    let mut c = ProcessCollector::new(Roots::default());
    c.snapshot(ProcessFields::all()).expect("snapshot");
    let t0 = thread_cpu_ns();
    for _ in 0..n {
        std::hint::black_box(c.snapshot(ProcessFields::all()).expect("snapshot"));
    }
    (thread_cpu_ns() - t0) as f64 / n as f64
}

struct Run {
    samples: u64,
    missed: u64,
    sampler_ns: u64,
    writer_ns: u64,
    wall: Duration,
}

/// Which tables a run records.
#[derive(Clone, Copy)]
enum Set {
    /// `metrics` and `cpus`.
    Host,
    /// The default set (`tables` not given).
    Default,
    /// The default set and `processes`, at `process_interval` = `interval`.
    WithProcesses,
}

fn start_recorder(
    interval: Duration,
    dir: &Path,
    set: Set,
    publish: Option<Duration>,
) -> std::sync::Arc<recorder::Recorder> {
    let _ = std::fs::remove_dir_all(dir);
    let names = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let defaults: Vec<&str> = sysmon_tables::recorded::defaults(&sysmon_core::process::process().live)
        .iter()
        .map(|t| t.name())
        .collect();
    let (tables, process_interval) = match set {
        Set::Host => (names(&["metrics", "cpus"]), None),
        Set::Default => (None, None),
        Set::WithProcesses => (names(&[defaults.as_slice(), &["processes"]].concat()), Some(interval)),
    };
    let req = Request {
        dir: dir.display().to_string(),
        interval,
        tables,
        process_interval,
        flush_interval: Some(Duration::from_secs(10)),
        publish_interval: publish,
        retention: None,
        max_bytes: None,
        ship: Default::default(),
    };
    {
        let p = sysmon_core::process::process();
        let config = recorder::check(&p.live, &p.recorders, &req).expect("check recorder");
        p.record(config).expect("start recorder")
    }
}

fn record(interval: Duration, secs: f64, dir: &Path, set: Set) -> Run {
    let rec = start_recorder(interval, dir, set, None);
    // Steady state: from the end of a warm-up (thread start, first reads, first flush) to
    // just before the stop; the window covers the periodic flushes of a 10 s flush interval.
    let warm = (2.0 * interval.as_secs_f64()).max(1.0);
    std::thread::sleep(Duration::from_secs_f64(warm));
    let sh = &rec.shared;
    let snap = || {
        (
            sh.samples_taken.load(Ordering::Relaxed),
            sh.samples_missed.load(Ordering::Relaxed),
            sh.sampler_cpu_ns.load(Ordering::Relaxed),
            sh.writer_cpu_ns.load(Ordering::Relaxed),
        )
    };
    let a = snap();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let b = snap();
    let wall = t.elapsed();
    sysmon_core::process::process()
        .stop_recording(rec.id)
        .expect("stop recorder");
    Run {
        samples: b.0 - a.0,
        missed: b.1 - a.1,
        sampler_ns: b.2 - a.2,
        writer_ns: b.3 - a.3,
        wall,
    }
}

fn find_sadc() -> Option<PathBuf> {
    [
        "/usr/lib/sysstat/sadc",
        "/usr/lib64/sa/sadc",
        "/usr/libexec/sa/sadc",
        "/usr/lib/sa/sadc",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// The run time of a task in nanoseconds: the first field of its `schedstat` (the scheduler's
/// own account, exact to the nanosecond; the 10 ms ticks of `stat` are too coarse here).
fn schedstat_ns(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The run time of this process's recorder threads (named `sysmon-rec<id>-s` for sampling,
/// `-w` for the writer): (sampling, writer), in nanoseconds.
fn recorder_threads_ns() -> (u64, u64) {
    let (mut s, mut w) = (0, 0);
    for e in std::fs::read_dir("/proc/self/task").expect("/proc/self/task").flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let comm = comm.trim_end();
        if !comm.starts_with("sysmon-rec") {
            continue;
        }
        let ns = schedstat_ns(&e.path().join("schedstat")).unwrap_or(0);
        if comm.ends_with("-s") {
            s += ns;
        } else {
            w += ns;
        }
    }
    (s, w)
}

/// Resident memory of this process in KiB (`VmRSS`).
fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// A `/proc/self/status` figure in KiB (`VmRSS:`, `RssAnon:`, `RssFile:`).
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What one recorder process measured over its window.
struct ChildRun {
    samples: u64,
    missed: u64,
    sampler_ns: u64,
    writer_ns: u64,
    /// sadc's run time over the same window.
    sadc_ns: Option<u64>,
    wall_s: f64,
    rss_kib: (u64, u64),
}

fn set_name(set: Set) -> &'static str {
    match set {
        Set::Host => "host",
        Set::Default => "default",
        Set::WithProcesses => "processes",
    }
}

/// Starts `sadc 1 N <file>` and a recorder in a process of its own (this benchmark with
/// `--child`) at the same time; the child measures both over the same window.
fn run_child(set: Set, iv_ms: u64, publish_s: u64, warm: f64, n: u64, sadc: Option<&Path>, out: &Path) -> ChildRun {
    let secs = warm + (n * iv_ms) as f64 / 1e3;
    let sadc_file = out.join("sadc.data");
    let _ = std::fs::remove_file(&sadc_file);
    let mut sadc_child = sadc.and_then(|p| {
        Command::new(p)
            .args(["1", &(secs as u64 + 15).to_string()])
            .arg(&sadc_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    });
    let sadc_pid = sadc_child.as_ref().map_or(0, |c| c.id());
    let output = Command::new(std::env::current_exe().expect("current_exe"))
        .args([
            "--child",
            set_name(set),
            &iv_ms.to_string(),
            &publish_s.to_string(),
            &warm.to_string(),
            &n.to_string(),
            &sadc_pid.to_string(),
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("run the recorder process");
    if let Some(c) = sadc_child.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("recorder process printed no result: {text}"));
    let v: Vec<f64> = line.split_whitespace().map(|x| x.parse().expect("number")).collect();
    ChildRun {
        samples: v[0] as u64,
        missed: v[1] as u64,
        sampler_ns: v[2] as u64,
        writer_ns: v[3] as u64,
        sadc_ns: (v[4] >= 0.0).then_some(v[4] as u64),
        wall_s: v[5],
        rss_kib: (v[6] as u64, v[7] as u64),
    }
}

/// The `--child` side: record `set` every `iv_ms` for a warm-up, then measure `n` samples.
fn child(args: &[String]) {
    let set = match args[0].as_str() {
        "default" => Set::Default,
        "processes" => Set::WithProcesses,
        _ => Set::Host,
    };
    let iv = Duration::from_millis(args[1].parse().expect("interval"));
    let publish_s: u64 = args[2].parse().expect("publish interval");
    let publish = (publish_s > 0).then(|| Duration::from_secs(publish_s));
    let warm: f64 = args[3].parse().expect("warm-up");
    let n: u64 = args[4].parse().expect("samples");
    let sadc_pid: u32 = args[5].parse().expect("sadc pid");
    let sadc_stat = PathBuf::from(format!("/proc/{sadc_pid}/schedstat"));
    let dir = out_dir().join(format!("rec-child-{}", std::process::id()));
    let rec = start_recorder(iv, &dir, set, publish);
    std::thread::sleep(Duration::from_secs_f64(warm));
    let sh = &rec.shared;
    let snap = || {
        let (s, w) = recorder_threads_ns();
        let sadc = if sadc_pid > 0 { schedstat_ns(&sadc_stat) } else { None };
        (
            sh.samples_taken.load(Ordering::Relaxed),
            sh.samples_missed.load(Ordering::Relaxed),
            s,
            w,
            sadc,
            Instant::now(),
            rss_kib(),
        )
    };
    let a = snap();
    std::thread::sleep(iv * n as u32);
    while sh.samples_taken.load(Ordering::Relaxed) < a.0 + n && a.5.elapsed() < iv * (n as u32 + 50) {
        std::thread::sleep(iv / 10);
    }
    let b = snap();
    sysmon_core::process::process()
        .stop_recording(rec.id)
        .expect("stop recorder");
    let _ = std::fs::remove_dir_all(&dir);
    let sadc_ns = match (a.4, b.4) {
        (Some(x), Some(y)) => (y - x) as i64,
        _ => -1,
    };
    println!(
        "RESULT {} {} {} {} {} {} {} {}",
        b.0 - a.0,
        b.1 - a.1,
        b.2 - a.2,
        b.3 - a.3,
        sadc_ns,
        (b.5 - a.5).as_secs_f64(),
        a.6,
        b.6
    );
}

/// `--soak SET IV_MS SECS DIR [PUBLISH_S [EVERY_S]]`: records SET every IV_MS for SECS seconds
/// into DIR (kept, for `--rewrite`), printing the process's RSS (anonymous and file-backed) and
/// glibc's heap every EVERY_S (60) seconds (the memory aim) and the recorder's CPU per sample
/// at the end. PUBLISH_S sets `publish_interval` (default 5 minutes); with
/// `SYSMON_TEST_MERGE_FANIN=2` every merge level runs within minutes.
fn soak(args: &[String]) {
    let set = match args.first().map(String::as_str) {
        Some("default") => Set::Default,
        Some("processes") => Set::WithProcesses,
        _ => Set::Host,
    };
    let iv = Duration::from_millis(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000));
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(900);
    let dir = PathBuf::from(args.get(3).expect("--soak SET IV_MS SECS DIR"));
    // Optional: a publish interval in seconds (default 5 minutes), and a print period.
    let publish = args.get(4).and_then(|s| s.parse().ok()).map(Duration::from_secs);
    let every = Duration::from_secs(args.get(5).and_then(|s| s.parse().ok()).unwrap_or(60));
    let rec = start_recorder(iv, &dir, set, publish);
    let t = Instant::now();
    let mut series = Vec::new();
    let mut anon_series = Vec::new();
    let end = Duration::from_secs(secs);
    while t.elapsed() < end {
        std::thread::sleep(end.saturating_sub(t.elapsed()).min(every));
        let rss = rss_kib();
        series.push(rss);
        // RssFile is the binary's code and data paged in (the first publish, the first merge
        // of each level run code for the first time): shared, clean, reclaimable. RssAnon is
        // what the recorder allocated.
        let anon = status_kib("RssAnon:");
        anon_series.push(anon);
        println!(
            "t={:>5.0}s samples={} RSS {} KiB (anon {} KiB, file {} KiB){}",
            t.elapsed().as_secs_f64(),
            rec.shared.samples_taken.load(Ordering::Relaxed),
            rss,
            anon,
            status_kib("RssFile:"),
            heap_kib()
        );
    }
    let (s, w) = recorder_threads_ns();
    let n = rec.shared.samples_taken.load(Ordering::Relaxed).max(1) as f64;
    let row = sysmon_core::process::process()
        .stop_recording(rec.id)
        .expect("stop recorder");
    let after_first = &series[series.len().min(2).saturating_sub(1)..];
    let anon_after = &anon_series[anon_series.len().min(2).saturating_sub(1)..];
    println!(
        "RssAnon from the second print on: min {} max {} KiB (spread {} KiB)",
        anon_after.iter().min().unwrap_or(&0),
        anon_after.iter().max().unwrap_or(&0),
        anon_after.iter().max().unwrap_or(&0) - anon_after.iter().min().unwrap_or(&0),
    );
    println!(
        "RSS from minute 2 on: min {} max {} KiB (spread {} KiB); {} samples, {} missed, {} dropped; sampling {:.1} us, writer {:.1} us per sample (start-up included)",
        after_first.iter().min().unwrap_or(&0),
        after_first.iter().max().unwrap_or(&0),
        after_first.iter().max().unwrap_or(&0) - after_first.iter().min().unwrap_or(&0),
        row.samples_taken,
        row.samples_missed,
        row.rows_dropped,
        s as f64 / n / 1e3,
        w as f64 / n / 1e3
    );
}

/// glibc's view of the heap (`mallinfo2`): in use, free inside the arenas, and mmapped, KiB;
/// tells live memory from memory the allocator keeps.
fn heap_kib() -> String {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes nothing and returns a plain struct by value.
        let m = unsafe { libc::mallinfo2() };
        format!(
            "; heap in use {} KiB, free in arenas {} KiB, mmapped {} KiB",
            (m.uordblks + m.hblkhd) / 1024,
            m.fordblks / 1024,
            m.hblkhd / 1024
        )
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    String::new()
}

/// `--rewrite DIR`: each table of a recording in DIR merged into one file by the recorder's
/// own merge (as a finished day is closed), bytes per value per table against the recorded
/// files. For a real recording of this host (the storage aim that counts for users).
fn rewrite(dir: &Path) {
    let out = out_dir().join("rewrite");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("create the output folder");
    let (mut tv, mut tr, mut tm) = (0u64, 0u64, 0u64);
    println!(
        "{:<14} {:>8} {:>4} {:>14} {:>14}",
        "table", "rows", "cols", "recorded B/v", "merged B/v"
    );
    for t in sysmon_tables::recorded::all() {
        let mut inputs = Vec::new();
        for host in std::fs::read_dir(dir.join(t.name)).into_iter().flatten().flatten() {
            for (_, day) in sysmon_store::layout::list_days(&host.path()).expect("list days") {
                inputs.extend(sysmon_store::layout::list_files(&day).expect("list files"));
            }
        }
        if inputs.is_empty() {
            continue;
        }
        inputs.sort_by_key(|e| (e.name.first_us, e.name.level));
        let recorded: u64 = inputs.iter().map(|e| e.bytes).sum();
        let paths: Vec<PathBuf> = inputs.iter().map(|e| e.path.clone()).collect();
        let decl = t.decl();
        let schema = sysmon_tables::columns::arrow_schema(decl);
        let meta = store::FileMeta {
            table: t.name,
            host: "rewrite".into(),
            interval_seconds: 1.0,
        };
        let name = format!("{}.parquet", t.name);
        let (bytes, rows) = store::merge_files(
            &sysmon_store::faults::Hooks::default(),
            &out,
            &name,
            decl,
            &schema,
            &paths,
            store::metadata_kv(&meta, sysmon_store::merge::DAY_LEVEL, &[]),
        )
        .expect("merge");
        let values = rows * decl.columns.len() as u64;
        tv += values;
        tr += recorded;
        tm += bytes;
        println!(
            "{:<14} {:>8} {:>4} {:>14.3} {:>14.3}",
            t.name,
            rows,
            decl.columns.len(),
            recorded as f64 / values as f64,
            bytes as f64 / values as f64
        );
    }
    println!(
        "{:<14} {:>8} {:>4} {:>14.3} {:>14.3}   ({tr} and {tm} bytes)",
        "all",
        "",
        "",
        tr as f64 / tv.max(1) as f64,
        tm as f64 / tv.max(1) as f64
    );
}

/// Writes the synthetic day as a finished day's file: its path, rows, bytes, the time taken and
/// how far the process's resident memory rose above its level before the write (KiB; the peak
/// is reset through `/proc/self/clear_refs` first).
fn write_day(path_dir: &Path) -> (PathBuf, usize, u64, Duration, u64) {
    let rows = synthetic::synthetic_day(86_400);
    let mut b = Batch::new(MetricsRow::TABLE);
    b.push_all(&rows);
    let batch = b.take().expect("batch");
    let name = "metrics-day.parquet";
    let _ = std::fs::remove_file(path_dir.join(name));
    let meta = store::FileMeta {
        table: "metrics",
        host: "synthetic".into(),
        interval_seconds: 1.0,
    };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:");
    let t = Instant::now();
    let bytes = store::write_batch(
        path_dir,
        name,
        MetricsRow::TABLE,
        &batch,
        store::metadata_kv(&meta, sysmon_store::merge::DAY_LEVEL, &[]),
    )
    .expect("write the synthetic day");
    let took = t.elapsed();
    let peak = status_kib("VmHWM:").saturating_sub(rss_before);
    (path_dir.join(name), rows.len(), bytes, took, peak)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let day_only = args.iter().any(|a| a == "--day-only");
    if let Some(i) = args.iter().position(|a| a == "--rewrite") {
        rewrite(Path::new(args.get(i + 1).expect("--rewrite DIR")));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1..]);
        return;
    }
    let out = out_dir();
    if let Some(i) = args.iter().position(|a| a == "--soak") {
        soak(&args[i + 1..]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        let set = match args.get(i + 1).map(String::as_str) {
            Some("default") => Set::Default,
            Some("processes") => Set::WithProcesses,
            _ => Set::Host,
        };
        let secs: f64 = args.get(i + 2).and_then(|s| s.parse().ok()).unwrap_or(30.0);
        let r = record(Duration::from_secs(1), secs, &out.join("rec-profile"), set);
        let n = r.samples.max(1) as f64;
        println!(
            "{} samples: sampling thread {:.1} us, writer {:.1} us per sample",
            r.samples,
            r.sampler_ns as f64 / n / 1e3,
            r.writer_ns as f64 / n / 1e3
        );
        return;
    }

    let ncols = MetricsRow::TABLE.columns.len();
    let (path, nrows, bytes, took, peak_kib) = write_day(&out);
    let values = nrows * ncols;
    println!("== synthetic day of metrics at 1 Hz ({nrows} rows x {ncols} columns = {values} values)");
    println!(
        "  sysmon writer            {:>10} bytes  {:.3} bytes/value  (written in {:.0} ms, memory +{} KiB at the peak; zstd level {})  -> {}",
        bytes,
        bytes as f64 / values as f64,
        took.as_secs_f64() * 1e3,
        peak_kib,
        store::ZSTD_LEVEL,
        path.display()
    );
    println!("  baselines (DuckDB COPY zstd, pyarrow defaults): scripts/bench_recorder.py");
    if day_only {
        return;
    }

    println!(
        "\n== CPU time per sample (schedstat run time of both recorder threads, steady state incl. flushes and one merge)"
    );
    println!(
        "   each recorder in its own process, started together with `sadc 1 N <file>` (the baseline of the same run)"
    );
    let raw = raw_reads(if quick { 200 } else { 1000 });
    let raw_p = raw_process_reads(if quick { 20 } else { 100 });
    println!(
        "  raw /proc reads (Collector::sample)               {:>8.1} us/sample   (baseline for (a), (b))",
        raw / 1e3
    );
    println!(
        "  raw /proc reads + process snapshot (all fields)   {:>8.1} us/sample   (baseline for (c))",
        (raw + raw_p) / 1e3
    );
    // 1 Hz: a 12 s warm-up (start-up and the first flush), then whole publish periods: 120
    // samples at the default 60 s (six 10 s flushes to the log per publish, two publishes), 300
    // at the old default of 5 minutes, 100 at 10 s (ten publishes and the first level-1 merge).
    let (warm, n1) = if quick { (12.0, 20) } else { (12.0, 100) };
    let sadc = find_sadc();
    if sadc.is_none() {
        println!("  sadc: not installed (Debian: apt-get install sysstat); sadc baselines unavailable");
    }
    // publish_interval 0 = the default (60 s); the window of a run is a whole number of
    // publish periods (a publish lands once per period, on the wall clock), so each run's
    // figure includes its publishes, merges and flushes in their steady-state proportion.
    let only: Vec<&str> = args
        .iter()
        .position(|a| a == "--run")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    let p_default = if quick { 60 } else { 120 };
    let p300 = if quick { 60 } else { 300 };
    let runs = [
        (
            "a",
            Set::Host,
            1000u64,
            0u64,
            p_default,
            "(a) metrics+cpus at 1 Hz",
            raw,
        ),
        ("b", Set::Default, 1000, 0, p_default, "(b) default set at 1 Hz", raw),
        ("b300", Set::Default, 1000, 300, p300, "(b) publish_interval 5 min", raw),
        ("b10", Set::Default, 1000, 10, n1, "(b) publish_interval 10 s", raw),
        (
            "c",
            Set::WithProcesses,
            1000,
            0,
            p_default,
            "(c) default+processes at 1 Hz",
            raw + raw_p,
        ),
        (
            "a10",
            Set::Host,
            100,
            0,
            10 * p_default,
            "(a) metrics+cpus at 10 Hz",
            raw,
        ),
    ];
    let runs = runs
        .into_iter()
        .filter(|r| only.is_empty() || only.contains(&r.0))
        .map(|(_, set, iv, p, n, name, base)| (set, iv, p, n, name, base));
    for (set, iv_ms, publish_s, n, name, base) in runs {
        // Below 1 Hz, the same reads at the same cadence run alongside (a second baseline: the
        // floor of any sampler at that interval).
        let iv = Duration::from_millis(iv_ms);
        let paced = (iv_ms < 1000).then(|| {
            let k = n.min(600) as u32;
            std::thread::spawn(move || raw_reads_paced(iv, k))
        });
        let r = run_child(set, iv_ms, publish_s, warm, n, sadc.as_deref(), &out);
        let samples = r.samples.max(1) as f64;
        let per = (r.sampler_ns + r.writer_ns) as f64 / samples;
        let sadc_part = match r.sadc_ns {
            Some(s) => {
                let sadc_per = s as f64 / r.wall_s.round().max(1.0);
                format!(
                    "{:.2}x sadc ({:.1} us/sample alongside)",
                    per / sadc_per,
                    sadc_per / 1e3
                )
            }
            None => "no sadc".to_string(),
        };
        println!(
            "  {name:<30} {:>8.1} us/sample   {:.2}x raw reads, {sadc_part}; sampling {:.1} us, writer {:.1} us; {} samples, {} missed; RSS {} -> {} KiB",
            per / 1e3,
            per / base,
            r.sampler_ns as f64 / samples / 1e3,
            r.writer_ns as f64 / samples / 1e3,
            r.samples,
            r.missed,
            r.rss_kib.0,
            r.rss_kib.1,
        );
        if let Some(p) = paced.and_then(|h| h.join().ok()) {
            println!(
                "  {:<30} {:>8.1} us/sample   the same reads every {iv_ms} ms alongside (cold caches); the recorder is {:.2}x these, its sampling thread {:.2}x",
                "",
                p / 1e3,
                per / p,
                r.sampler_ns as f64 / samples / p
            );
        }
    }
    let dir = out.join("rec");

    println!("\n== shortest interval sustained with < 1% missed ticks");
    let mut best = None;
    for ms in [10u64, 20, 50, 100] {
        let r = record(
            Duration::from_millis(ms),
            if quick { 2.0 } else { 5.0 },
            &dir,
            Set::Host,
        );
        let total = r.samples + r.missed;
        let missed_pct = 100.0 * r.missed as f64 / total.max(1) as f64;
        let cpu_pct = 100.0 * (r.sampler_ns + r.writer_ns) as f64 / r.wall.as_nanos() as f64;
        println!(
            "  {ms:>4} ms: {:>5} ticks, {:>4} missed ({missed_pct:.2}%), CPU {cpu_pct:.2}% of one core",
            total, r.missed
        );
        if missed_pct < 1.0 {
            best = Some((ms, cpu_pct));
            break;
        }
    }
    match best {
        Some((ms, cpu)) => println!(
            "  => {ms} ms (the shortest interval tried first is the minimum accepted, 10 ms), at {cpu:.2}% of one core"
        ),
        None => println!("  => none of 10..100 ms stayed under 1% missed on this machine"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
