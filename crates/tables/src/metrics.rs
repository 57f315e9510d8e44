//! `system_metrics()`: the host right now, one row.

use std::io;

use super::{CpuColumns, window_seconds};
use super::{HostPath, HostWindow, Table};
use crate::schema::Timestamp;
use sysmon_kernel::sample::HostSample;
use sysmon_live::LiveState;

crate::declare_table! {
    /// One row: the whole host at the sample time. Cumulative columns count since boot (CPU
    /// times summed over all CPUs); `_pct` columns cover the window that ends at `ts` and lasts
    /// `window_seconds`.
    pub struct MetricsRow => "system_metrics", recorded as "metrics" every interval {
        /// When the sample was taken.
        ts: Timestamp [""],
        /// Host name at the sample time.
        hostname: String [""],
        /// Time since boot.
        uptime_seconds: Option<f64> ["seconds"],
        /// CPU times summed over all CPUs, and their shares of the window.
        cpu: CpuColumns [..],
        /// Load average over 1 minute.
        load_1m: Option<f64> [""],
        /// Load average over 5 minutes.
        load_5m: Option<f64> [""],
        /// Load average over 15 minutes.
        load_15m: Option<f64> [""],
        /// Physical memory usable by the kernel (`MemTotal`).
        mem_total_bytes: Option<u64> ["bytes"],
        /// Memory not used at all (`MemFree`).
        mem_free_bytes: Option<u64> ["bytes"],
        /// Memory available for new work without swapping (`MemAvailable`, Linux 3.14+).
        mem_available_bytes: Option<u64> ["bytes"],
        /// total − available, as `free` reports it; NULL without MemAvailable.
        mem_used_bytes: Option<u64> ["bytes"],
        /// Block-device buffers (`Buffers`).
        mem_buffers_bytes: Option<u64> ["bytes"],
        /// Page cache and reclaimable slab (`Cached` + `SReclaimable`, as `free`'s cache).
        mem_cached_bytes: Option<u64> ["bytes"],
        /// Shared memory and tmpfs (`Shmem`).
        mem_shared_bytes: Option<u64> ["bytes"],
        /// Memory waiting to be written back (`Dirty`).
        mem_dirty_bytes: Option<u64> ["bytes"],
        /// Swap space in total.
        swap_total_bytes: Option<u64> ["bytes"],
        /// Swap space unused.
        swap_free_bytes: Option<u64> ["bytes"],
        /// Swap space used: total − free.
        swap_used_bytes: Option<u64> ["bytes"],
        /// Tasks (processes and threads) that exist, from /proc/loadavg (as sar's plist-sz).
        procs_total: Option<u64> [""],
        /// Tasks runnable now (`procs_running`).
        procs_running: Option<u64> [""],
        /// Tasks blocked on I/O now (`procs_blocked`).
        procs_blocked: Option<u64> [""],
        /// Context switches since boot.
        context_switches: Option<u64> [""],
        /// Interrupts serviced since boot.
        interrupts: Option<u64> [""],
        /// Processes and threads created since boot.
        forks: Option<u64> [""],
        /// Bytes read from whole physical disks since boot (no partitions, loop, ram, md or dm devices).
        disk_read_bytes: Option<u64> ["bytes"],
        /// Bytes written to whole physical disks since boot.
        disk_written_bytes: Option<u64> ["bytes"],
        /// Bytes received by device-backed interfaces since boot (no loopback, bridges, veth).
        net_rx_bytes: Option<u64> ["bytes"],
        /// Bytes sent by device-backed interfaces since boot.
        net_tx_bytes: Option<u64> ["bytes"],
    }
}

