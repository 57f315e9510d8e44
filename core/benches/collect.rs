//! `cargo bench -p sysmon-core --bench collect`: the cost of one host snapshot.
//!
//! Prints, from one run on one machine, the median cost of
//! * the floor with open/read/close: a plain hand-written read of the same ten files
//!   (`stat`, `meminfo`, `loadavg`, `uptime`, `diskstats`, `net/dev`, `net/snmp`, three pressure files),
//!   each opened, read whole and closed, every number token parsed;
//! * the floor with kept-open descriptors and `pread` (the method our collector uses);
//! * our `Collector::sample()` (kept-open + pread, full parse into `HostSample`),
//!
//! and the collector's ratio to each floor. No criterion: plain `Instant` medians over batches.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool: a failure may abort it

use std::fs::File;
use std::hint::black_box;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use sysmon_kernel::procfs::Roots;
use sysmon_kernel::sample::Collector;

const FILES: &[&str] = &[
    "/proc/stat",
    "/proc/meminfo",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/diskstats",
    "/proc/net/dev",
    "/proc/net/snmp",
    "/proc/pressure/cpu",
    "/proc/pressure/memory",
    "/proc/pressure/io",
];

/// Parses every whitespace-separated number, as the least a reader must do.
fn parse_numbers(buf: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut cur = 0u64;
    let mut in_num = false;
    for &b in buf {
        if b.is_ascii_digit() {
            cur = cur.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            in_num = true;
        } else if in_num {
            sum = sum.wrapping_add(cur);
            cur = 0;
            in_num = false;
        }
    }
    sum.wrapping_add(cur)
}

fn floor_open_read_close(files: &[&str], buf: &mut Vec<u8>) -> u64 {
    let mut acc = 0;
    for path in files {
        buf.clear();
        if let Ok(mut f) = File::open(path) {
            let _ = f.read_to_end(buf);
            acc += parse_numbers(buf);
        }
    }
    acc
}

fn floor_pread(files: &mut [(File, Vec<u8>)]) -> u64 {
    let mut acc = 0;
    for (f, buf) in files.iter_mut() {
        // One pread from offset 0 into a buffer sized for the whole file.
        let n = f.read_at(buf, 0).unwrap_or(0);
        acc += parse_numbers(&buf[..n]);
    }
    acc
}

/// Median nanoseconds per call of `f`, over `batches` batches of `per_batch` calls.
fn median_ns(batches: usize, per_batch: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..per_batch {
        f();
    }
    let mut v: Vec<Duration> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed() / per_batch as u32
        })
        .collect();
    v.sort();
    v[v.len() / 2].as_nanos() as f64
}

fn main() {
    let files: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    let mut buf = Vec::with_capacity(64 * 1024);
    let open_read_close = median_ns(41, 200, || {
        black_box(floor_open_read_close(&files, &mut buf));
    });
    let mut kept: Vec<(File, Vec<u8>)> = files
        .iter()
        .filter_map(|p| File::open(p).ok())
        .map(|f| (f, vec![0u8; 64 * 1024]))
        .collect();
    let pread = median_ns(41, 200, || {
        black_box(floor_pread(&mut kept));
    });
    let mut collector = Collector::new(Roots::default());
    let ours = median_ns(41, 200, || {
        black_box(collector.sample().ok());
    });
    println!("host snapshot ({} files), median per snapshot:", files.len());
    println!(
        "  floor, open/read/close:          {:>8.1} us",
        open_read_close / 1000.0
    );
    println!("  floor, kept-open + pread:        {:>8.1} us", pread / 1000.0);
    println!("  sysmon Collector (kept + pread): {:>8.1} us", ours / 1000.0);
    println!(
        "  ratio sysmon / pread floor: {:.2}x   (sysmon / open-read-close floor: {:.2}x)",
        ours / pread,
        ours / open_read_close
    );
    breakdown(&files);
}

/// Where the collector's time goes beyond the reads: each parser on the current text.
fn breakdown(files: &[&str]) {
    use sysmon_kernel::procfs::{KeptFile, diskstats, meminfo, netdev, stat};
    let mut kept: Vec<KeptFile> = files.iter().map(KeptFile::new).collect();
    let reads = median_ns(41, 200, || {
        for k in kept.iter_mut() {
            black_box(k.read().map(|s| s.len()).ok());
        }
    });
    let text = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let (st, mi, ds, nd) = (
        text("/proc/stat"),
        text("/proc/meminfo"),
        text("/proc/diskstats"),
        text("/proc/net/dev"),
    );
    let mut disks = Vec::new();
    let mut nets = Vec::new();
    println!("breakdown, median per call:");
    println!("  KeptFile reads alone:   {:>6.2} us", reads / 1000.0);
    let t = median_ns(41, 200, || {
        black_box(stat::Stat::parse(&st));
    });
    println!("  parse stat:             {:>6.2} us", t / 1000.0);
    let t = median_ns(41, 200, || {
        black_box(meminfo::MemInfo::parse(&mi));
    });
    println!("  parse meminfo:          {:>6.2} us", t / 1000.0);
    let t = median_ns(41, 200, || {
        diskstats::DiskStat::parse_all(&ds, &mut disks);
        black_box(&disks);
    });
    println!("  parse diskstats:        {:>6.2} us", t / 1000.0);
    let t = median_ns(41, 200, || {
        netdev::NetDev::parse_all(&nd, &mut nets);
        black_box(&nets);
    });
    println!("  parse net/dev:          {:>6.2} us", t / 1000.0);
}
