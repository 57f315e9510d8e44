//! Cost of each live table's collector against a hand-written floor that reads the same
//! files with `std::fs::read` and the least parsing, measured in the same run on this host.
//!
//! `cargo bench -p sysmon-core --bench tables`. Prints the median time per call of each,
//! and their ratio (collector / floor); for processes, also the cost per pid. No timing is
//! asserted: the numbers depend on the host.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool: a failure may abort it

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sysmon_kernel::procfs::Roots;
use sysmon_kernel::procfs::mountinfo::Mount;
use sysmon_kernel::sample::Collector;
use sysmon_tables::filesystems;
use sysmon_tables::processes::{self, ProcessCollector, ProcessFields, ProcessTimes};
use sysmon_tables::schema::Timestamp;
use sysmon_tables::{cgroups, disks, net_protocols, networks, pressure, sensors};

/// Median wall time of `f` over `iters` calls (after a warm-up tenth).
fn median(iters: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters / 10 + 1 {
        f();
    }
    let mut t: Vec<Duration> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(name: &str, table: Duration, floor: Duration) {
    println!(
        "{name:<34} collector {:>9.1} us   floor {:>9.1} us   ratio {:>5.2}x",
        us(table),
        us(floor),
        table.as_secs_f64() / floor.as_secs_f64()
    );
}

/// Reads each path whole and sums the digits' count: the least work that touches every byte.
fn floor_read(paths: &[PathBuf]) -> usize {
    paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|b| b.iter().filter(|c| c.is_ascii_digit()).count())
        .sum()
}

fn host_files() -> Vec<PathBuf> {
    [
        "stat",
        "meminfo",
        "loadavg",
        "uptime",
        "diskstats",
        "net/dev",
        "net/snmp",
        "pressure/cpu",
        "pressure/memory",
        "pressure/io",
    ]
    .iter()
    .map(|f| Path::new("/proc").join(f))
    .collect()
}

