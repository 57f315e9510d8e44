//! Property tests of every parser of this module (`make fuzz` runs them longer).
//!
//! * Random bytes, random text made of the kernel files' own tokens, and random mutations of
//!   the fixture files never panic, and no parser holds more memory than a fixed multiple of
//!   its input (measured by a counting allocator, per thread).
//! * Valid input, generated from random values and written the way the kernel writes it,
//!   parses back to those values (the reference reading).
//!
//! `PROPTEST_CASES` sets the number of cases (256 by default).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::cgroupfs;
use super::cpuinfo;
use super::diskstats::DiskStat;
use super::loadavg::LoadAvg;
use super::meminfo::MemInfo;
use super::mountinfo::{Mount, unescape};
use super::netdev::NetDev;
use super::pid::{self, PidStat};
use super::pressure;
use super::snmp::Snmp;
use super::stat::Stat;
use super::uptime;

// ------------------------------------------------------------------ allocation meter

/// The system allocator, counting the bytes live on this thread while metering is on.
struct Meter;

thread_local! {
    static METERING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = METERING.try_with(|on| {
        if on.get() {
            let live = LIVE.get() + delta;
            LIVE.set(live);
            PEAK.set(PEAK.get().max(live));
        }
    });
}

// SAFETY: every call is forwarded to `System` unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds GlobalAlloc's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds GlobalAlloc's contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds GlobalAlloc's contract.
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds GlobalAlloc's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static METER: Meter = Meter;

/// The most bytes `f` held at once (its result included).
fn peak_bytes<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LIVE.set(0);
    PEAK.set(0);
    METERING.set(true);
    let r = f();
    METERING.set(false);
    (r, PEAK.get().max(0) as usize)
}

/// What any parser may hold for `len` bytes of input: linear in the input. The worst case is
/// `cmdline` made of NULs (a 24-byte `String` per byte, doubled while the vector grows).
fn bound(len: usize) -> usize {
    64 * len + 64 * 1024
}

// ------------------------------------------------------------------ every parser at once

/// Runs every parser on `input` (as the readers give it: bytes to `stat` and `cmdline`, text
/// decoded lossily to the others) and checks that what each returns is bounded by the input.
fn parse_everything(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let t: &str = &text;
    let len = t.len().max(input.len());
    let lines = t.lines().count();
    let (_, peak) = peak_bytes(|| {
        if let Some(s) = PidStat::parse_bytes(input) {
            assert!(s.comm.len() <= 3 * input.len());
        }
        let _ = pid::parse_statm(t);
        let _ = pid::parse_status_euid(t);
        let _ = pid::parse_io(t);
        let args = pid::parse_cmdline(input);
        assert!(args.len() <= input.len());
        if let Some(c) = pid::parse_cgroup(t) {
            assert!(c.len() <= t.len());
        }
        let _ = cgroupfs::flat_keyed(t, "usage_usec");
        let _ = cgroupfs::limit(t);
        let _ = cgroupfs::number(t);
        let _ = cgroupfs::cpu_max_cores(t);
        let _ = cgroupfs::cfs_quota_cores(t, t);
        let _ = cgroupfs::io_stat_bytes(t);
        let _ = cgroupfs::blkio_bytes(t);
        assert!(cpuinfo::parse(t).len() <= lines);
        let mut disks = Vec::new();
        DiskStat::parse_all(t, &mut disks);
        assert!(disks.len() <= lines);
        let _ = LoadAvg::parse(t);
        let _ = MemInfo::parse(t);
        let mounts = Mount::parse_all(t);
        assert!(mounts.len() <= lines);
        for m in &mounts {
            assert!(m.mount_point.len() + m.root.len() + m.source.len() <= 3 * t.len());
        }
        assert!(unescape(t).len() <= 3 * t.len());
        let mut nets = Vec::new();
        NetDev::parse_all(t, &mut nets);
        assert!(nets.len() <= lines);
        assert!(pressure::parse(t).len() <= lines);
        let _ = Snmp::parse(t);
        let s = Stat::parse(t);
        assert!(s.cpus.len() <= lines);
        if let Some(total) = s.total {
            let _ = total.total();
        }
        for c in &s.cpus {
            let _ = c.times.total();
        }
        let _ = uptime::parse(t);
        let _ = super::parse_u64(t);
    });
    assert!(peak <= bound(len), "{peak} bytes held for {len} bytes of input");
}

