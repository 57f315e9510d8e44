//! The synthetic day of `metrics` at 1 Hz, shared by the recorder benchmark
//! (`core/benches/recorder.rs`) and the fleet simulation's generator (`examples/fleet_day.rs`).

use std::time::Duration;

use sysmon_kernel::procfs::Roots;
use sysmon_kernel::procfs::diskstats::DiskStat;
use sysmon_kernel::procfs::netdev::NetDev;
use sysmon_kernel::sample::{Collector, HostSample};
use sysmon_recorder::sampler::tick_ts;
use sysmon_tables::metrics::{self, MetricsRow};
use sysmon_tables::schema::Timestamp;

/// A deterministic pseudo-random generator (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The bench's seed (the storage figures in docs/recorder.md were measured with it).
pub const SEED: u64 = 0x5eed_1234_abcd_ef01;

/// A synthetic day at 1 Hz: a real sample of this host, evolved second by second with a
/// busy share that wanders between 2% and 90%, memory that drifts, counters that grow at
/// plausible rates, disk and network traffic in bursts, and ticks whose reads begin a few
/// hundred µs late, one in 25 by 2 to 22 ms (a real hour at 1 Hz: 96% within 2 ms, the
/// slowest 24 ms late); `ts` is what the recorder makes of that ([`tick_ts`]). The window
/// lengths are exactly one second. It starts at yesterday's UTC midnight.
pub fn synthetic_day(seconds: usize) -> Vec<MetricsRow> {
    let s = Collector::new(Roots::default()).sample().expect("sample");
    let t0 = (Timestamp::now().micros / 86_400_000_000 - 1) * 86_400_000_000;
    evolve(s, seconds, SEED, t0)
}

/// `seconds` rows at 1 Hz from the real sample `s`, starting at `t0_us` (µs since the epoch),
/// evolved with the generator seeded by `seed` (another seed: another host's day).
pub fn evolve(mut s: HostSample, seconds: usize, seed: u64, t0_us: i64) -> Vec<MetricsRow> {
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
    let mut rng = Rng(seed);
    // The late ticks draw from a stream of their own, so the rest of the day is the same
    // whatever they do.
    let mut late = Rng(seed ^ 0x1a7e_0000_0000_0001);
    let t0 = t0_us;
    let start = s.instant;
    let mut busy = 0.2f64;
    let mut prev = s.clone();
    let mut rows = Vec::with_capacity(seconds);
    for i in 0..seconds {
        let mut n = prev.clone();
        let due = t0 + i as i64 * 1_000_000;
        let mut jitter = rng.below(400) as i64;
        if late.below(25) == 0 {
            jitter = 2_001 + late.below(20_000) as i64;
        }
        n.ts = Timestamp::from_micros(tick_ts(due, due + jitter));
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
        // The kernel reports memory in KiB: the drift moves in whole KiB (it moved in bytes
        // until round three of issue 11, values no /proc/meminfo shows; docs/recorder.md).
        let drift = |v: Option<u64>, r: &mut Rng, step: u64| {
            v.map(|x| (x + (r.below(2 * step / 1024) << 10)).saturating_sub(step))
        };
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
