//! Recorder benchmark (`make bench`; plain std::time, thread CPU clocks). Each figure is printed
//! next to its baseline, measured in the same run:
//!
//! 1. CPU time per sample of the recorder (both threads) at 1 Hz for (a) the host tables
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
//! print its cost: a run to put under `valgrind --tool=callgrind`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool: a failure may abort it

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sysmon_core::procfs::Roots;
use sysmon_core::procfs::diskstats::DiskStat;
use sysmon_core::procfs::netdev::NetDev;
use sysmon_core::recorder::columns::Batch;
use sysmon_core::recorder::{self, Request, store, thread_cpu_ns};
use sysmon_core::sample::Collector;
use sysmon_core::schema::{Row, Timestamp};
use sysmon_core::tables::metrics::{self, MetricsRow};
use sysmon_core::tables::processes::{ProcessCollector, ProcessFields};

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/sysmon-bench");
    std::fs::create_dir_all(&d).expect("create target/sysmon-bench");
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

fn record(interval: Duration, secs: f64, dir: &Path, set: Set) -> Run {
    let _ = std::fs::remove_dir_all(dir);
    let names = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let defaults: Vec<&str> = recorder::tables::defaults(sysmon_core::live::process())
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
        retention: None,
        max_bytes: None,
    };
    let rec = recorder::start(sysmon_core::live::process(), &req).expect("start recorder");
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
    recorder::stop(sysmon_core::live::process(), rec.id).expect("stop recorder");
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