// ------------------------------------------------------------------ inputs

/// Pieces of the kernel files, so random text often gets past the first checks.
const TOKENS: &[&str] = &[
    "0",
    "1",
    "7",
    "42",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "3.25",
    "nan",
    "inf",
    "1e400",
    " ",
    "  ",
    "\t",
    "\n",
    "\n",
    ":",
    "=",
    "/",
    "-",
    " - ",
    "(",
    ")",
    ") ",
    "\\040",
    "\\",
    "\0",
    "cpu",
    "cpu0",
    "cpu ",
    "intr",
    "ctxt",
    "btime",
    "processes",
    "procs_running",
    "procs_blocked",
    "Tcp:",
    "Udp:",
    "ActiveOpens",
    "CurrEstab",
    "InDatagrams",
    "MemTotal:",
    "MemAvailable:",
    "SwapFree:",
    "kB",
    "processor",
    "model name",
    "cpu MHz",
    "physical id",
    "core id",
    "some",
    "full",
    "avg10=",
    "avg60=",
    "avg300=",
    "total=",
    "rbytes=",
    "wbytes=",
    "Read",
    "Write",
    "Total",
    "max",
    "Uid:",
    "read_bytes:",
    "write_bytes:",
    "0::",
    "memory",
    "usage_usec",
    "shared:1",
    "eth0:",
    "lo:",
    "sda",
    "é",
    "\u{fffd}",
];

fn token_text() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ];
    vec(piece, 0..400).prop_map(|v| v.concat())
}