fn main() {
    let roots = Roots::default();
    let mut c = Collector::new(roots.clone());
    let base = c.sample().expect("sample");
    let host_files = host_files();

    // The shared HostSample behind disks, networks, net_protocols and pressure.
    let sample = median(2000, || {
        black_box(c.sample().unwrap());
    });
    let floor = median(2000, || {
        black_box(floor_read(&host_files));
    });
    report("HostSample (11 files, kept open)", sample, floor);

    // Each ring table: a fresh sample plus its rows, against reading its own file(s).
    let mut classes = disks::DiskClasses::default();
    let t = median(2000, || {
        let now = c.sample().unwrap();
        black_box(disks::rows(&base, &now, |n| classes.get(&roots, n), true));
    });
    let f = median(2000, || {
        black_box(floor_read(&[PathBuf::from("/proc/diskstats")]));
    });
    report("system_disks", t, f);

    let net_files: Vec<PathBuf> = std::fs::read_dir("/sys/class/net")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|d| ["operstate", "mtu", "address", "speed"].map(|a| d.join(a)))
        .chain([PathBuf::from("/proc/net/dev")])
        .collect();
    let t = median(1000, || {
        let now = c.sample().unwrap();
        black_box(networks::rows(&base, &now, &roots));
    });
    let f = median(1000, || {
        black_box(floor_read(&net_files));
    });
    report("system_networks", t, f);

    let t = median(2000, || {
        let now = c.sample().unwrap();
        black_box(net_protocols::row(&base, &now));
    });
    let f = median(2000, || {
        black_box(floor_read(&[PathBuf::from("/proc/net/snmp")]));
    });
    report("system_net_protocols", t, f);

    let psi: Vec<PathBuf> = host_files[7..].to_vec();
    let t = median(2000, || {
        let now = c.sample().unwrap();
        black_box(pressure::rows(&base, &now));
    });
    let f = median(2000, || {
        black_box(floor_read(&psi));
    });
    report("system_pressure", t, f);

    // Filesystems: mountinfo + statvfs on a helper thread, against both on this thread.
    let t = median(500, || {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        black_box(filesystems::rows(
            Mount::parse_all(&text),
            false,
            sysmon_core::process::process().live.stat_guard(),
            Timestamp::now(),
            "h",
        ));
    });
    let f = median(500, || {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mut n = 0u64;
        for m in Mount::parse_all(&text) {
            if !filesystems::is_pseudo(&m.fs_type)
                && let Ok(s) = filesystems::statvfs(Path::new(&m.mount_point))
            {
                n += s.blocks;
            }
        }
        black_box(n);
    });
    report("system_filesystems", t, f);

    let t = median(500, || {
        black_box(sensors::collect(&roots, Timestamp::now(), "h"));
    });
    let f = median(500, || {
        let n = ["/sys/class/hwmon", "/sys/class/thermal"]
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .map(|rd| rd.count())
            .sum::<usize>();
        black_box(n);
    });
    report("system_sensors", t, f);

    // Cgroups: the walk and every file read, against reading the same files.
    let cg_rows = cgroups::collect(&roots, Timestamp::now(), "h")
        .map(|r| r.len())
        .unwrap_or(0);
    let cg_files = cgroup_files(&roots);
    let t = median(300, || {
        black_box(cgroups::collect(&roots, Timestamp::now(), "h").unwrap());
    });
    let f = median(300, || {
        black_box(floor_read(&cg_files));
    });
    report(&format!("system_cgroups ({cg_rows} rows)"), t, f);

    // Processes: per pid, the snapshot with the columns read, against reading stat + statm.
    let mut pc = ProcessCollector::new(roots.clone());
    let pids: Vec<PathBuf> = sysmon_kernel::procfs::pid::list_pids(Path::new("/proc"))
        .unwrap()
        .into_iter()
        .map(|p| Path::new("/proc").join(p.to_string()))
        .collect();
    let n = pids.len() as f64;
    let floor = median(300, || {
        let mut total = 0usize;
        for d in &pids {
            for f in ["stat", "statm"] {
                if let Ok(b) = std::fs::read(d.join(f)) {
                    total += b.len();
                }
            }
        }
        black_box(total);
    });
    let only = |f: fn(&mut ProcessFields)| {
        let mut p = ProcessFields::default();
        f(&mut p);
        p
    };
    for (label, fields) in [
        ("stat only (pid, name, cpu, vms)", ProcessFields::default()),
        ("+ statm (rss_bytes, mem_pct)", only(|p| p.statm = true)),
        ("+ status (user, uid)", only(|p| p.status = true)),
        ("+ cmdline", only(|p| p.cmdline = true)),
        ("+ exe", only(|p| p.exe = true)),
        ("+ io", only(|p| p.io = true)),
        ("+ fd/ (open_fds)", only(|p| p.fds = true)),
        ("+ cgroup", only(|p| p.cgroup = true)),
        ("SELECT * (all files)", ProcessFields::all()),
    ] {
        let t = median(300, || {
            let snap = pc.snapshot(fields).unwrap();
            black_box(processes::rows(
                &ProcessTimes::default(),
                Duration::from_secs(1),
                &snap,
                true,
            ));
        });
        println!(
            "system_processes {label:<36} {:>6.2} us/pid   floor stat+statm {:>6.2} us/pid   ratio {:>5.2}x   ({} pids)",
            us(t) / n,
            us(floor) / n,
            t.as_secs_f64() / floor.as_secs_f64(),
            pids.len()
        );
    }
}

/// The files `system_cgroups()` reads, for the floor.
fn cgroup_files(roots: &Roots) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(roots.proc("self/mountinfo")).unwrap_or_default();
    let mounts = Mount::parse_all(&text);
    let mut out = Vec::new();
    for h in cgroups::hierarchies(roots, &mounts) {
        let mut stack = vec![h.dir.clone()];
        while let Some(d) = stack.pop() {
            for f in [
                "cpu.stat",
                "cpu.max",
                "memory.current",
                "memory.max",
                "memory.peak",
                "io.stat",
                "cpuacct.usage",
                "cpu.cfs_quota_us",
                "memory.usage_in_bytes",
                "memory.limit_in_bytes",
                "memory.max_usage_in_bytes",
                "pids.current",
                "cpu.pressure",
                "memory.pressure",
                "io.pressure",
            ] {
                let p = d.join(f);
                if p.exists() {
                    out.push(p);
                }
            }
            if let Ok(rd) = std::fs::read_dir(&d) {
                stack.extend(
                    rd.filter_map(|e| e.ok())
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
        }
    }
    out
}
