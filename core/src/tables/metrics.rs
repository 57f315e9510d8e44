//! `system_metrics()`: the host right now, one row.

use super::{CpuPct, CpuSeconds};
use crate::sample::HostSample;
use crate::schema::Timestamp;

crate::declare_table! {
    /// One row: the whole host at the sample time. Cumulative columns count since boot;
    /// `_pct` columns cover the window that ends at `ts` and lasts `window_seconds`.
    pub struct MetricsRow => "metrics", "system_metrics" {
        /// When the sample was taken.
        ts: Timestamp [""],
        /// Host name at the sample time.
        hostname: String [""],
        /// Time since boot.
        uptime_seconds: Option<f64> ["seconds"],
        /// CPU time in user mode (including guest) since boot, summed over CPUs.
        cpu_user_seconds: Option<f64> ["seconds"],
        /// CPU time in user mode at low priority (nice > 0, including guest_nice).
        cpu_nice_seconds: Option<f64> ["seconds"],
        /// CPU time in kernel mode.
        cpu_system_seconds: Option<f64> ["seconds"],
        /// CPU time idle.
        cpu_idle_seconds: Option<f64> ["seconds"],
        /// CPU time idle while I/O was outstanding.
        cpu_iowait_seconds: Option<f64> ["seconds"],
        /// CPU time servicing hardware interrupts.
        cpu_irq_seconds: Option<f64> ["seconds"],
        /// CPU time servicing software interrupts.
        cpu_softirq_seconds: Option<f64> ["seconds"],
        /// Time stolen by the hypervisor for other guests.
        cpu_steal_seconds: Option<f64> ["seconds"],
        /// CPU time running guests (already inside cpu_user_seconds).
        cpu_guest_seconds: Option<f64> ["seconds"],
        /// CPU time running niced guests (already inside cpu_nice_seconds).
        cpu_guest_nice_seconds: Option<f64> ["seconds"],
        /// Share of the window the CPUs were busy: 100 − idle − iowait.
        cpu_busy_pct: Option<f64> ["percent"],
        /// Share of the window in user mode (nice excluded).
        cpu_user_pct: Option<f64> ["percent"],
        /// Share of the window in niced user mode.
        cpu_nice_pct: Option<f64> ["percent"],
        /// Share of the window in kernel mode.
        cpu_system_pct: Option<f64> ["percent"],
        /// Share of the window idle.
        cpu_idle_pct: Option<f64> ["percent"],
        /// Share of the window idle with I/O outstanding.
        cpu_iowait_pct: Option<f64> ["percent"],
        /// Share of the window in hardware interrupts.
        cpu_irq_pct: Option<f64> ["percent"],
        /// Share of the window in software interrupts.
        cpu_softirq_pct: Option<f64> ["percent"],
        /// Share of the window stolen by the hypervisor.
        cpu_steal_pct: Option<f64> ["percent"],
        /// Length of the window the `_pct` columns cover.
        window_seconds: f64 ["seconds"],
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
    let t = now.stat.total.as_ref();
    let secs = CpuSeconds::from_ticks(t);
    let pct = CpuPct::between(base.stat.total.as_ref(), t);
    let m = &now.mem;
    MetricsRow {
        ts: now.ts,
        hostname: now.hostname.clone(),
        uptime_seconds: now.uptime_seconds,
        cpu_user_seconds: secs.user,
        cpu_nice_seconds: secs.nice,
        cpu_system_seconds: secs.system,
        cpu_idle_seconds: secs.idle,
        cpu_iowait_seconds: secs.iowait,
        cpu_irq_seconds: secs.irq,
        cpu_softirq_seconds: secs.softirq,
        cpu_steal_seconds: secs.steal,
        cpu_guest_seconds: secs.guest,
        cpu_guest_nice_seconds: secs.guest_nice,
        cpu_busy_pct: pct.busy,
        cpu_user_pct: pct.user,
        cpu_nice_pct: pct.nice,
        cpu_system_pct: pct.system,
        cpu_idle_pct: pct.idle,
        cpu_iowait_pct: pct.iowait,
        cpu_irq_pct: pct.irq,
        cpu_softirq_pct: pct.softirq,
        cpu_steal_pct: pct.steal,
        window_seconds: now.instant.saturating_duration_since(base.instant).as_secs_f64(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::Roots;
    use crate::sample::Collector;
    use std::time::Duration;

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
        assert_eq!(r.cpu_busy_pct, Some(30.0));
        assert_eq!(r.cpu_user_pct, Some(25.0));
        assert_eq!(r.cpu_iowait_pct, Some(5.0));
        assert_eq!(r.window_seconds, 1.0);
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
        assert_eq!(r.cpu_steal_seconds, None);
        assert_eq!(r.cpu_guest_seconds, None);
        assert_eq!(r.cpu_busy_pct, None, "a window with no tick has no percentage");
        assert_eq!(r.mem_available_bytes, None);
        assert_eq!(r.mem_used_bytes, None);
        assert_eq!(r.disk_read_bytes, None);
        assert_eq!(r.net_rx_bytes, None);
        assert_eq!(r.uptime_seconds, None);
    }
}