/// Every fixture file a parser reads.
const FIXTURES: &[&[u8]] = &[
    include_bytes!("../../../../test/fixtures/modern/proc/stat"),
    include_bytes!("../../../../test/fixtures/modern/proc/meminfo"),
    include_bytes!("../../../../test/fixtures/modern/proc/cpuinfo"),
    include_bytes!("../../../../test/fixtures/modern/proc/diskstats"),
    include_bytes!("../../../../test/fixtures/modern/proc/loadavg"),
    include_bytes!("../../../../test/fixtures/modern/proc/uptime"),
    include_bytes!("../../../../test/fixtures/modern/proc/net/dev"),
    include_bytes!("../../../../test/fixtures/modern/proc/net/snmp"),
    include_bytes!("../../../../test/fixtures/modern/proc/pressure/cpu"),
    include_bytes!("../../../../test/fixtures/modern/proc/self/mountinfo"),
    include_bytes!("../../../../test/fixtures/modern/proc/4242/stat"),
    include_bytes!("../../../../test/fixtures/modern/proc/4242/statm"),
    include_bytes!("../../../../test/fixtures/modern/proc/4242/status"),
    include_bytes!("../../../../test/fixtures/modern/proc/4242/io"),
    include_bytes!("../../../../test/fixtures/modern/proc/4242/cgroup"),
    include_bytes!("../../../../test/fixtures/modern/proc/4242/cmdline"),
    include_bytes!("../../../../test/fixtures/old-kernel/proc/stat"),
    include_bytes!("../../../../test/fixtures/old-kernel/proc/meminfo"),
    include_bytes!("../../../../test/fixtures/old-kernel/proc/cpuinfo"),
    include_bytes!("../../../../test/fixtures/cgroup-v1/proc/self/mountinfo"),
    include_bytes!("../../../../test/fixtures/cgroup-v1/sys/fs/cgroup/blkio/blkio.throttle.io_service_bytes_recursive"),
    include_bytes!("../../../../test/fixtures/cgroup-v2/proc/self/mountinfo"),
    include_bytes!("../../../../test/fixtures/cgroup-v2/sys/fs/cgroup/system.slice/docker-abc.scope/io.stat"),
    include_bytes!("../../../../test/fixtures/cgroup-v2/sys/fs/cgroup/system.slice/docker-abc.scope/cpu.stat"),
    include_bytes!("../../../../test/fixtures/cgroup-v2/sys/fs/cgroup/system.slice/docker-abc.scope/cpu.max"),
    include_bytes!("../../../../test/fixtures/cgroup-v2/sys/fs/cgroup/system.slice/docker-abc.scope/memory.pressure"),
];

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), 0..64usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), token_text()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 0..256usize).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(base: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = base.to_vec();
    for m in mutations {
        let at = |i: usize, b: &Vec<u8>| i % (b.len() + 1);
        match m {
            Mutation::Set(i, v) if !b.is_empty() => {
                let i = i % b.len();
                b[i] = *v;
            }
            Mutation::Set(..) => {}
            Mutation::Delete(i, n) => {
                let i = at(*i, &b);
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Mutation::Insert(i, v) => {
                let i = at(*i, &b);
                b.splice(i..i, v.iter().copied());
            }
            Mutation::Duplicate(i, n) => {
                let i = at(*i, &b);
                let end = (i + n).min(b.len());
                let piece = b[i..end].to_vec();
                b.splice(end..end, piece);
            }
            Mutation::Truncate(i) => {
                let i = at(*i, &b);
                b.truncate(i);
            }
        }
    }
    b
}

proptest! {
    #[test]
    fn random_bytes_never_panic(input in vec(any::<u8>(), 0..2048)) {
        parse_everything(&input);
    }

    #[test]
    fn random_kernel_like_text_never_panics(input in token_text()) {
        parse_everything(&input);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        i in 0..FIXTURES.len(),
        mutations in vec(mutation(), 1..8),
    ) {
        parse_everything(&mutate(FIXTURES[i], &mutations));
    }
}

#[test]
fn fixtures_as_they_are() {
    for f in FIXTURES {
        parse_everything(f);
    }
}

#[test]
fn the_meter_sees_allocations() {
    let (v, peak) = peak_bytes(|| vec![0u8; 100_000]);
    assert_eq!(v.len(), 100_000);
    assert!(peak >= 100_000);
}

// ------------------------------------------------------------------ valid input round trips

/// A number as the kernel prints a two-decimal value, and what it reads as.
fn two_decimals() -> impl Strategy<Value = (String, f64)> {
    (0u32..100_000).prop_map(|c| {
        let s = format!("{}.{:02}", c / 100, c % 100);
        let v = s.parse().unwrap();
        (s, v)
    })
}

/// A name as the kernel keeps `comm`: up to 15 bytes, none of them NUL.
fn comm() -> impl Strategy<Value = Vec<u8>> {
    vec(1u8..=255, 0..=15)
}

/// A process's `stat` values and its raw name.
fn pid_stat() -> impl Strategy<Value = (PidStat, Vec<u8>)> {
    (
        (
            1..=i32::MAX,
            comm(),
            select(&b"RSDZTtWXxKPI"[..]),
            0..=i32::MAX,
            any::<u32>(),
        ),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        (
            -100i64..=39,
            -20i64..=19,
            1i64..=100_000,
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (pid, comm, state, ppid, flags),
                (minflt, majflt, utime, stime),
                (priority, nice, num_threads, start_time, vsize, rss),
            )| {
                let s = PidStat {
                    pid,
                    comm: String::from_utf8_lossy(&comm).into_owned(),
                    state: state as char,
                    ppid,
                    flags: flags as u64,
                    minflt,
                    majflt,
                    utime,
                    stime,
                    priority,
                    nice,
                    num_threads,
                    start_time,
                    vsize,
                    rss,
                };
                (s, comm)
            },
        )
}

/// `stat` as `do_task_stat` writes it (52 fields).
fn render_stat(s: &PidStat, raw_comm: &[u8]) -> Vec<u8> {
    let mut out = format!("{} (", s.pid).into_bytes();
    out.extend_from_slice(raw_comm);
    out.extend_from_slice(
        format!(
            ") {} {} {} {} 0 -1 {} {} 5 {} 6 {} {} -3 -4 {} {} {} 0 {} {} {} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
            s.state, s.ppid, s.pid, s.pid, s.flags, s.minflt, s.majflt, s.utime, s.stime, s.priority, s.nice,
            s.num_threads, s.start_time, s.vsize, s.rss
        )
        .as_bytes(),
    );
    out
}

proptest! {
    #[test]
    fn stat_round_trip((want, raw_comm) in pid_stat()) {
        prop_assert_eq!(PidStat::parse_bytes(&render_stat(&want, &raw_comm)), Some(want));
    }

    #[test]
    fn statm_round_trip(v in vec(any::<u64>(), 7)) {
        let text = v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ") + "\n";
        let m = pid::parse_statm(&text).unwrap();
        prop_assert_eq!((m.size, m.resident, m.shared), (v[0], v[1], v[2]));
    }

    #[test]
    fn status_io_round_trip(
        uids in vec(any::<u32>(), 4),
        name in "[ -~]{0,15}",
        io in vec(any::<u64>(), 7),
    ) {
        let status = format!(
            "Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nPid:\t1\nPPid:\t0\n\
             Uid:\t{}\t{}\t{}\t{}\nGid:\t0\t0\t0\t0\nVmRSS:\t  100 kB\n",
            uids[0], uids[1], uids[2], uids[3]
        );
        prop_assert_eq!(pid::parse_status_euid(&status), Some(uids[1]));
        let text = format!(
            "rchar: {}\nwchar: {}\nsyscr: {}\nsyscw: {}\nread_bytes: {}\nwrite_bytes: {}\ncancelled_write_bytes: {}\n",
            io[0], io[1], io[2], io[3], io[4], io[5], io[6]
        );
        prop_assert_eq!(pid::parse_io(&text), Some((io[4], io[5])));
    }

    #[test]
    fn cmdline_round_trip(args in vec(vec(1u8..=255, 0..20), 0..8)) {
        prop_assume!(args.len() != 1 || !args[0].is_empty()); // one empty argument reads as none
        let mut bytes = Vec::new();
        for a in &args {
            bytes.extend_from_slice(a);
            bytes.push(0);
        }
        let want: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        prop_assert_eq!(pid::parse_cmdline(&bytes), want);
    }

    #[test]
    fn cgroup_round_trip(
        v2 in proptest::option::of("/[a-z0-9 .:@-]{0,30}"),
        v1 in vec((1u32..20, select(vec!["memory", "cpu,cpuacct", "pids", "name=systemd", "blkio"]), "/[a-z0-9 .:-]{0,20}"), 0..6),
    ) {
        let mut text = String::new();
        for (id, ctl, path) in &v1 {
            text += &format!("{id}:{ctl}:{path}\n");
        }
        if let Some(p) = &v2 {
            text += &format!("0::{p}\n");
        }
        // Reference: the v2 path unless it is the root, else the (last) memory path, else the
        // first v1 path below the root, else the v2 root.
        let deep: Vec<_> = v1.iter().filter(|(_, _, p)| p != "/").collect();
        let want = match &v2 {
            Some(p) if p != "/" => Some(p.clone()),
            _ => deep
                .iter()
                .rev()
                .find(|(_, c, _)| *c == "memory")
                .or(deep.first())
                .map(|(_, _, p)| p.clone())
                .or(v2.clone()),
        };
        prop_assert_eq!(pid::parse_cgroup(&text), want);
    }

    #[test]
    fn cgroupfs_round_trip(
        keys in proptest::collection::btree_map("[a-z_]{1,12}", any::<u64>(), 0..10),
        quota in any::<u64>(),
        period in any::<u64>(),
        v1_quota in any::<i64>(),
        devices in vec((any::<u64>(), any::<u64>()), 0..6),
    ) {
        let text: String = keys.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        for (k, v) in &keys {
            prop_assert_eq!(cgroupfs::flat_keyed(&text, k), Some(*v));
        }
        prop_assert_eq!(cgroupfs::flat_keyed(&text, "NOT_A_KEY"), None);
        prop_assert_eq!(cgroupfs::limit("max\n"), Some(None));
        prop_assert_eq!(cgroupfs::limit(&format!("{quota}\n")), Some(Some(quota)));
        prop_assert_eq!(cgroupfs::number(&format!("{quota}\n")), Some(quota));
        let cores = (period > 0).then(|| quota as f64 / period as f64);
        prop_assert_eq!(cgroupfs::cpu_max_cores(&format!("{quota} {period}\n")), cores);
        prop_assert_eq!(cgroupfs::cpu_max_cores(&format!("max {period}\n")), None);
        let v1 = (v1_quota > 0 && period > 0).then(|| v1_quota as f64 / period as f64);
        prop_assert_eq!(cgroupfs::cfs_quota_cores(&format!("{v1_quota}\n"), &format!("{period}\n")), v1);
        let (mut r, mut w) = (0u64, 0u64);
        let (mut io, mut blk) = (String::new(), String::new());
        for (i, (a, b)) in devices.iter().enumerate() {
            r = r.saturating_add(*a);
            w = w.saturating_add(*b);
            io += &format!("8:{i} rbytes={a} wbytes={b} rios=1 wios=2 dbytes=3 dios=4\n");
            blk += &format!("8:{i} Read {a}\n8:{i} Write {b}\n8:{i} Sync 1\n8:{i} Async 2\n8:{i} Discard 0\n8:{i} Total 3\n");
        }
        blk += "Total 5\n";
        prop_assert_eq!(cgroupfs::io_stat_bytes(&io), (r, w));
        prop_assert_eq!(cgroupfs::blkio_bytes(&blk), Some((r, w)));
    }

    #[test]
    fn cpuinfo_round_trip(cpus in vec(("[A-Za-z0-9()@.-][A-Za-z0-9()@. -]{0,30}[A-Za-z0-9()@.-]", 0u32..10_000_000, any::<u32>(), any::<u32>()), 0..8)) {
        let mut text = String::new();
        for (i, (model, khz, phys, core)) in cpus.iter().enumerate() {
            text += &format!(
                "processor\t: {i}\nvendor_id\t: X\nmodel name\t: {model}\ncpu MHz\t\t: {}.{:03}\nphysical id\t: {phys}\ncore id\t\t: {core}\nflags\t\t: fpu a:b\n\n",
                khz / 1000, khz % 1000
            );
        }
        let got = cpuinfo::parse(&text);
        prop_assert_eq!(got.len(), cpus.len());
        for (i, (c, (model, khz, phys, core))) in got.iter().zip(&cpus).enumerate() {
            prop_assert_eq!(c.processor, i as u32);
            prop_assert_eq!(c.model_name.as_deref(), Some(model.as_str()));
            prop_assert_eq!(c.mhz, Some(format!("{}.{:03}", khz / 1000, khz % 1000).parse::<f64>().unwrap()));
            prop_assert_eq!((c.physical_id, c.core_id), (Some(*phys), Some(*core)));
        }
    }

    #[test]
    fn diskstats_round_trip(disks in vec((any::<u32>(), any::<u32>(), "[a-z][a-z0-9]{0,11}", select(vec![11usize, 15, 17]), vec(any::<u64>(), 17)), 0..8)) {
        let mut text = String::new();
        for (major, minor, name, n, v) in &disks {
            let nums: Vec<String> = v[..*n].iter().map(u64::to_string).collect();
            text += &format!("{major:4} {minor:7} {name} {}\n", nums.join(" "));
        }
        let mut got = Vec::new();
        DiskStat::parse_all(&text, &mut got);
        prop_assert_eq!(got.len(), disks.len());
        for (d, (major, minor, name, n, v)) in got.iter().zip(&disks) {
            prop_assert_eq!((d.major, d.minor, &d.name), (*major, *minor, name));
            let all = [
                Some(d.reads_completed), Some(d.reads_merged), Some(d.sectors_read), Some(d.read_time_ms),
                Some(d.writes_completed), Some(d.writes_merged), Some(d.sectors_written), Some(d.write_time_ms),
                Some(d.io_in_progress), Some(d.io_time_ms), Some(d.weighted_io_time_ms), d.discards_completed,
                d.discards_merged, d.sectors_discarded, d.discard_time_ms, d.flushes_completed, d.flush_time_ms,
            ];
            let want: Vec<Option<u64>> = (0..17).map(|i| (i < *n).then_some(v[i])).collect();
            prop_assert_eq!(all.to_vec(), want);
        }
    }

    #[test]
    fn loadavg_uptime_round_trip(
        l in vec(two_decimals(), 3),
        running in any::<u64>(),
        tasks in any::<u64>(),
        up in two_decimals(),
        idle in two_decimals(),
    ) {
        let got = LoadAvg::parse(&format!("{} {} {} {running}/{tasks} 12345\n", l[0].0, l[1].0, l[2].0)).unwrap();
        prop_assert_eq!((got.load_1m, got.load_5m, got.load_15m), (l[0].1, l[1].1, l[2].1));
        prop_assert_eq!((got.runnable, got.tasks), (Some(running), Some(tasks)));
        prop_assert_eq!(uptime::parse(&format!("{} {}\n", up.0, idle.0)), Some(up.1));
    }

    #[test]
    fn meminfo_round_trip(values in vec(proptest::option::of(0u64..1 << 50), 10), other in any::<u64>()) {
        const KEYS: [&str; 10] = [
            "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SReclaimable", "Shmem", "Dirty",
            "SwapTotal", "SwapFree",
        ];
        let mut text = format!("SwapCached:     {other} kB\nHugePages_Total: {other}\n");
        for (k, v) in KEYS.iter().zip(&values) {
            if let Some(v) = v {
                text += &format!("{:<16}{v:>8} kB\n", format!("{k}:"));
            }
        }
        let m = MemInfo::parse(&text);
        let got = [m.total, m.free, m.available, m.buffers, m.cached, m.s_reclaimable, m.shmem, m.dirty, m.swap_total, m.swap_free];
        let want: Vec<Option<u64>> = values.iter().map(|v| v.map(|v| v * 1024)).collect();
        prop_assert_eq!(got.to_vec(), want);
    }

    #[test]
    fn mountinfo_round_trip(mounts in vec((
        any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>(),
        vec(vec(1u8..=255, 1..20), 4),
        "[a-z]{2,8}(,[a-z]{2,8}){0,3}",
        vec("(shared|master|propagate_from):[0-9]{1,3}|unbindable", 0..3),
    ), 0..6)) {
        // The kernel escapes space, tab, newline and backslash in paths as octal.
        fn escape(b: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            for &c in b {
                match c {
                    b' ' | b'\t' | b'\n' | b'\\' => out.extend_from_slice(format!("\\{c:03o}").as_bytes()),
                    c => out.push(c),
                }
            }
            out
        }
        let mut bytes = Vec::new();
        for (id, parent, major, minor, paths, opts, optional) in &mounts {
            bytes.extend_from_slice(format!("{id} {parent} {major}:{minor} ").as_bytes());
            bytes.extend(escape(&paths[0]));
            bytes.push(b' ');
            bytes.extend(escape(&paths[1]));
            bytes.extend_from_slice(format!(" {opts}").as_bytes());
            for o in optional {
                bytes.extend_from_slice(format!(" {o}").as_bytes());
            }
            bytes.extend_from_slice(b" - ");
            bytes.extend(escape(&paths[2]));
            bytes.push(b' ');
            bytes.extend(escape(&paths[3]));
            bytes.extend_from_slice(b" rw,seclabel\n");
        }
        // As the readers give it: decoded lossily.
        let got = Mount::parse_all(&String::from_utf8_lossy(&bytes));
        prop_assert_eq!(got.len(), mounts.len());
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        for (m, (id, parent, major, minor, paths, opts, _)) in got.iter().zip(&mounts) {
            prop_assert_eq!((m.id, m.parent, m.major, m.minor), (*id, *parent, *major, *minor));
            prop_assert_eq!(&m.root, &lossy(&paths[0]));
            prop_assert_eq!(&m.mount_point, &lossy(&paths[1]));
            prop_assert_eq!(&m.mount_options, opts);
            prop_assert_eq!(&m.fs_type, &lossy(&paths[2]));
            prop_assert_eq!(&m.source, &lossy(&paths[3]));
            prop_assert_eq!(m.super_options.as_str(), "rw,seclabel");
        }
    }

    #[test]
    fn netdev_round_trip(ifaces in vec(("[A-Za-z0-9._-]{1,15}", vec(any::<u64>(), 16)), 0..8)) {
        let mut text = String::from(
            "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
        );
        for (name, v) in &ifaces {
            let nums: Vec<String> = v.iter().map(|n| format!("{n:>7}")).collect();
            text += &format!("{name:>6}: {}\n", nums.join(" "));
        }
        let mut got = Vec::new();
        NetDev::parse_all(&text, &mut got);
        prop_assert_eq!(got.len(), ifaces.len());
        for (d, (name, v)) in got.iter().zip(&ifaces) {
            prop_assert_eq!(&d.name, name);
            let all = [
                d.rx_bytes, d.rx_packets, d.rx_errors, d.rx_dropped, d.rx_fifo, d.rx_frame, d.rx_compressed,
                d.rx_multicast, d.tx_bytes, d.tx_packets, d.tx_errors, d.tx_dropped, d.tx_fifo, d.tx_collisions,
                d.tx_carrier, d.tx_compressed,
            ];
            prop_assert_eq!(all.to_vec(), v.clone());
        }
    }

    #[test]
    fn pressure_round_trip(lines in vec((any::<bool>(), vec(two_decimals(), 3), any::<u64>()), 0..3)) {
        let text: String = lines
            .iter()
            .map(|(full, a, t)| format!("{} avg10={} avg60={} avg300={} total={t}\n", if *full { "full" } else { "some" }, a[0].0, a[1].0, a[2].0))
            .collect();
        let got = pressure::parse(&text);
        prop_assert_eq!(got.len(), lines.len());
        for (p, (full, a, t)) in got.iter().zip(&lines) {
            prop_assert_eq!((p.full, p.avg10_pct, p.avg60_pct, p.avg300_pct, p.total_us), (*full, a[0].1, a[1].1, a[2].1, *t));
        }
    }

    #[test]
    fn snmp_round_trip(tcp in vec(any::<u64>(), 10), udp in vec(any::<u64>(), 6), noise in any::<u64>()) {
        let text = format!(
            "Ip: Forwarding DefaultTTL InReceives\nIp: 1 64 {noise}\n\
             Icmp: InMsgs InErrors\nIcmp: {noise} 0\n\
             Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n\
             Tcp: 1 200 120000 -1 {} {} {} {} {} {} {} {} {} {} 0\n\
             Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
             Udp: {} {} {} {} {} {} 0 {noise} 0\n\
             UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
             UdpLite: {noise} {noise} 0 0 0 0 0 0 0\n",
            tcp[0], tcp[1], tcp[2], tcp[3], tcp[4], tcp[5], tcp[6], tcp[7], tcp[8], tcp[9],
            udp[0], udp[1], udp[2], udp[3], udp[4], udp[5],
        );
        let s = Snmp::parse(&text);
        let got_tcp = [
            s.tcp_active_opens, s.tcp_passive_opens, s.tcp_attempt_fails, s.tcp_estab_resets, s.tcp_curr_estab,
            s.tcp_in_segs, s.tcp_out_segs, s.tcp_retrans_segs, s.tcp_in_errs, s.tcp_out_rsts,
        ];
        let got_udp = [
            s.udp_in_datagrams, s.udp_no_ports, s.udp_in_errors, s.udp_out_datagrams, s.udp_rcvbuf_errors,
            s.udp_sndbuf_errors,
        ];
        prop_assert_eq!(got_tcp.to_vec(), tcp.iter().copied().map(Some).collect::<Vec<_>>());
        prop_assert_eq!(got_udp.to_vec(), udp.iter().copied().map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn stat_file_round_trip(
        total in vec(any::<u64>(), 4..=10),
        cpus in vec(vec(any::<u64>(), 4..=10), 0..8),
        other in vec(any::<u64>(), 6),
    ) {
        let line = |name: &str, v: &[u64]| format!("{name} {}\n", v.iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
        let mut text = line("cpu ", &total);
        for (i, c) in cpus.iter().enumerate() {
            text += &line(&format!("cpu{i}"), c);
        }
        text += &format!(
            "intr {} 0 9 0 0\nctxt {}\nbtime {}\nprocesses {}\nprocs_running {}\nprocs_blocked {}\nsoftirq 1 2 3\n",
            other[0], other[1], other[2], other[3], other[4], other[5]
        );
        let s = Stat::parse(&text);
        let times = |t: &super::stat::CpuTimes| {
            let v = [Some(t.user), Some(t.nice), Some(t.system), Some(t.idle), t.iowait, t.irq, t.softirq, t.steal, t.guest, t.guest_nice];
            v.to_vec()
        };
        let want = |v: &[u64]| (0..10).map(|i| v.get(i).copied()).collect::<Vec<_>>();
        prop_assert_eq!(times(&s.total.unwrap()), want(&total));
        // Every mode but guest and guest_nice, saturating.
        let sum: u128 = total.iter().take(8).map(|&v| v as u128).sum();
        prop_assert_eq!(s.total.unwrap().total(), sum.min(u64::MAX as u128) as u64);
        prop_assert_eq!(s.cpus.len(), cpus.len());
        for (i, (c, v)) in s.cpus.iter().zip(&cpus).enumerate() {
            prop_assert_eq!(c.cpu, i as u32);
            prop_assert_eq!(times(&c.times), want(v));
        }
        prop_assert_eq!(
            [s.interrupts, s.context_switches, s.boot_time, s.forks, s.procs_running, s.procs_blocked].to_vec(),
            other.iter().copied().map(Some).collect::<Vec<_>>()
        );
    }

    #[test]
    fn unescape_round_trip(raw in vec(any::<char>(), 0..64)) {
        let raw: String = raw.into_iter().collect();
        let escaped: String = raw
            .chars()
            .map(|c| match c {
                ' ' | '\t' | '\n' | '\\' => format!("\\{:03o}", c as u32),
                c => c.to_string(),
            })
            .collect();
        prop_assert_eq!(unescape(&escaped), raw);
    }
}