/// The row for the window from `base` to `now`.
pub fn row(base: &HostSample, now: &HostSample) -> MetricsRow {
    let m = &now.mem;
    MetricsRow {
        ts: now.ts,
        hostname: now.hostname.clone(),
        uptime_seconds: now.uptime_seconds,
        cpu: CpuColumns::between(
            base.stat.total.as_ref(),
            now.stat.total.as_ref(),
            window_seconds(base, now),
        ),
        load_1m: now.load.map(|l| l.load_1m),
        load_5m: now.load.map(|l| l.load_5m),
        load_15m: now.load.map(|l| l.load_15m),
        mem_total_bytes: m.total,
        mem_free_bytes: m.free,
        mem_available_bytes: m.available,
        mem_used_bytes: m.total.zip(m.available).map(|(t, a)| t.saturating_sub(a)),
        mem_buffers_bytes: m.buffers,
        mem_cached_bytes: m.cached.map(|c| c + m.s_reclaimable.unwrap_or(0)),
        mem_shared_bytes: m.shmem,
        mem_dirty_bytes: m.dirty,
        swap_total_bytes: m.swap_total,
        swap_free_bytes: m.swap_free,
        swap_used_bytes: m.swap_total.zip(m.swap_free).map(|(t, f)| t.saturating_sub(f)),
        procs_total: now.load.and_then(|l| l.tasks),
        procs_running: now.stat.procs_running,
        procs_blocked: now.stat.procs_blocked,
        context_switches: now.stat.context_switches,
        interrupts: now.stat.interrupts,
        forks: now.stat.forks,
        disk_read_bytes: now.disk_read_bytes(),
        disk_written_bytes: now.disk_written_bytes(),
        net_rx_bytes: now.net_rx_bytes(),
        net_tx_bytes: now.net_tx_bytes(),
    }
}

/// `system_metrics()`.
pub struct Metrics;

impl Table for Metrics {
    type Row = MetricsRow;
    type Options = ();
    type Input = HostWindow;
    const SUMMARY: &'static str =
        "One row: the whole host now (CPU times and shares, load, memory, swap, tasks, disk and network totals).";
    const EXAMPLE: &'static str = "SELECT cpu_busy_pct, load_1m, mem_used_bytes, window_seconds FROM system_metrics()";
    const FILES: &'static [&'static str] = &[];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Proc, HostPath::Sys];

    fn rows(w: &HostWindow, _: &LiveState, _: &()) -> io::Result<Vec<MetricsRow>> {
        Ok(vec![row(&w.base, &w.now)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use sysmon_kernel::procfs::Roots;
    use sysmon_kernel::sample::Collector;

    #[test]
    fn fixture_window() {
        let mut c = Collector::new(Roots::test_fixture("modern"));
        let base = c.sample().unwrap();
        let mut now = base.clone();
        now.instant += Duration::from_millis(1000);
        // 200 ticks pass: 50 user, 10 system, 130 idle, 10 iowait.
        let t = now.stat.total.as_mut().unwrap();
        t.user += 50;
        t.system += 10;
        t.idle += 130;
        t.iowait = t.iowait.map(|v| v + 10);
        let r = row(&base, &now);
        assert_eq!(r.cpu.cpu_busy_pct, Some(30.0));
        assert_eq!(r.cpu.cpu_user_pct, Some(25.0));
        assert_eq!(r.cpu.cpu_iowait_pct, Some(5.0));
        assert_eq!(r.cpu.window_seconds, 1.0);
        assert_eq!(r.mem_used_bytes, Some((4_028_536 - 2_971_956) * 1024));
        assert_eq!(r.mem_cached_bytes, Some((1_111_744 + 88_888) * 1024));
        assert_eq!(r.swap_used_bytes, Some(1024 * 1024));
        assert_eq!(r.procs_total, Some(1034));
        assert_eq!(r.disk_read_bytes, Some(2882322 * 512));
    }

    #[test]
    fn old_kernel_gives_nulls() {
        let mut c = Collector::new(Roots::test_fixture("old-kernel"));
        let s = c.sample().unwrap();
        let r = row(&s, &s);
        assert_eq!(r.cpu.cpu_steal_seconds, None);
        assert_eq!(r.cpu.cpu_guest_seconds, None);
        assert_eq!(r.cpu.cpu_busy_pct, None, "a window with no tick has no percentage");
        assert_eq!(r.mem_available_bytes, None);
        assert_eq!(r.mem_used_bytes, None);
        assert_eq!(r.disk_read_bytes, None);
        assert_eq!(r.net_rx_bytes, None);
        assert_eq!(r.uptime_seconds, None);
    }
}