fn children_cpu_ns() -> u64 {
    // SAFETY: rusage is plain integers, for which all-zero bytes are valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills a struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A deterministic pseudo-random generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A synthetic day at 1 Hz: a real sample of this host, evolved second by second with a
/// busy share that wanders between 2% and 90%, memory that drifts, counters that grow at
/// plausible rates, disk and network traffic in bursts, and a few hundred µs of tick jitter.
fn synthetic_day(seconds: usize) -> Vec<MetricsRow> {
    let mut s = Collector::new(Roots::default()).sample().expect("sample");
    if !s.disk_is_physical.iter().any(|p| *p) {
        s.disks.push(DiskStat {
            name: "vda".into(),
            ..DiskStat::default()
        });
        s.disk_is_physical.push(true);
    }
    if !s.net_is_physical.iter().any(|p| *p) {
        s.nets.push(NetDev {
            name: "eth0".into(),
            ..NetDev::default()
        });
        s.net_is_physical.push(true);
    }
    let ncpu = s.stat.cpus.len().max(1) as u64;
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let t0 = (Timestamp::now().micros / 86_400_000_000 - 1) * 86_400_000_000;
    let start = s.instant;
    let mut busy = 0.2f64;
    let mut prev = s.clone();
    let mut rows = Vec::with_capacity(seconds);
    for i in 0..seconds {
        let mut n = prev.clone();
        n.ts = Timestamp::from_micros(t0 + i as i64 * 1_000_000 + rng.below(400) as i64);
        n.instant = start + Duration::from_secs(i as u64);
        busy = (busy + (rng.unit() - 0.5) * 0.04).clamp(0.02, 0.9);
        let ticks = 100 * ncpu;
        let b = (ticks as f64 * busy) as u64;
        if let Some(t) = n.stat.total.as_mut() {
            let user = b * 6 / 10 + rng.below(3);
            let system = b.saturating_sub(user) * 8 / 10;
            let softirq = b.saturating_sub(user + system) / 2;
            let irq = b.saturating_sub(user + system + softirq);
            let iowait = rng.below(3);
            t.user += user;
            t.system += system;
            t.softirq = t.softirq.map(|v| v + softirq);
            t.irq = t.irq.map(|v| v + irq);
            t.iowait = t.iowait.map(|v| v + iowait);
            t.idle += ticks.saturating_sub(b + iowait);
        }
        n.stat.context_switches = n.stat.context_switches.map(|v| v + 1500 + rng.below(2000));
        n.stat.interrupts = n.stat.interrupts.map(|v| v + 1000 + rng.below(1500));
        n.stat.forks = n.stat.forks.map(|v| v + rng.below(6));
        n.stat.procs_running = Some(1 + rng.below(4));
        n.stat.procs_blocked = Some(if rng.below(20) == 0 { 1 } else { 0 });
        let drift = |v: Option<u64>, r: &mut Rng, step: u64| v.map(|x| (x + r.below(2 * step)).saturating_sub(step));
        n.mem.available = drift(n.mem.available, &mut rng, 1 << 20);
        n.mem.free = drift(n.mem.free, &mut rng, 1 << 20);
        n.mem.cached = drift(n.mem.cached, &mut rng, 256 << 10);
        n.mem.dirty = Some(rng.below(64) << 12);
        if let Some(l) = n.load.as_mut() {
            let target = busy * ncpu as f64;
            l.load_1m = ((l.load_1m + (target - l.load_1m) / 60.0) * 100.0).round() / 100.0;
            l.load_5m = ((l.load_5m + (target - l.load_5m) / 300.0) * 100.0).round() / 100.0;
            l.load_15m = ((l.load_15m + (target - l.load_15m) / 900.0) * 100.0).round() / 100.0;
            l.tasks = l.tasks.map(|t| (t + rng.below(5)).saturating_sub(2));
        }
        n.uptime_seconds = n.uptime_seconds.map(|u| ((u + 1.0) * 100.0).round() / 100.0);
        if let Some(d) = n
            .disks
            .iter_mut()
            .zip(&n.disk_is_physical)
            .find(|(_, p)| **p)
            .map(|(d, _)| d)
        {
            let burst = rng.below(10) == 0;
            d.sectors_read += if burst { rng.below(4096) * 8 } else { 0 };
            d.sectors_written += rng.below(if burst { 8192 } else { 64 }) * 8;
        }
        if let Some(x) = n
            .nets
            .iter_mut()
            .zip(&n.net_is_physical)
            .find(|(_, p)| **p)
            .map(|(x, _)| x)
        {
            x.rx_bytes += 200 + rng.below(20_000);
            x.tx_bytes += 200 + rng.below(8_000);
        }
        rows.push(metrics::row(&prev, &n));
        prev = n;
    }
    rows
}

fn write_day(path_dir: &Path) -> (PathBuf, usize, u64, Duration) {
    let rows = synthetic_day(86_400);
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
    let t = Instant::now();
    let bytes = store::write_batch(
        path_dir,
        name,
        MetricsRow::TABLE,
        &batch,
        store::metadata_kv(&meta, 9, &[]),
    )
    .expect("write the synthetic day");
    (path_dir.join(name), rows.len(), bytes, t.elapsed())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let day_only = args.iter().any(|a| a == "--day-only");
    let out = out_dir();
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
    let (path, nrows, bytes, took) = write_day(&out);
    let values = nrows * ncols;
    println!("== synthetic day of metrics at 1 Hz ({nrows} rows x {ncols} columns = {values} values)");
    println!(
        "  sysmon writer            {:>10} bytes  {:.3} bytes/value  (written in {:.0} ms)  -> {}",
        bytes,
        bytes as f64 / values as f64,
        took.as_secs_f64() * 1e3,
        path.display()
    );
    println!("  baselines (DuckDB COPY zstd, pyarrow defaults): scripts/bench_recorder.py");
    if day_only {
        return;
    }

    let secs = if quick { 5.0 } else { 21.0 };
    println!("\n== CPU time per sample (both recorder threads, steady state incl. 10 s flushes)");
    let raw = raw_reads(if quick { 200 } else { 1000 });
    let raw_p = raw_process_reads(if quick { 20 } else { 100 });
    println!(
        "  raw /proc reads (Collector::sample)               {:>8.1} us/sample   (baseline)",
        raw / 1e3
    );
    println!(
        "  raw /proc reads + process snapshot (all fields)   {:>8.1} us/sample   (baseline for (c))",
        (raw + raw_p) / 1e3
    );
    let sadc = find_sadc();
    let dir = out.join("rec");
    let sets = [
        (Set::Host, "(a) metrics+cpus", raw),
        (Set::Default, "(b) default set", raw),
        (Set::WithProcesses, "(c) default+processes", raw + raw_p),
    ];
    // sadc runs alongside the three 1 Hz recordings (each about secs + 2 s).
    let sadc_n = sets.len() as u64 * (secs as u64 + 2);
    let sadc_run = sadc.as_ref().and_then(|p| {
        let before = children_cpu_ns();
        let file = out.join("sadc.data");
        let _ = std::fs::remove_file(&file);
        Command::new(p)
            .args(["1", &sadc_n.to_string()])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(|child| (child, before))
    });
    let runs: Vec<(&str, f64, Run)> = sets
        .iter()
        .map(|(set, name, base)| (*name, *base, record(Duration::from_secs(1), secs, &dir, *set)))
        .collect();
    let sadc_ns = sadc_run.map(|(mut child, before)| {
        let _ = child.wait();
        (children_cpu_ns() - before) as f64 / sadc_n as f64
    });
    match sadc_ns {
        Some(ns) => println!(
            "  sadc 1 {sadc_n} (sysstat, default groups), same time   {:>8.1} us/sample   (baseline)",
            ns / 1e3
        ),
        None => println!("  sadc: not installed (Debian: apt-get install sysstat); baseline unavailable"),
    }
    for (name, base, r) in &runs {
        let n = r.samples.max(1) as f64;
        let per = (r.sampler_ns + r.writer_ns) as f64 / n;
        let vs_sadc = sadc_ns.map_or(String::new(), |s| format!(", {:.2}x sadc", per / s));
        println!(
            "  recorder at 1 Hz, {name:<22}   {:>8.1} us/sample   ({:.2}x raw reads{vs_sadc}; sampling thread {:.1} us, writer {:.1} us; {} samples, {} missed)",
            per / 1e3,
            per / base,
            r.sampler_ns as f64 / n / 1e3,
            r.writer_ns as f64 / n / 1e3,
            r.samples,
            r.missed
        );
    }
    let r10 = record(Duration::from_millis(100), secs, &dir, Set::Host);
    let per10 = (r10.sampler_ns + r10.writer_ns) as f64 / r10.samples.max(1) as f64;
    println!(
        "  recorder at 10 Hz, (a) metrics+cpus             {:>8.1} us/sample   ({:.2}x raw reads; sampling thread {:.1} us, writer {:.1} us; {} samples, {} missed)",
        per10 / 1e3,
        per10 / raw,
        r10.sampler_ns as f64 / r10.samples.max(1) as f64 / 1e3,
        r10.writer_ns as f64 / r10.samples.max(1) as f64 / 1e3,
        r10.samples,
        r10.missed
    );

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
