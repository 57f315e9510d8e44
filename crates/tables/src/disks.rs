//! `system_disks()`: one row per block device of `/proc/diskstats`, with rates over a window.

use std::io;

use super::{HostPath, HostWindow, Table};
use sysmon_live::LiveState;

use super::{ms_to_seconds, rate};
use crate::schema::Timestamp;
use sysmon_kernel::procfs::diskstats::{DiskStat, SECTOR_BYTES};
pub use sysmon_kernel::readers::disk_class::{DiskClass, DiskClasses, classify};
use sysmon_kernel::sample::HostSample;

crate::declare_table! {
    /// One row per block device the kernel lists in /proc/diskstats (whole disks and
    /// partitions). Cumulative columns count since boot (or since the device appeared);
    /// `_per_sec`, `_iops`, `util_pct` and `await_ms` cover the window that ends at `ts` and
    /// lasts `window_seconds`, and are NULL for a device absent from the window's first sample.
    pub struct DisksRow => "system_disks", recorded as "disks" every interval {
        /// When the sample was taken.
        ts: Timestamp [""],
        /// Host name at the sample time.
        hostname: String [""],
        /// Kernel device name, e.g. `sda`, `nvme0n1p1`, `dm-0`.
        device: String [""],
        /// Device major number.
        major: u32 [""],
        /// Device minor number.
        minor: u32 [""],
        /// Whether the device is a partition (sysfs `partition` attribute); NULL where sysfs does not list it.
        is_partition: Option<bool> [""],
        /// Whether the kernel files the device under /sys/devices/virtual (loop, ram, zram, dm, md); NULL where sysfs does not list it.
        is_virtual: Option<bool> [""],
        /// Bytes read since boot (sectors × 512).
        read_bytes: u64 ["bytes"],
        /// Bytes written since boot (sectors × 512).
        written_bytes: u64 ["bytes"],
        /// Reads completed since boot.
        reads_completed: u64 [""],
        /// Writes completed since boot.
        writes_completed: u64 [""],
        /// Adjacent reads merged by the I/O scheduler.
        reads_merged: u64 [""],
        /// Adjacent writes merged by the I/O scheduler.
        writes_merged: u64 [""],
        /// Time spent on reads (summed over requests).
        read_time_seconds: f64 ["seconds"],
        /// Time spent on writes (summed over requests).
        write_time_seconds: f64 ["seconds"],
        /// I/O requests in flight now.
        io_in_progress: u64 [""],
        /// Time the device had I/O in flight.
        io_time_seconds: f64 ["seconds"],
        /// Time in flight weighted by the number of requests (the basis of avgqu-sz).
        weighted_io_time_seconds: f64 ["seconds"],
        /// Discards completed (Linux 4.18+; NULL before).
        discards_completed: Option<u64> [""],
        /// Discards merged (Linux 4.18+).
        discards_merged: Option<u64> [""],
        /// Bytes discarded (Linux 4.18+).
        discarded_bytes: Option<u64> ["bytes"],
        /// Time spent on discards (Linux 4.18+).
        discard_time_seconds: Option<f64> ["seconds"],
        /// Flush requests completed (Linux 5.5+; NULL before).
        flushes_completed: Option<u64> [""],
        /// Time spent on flushes (Linux 5.5+).
        flush_time_seconds: Option<f64> ["seconds"],
        /// Bytes read per second over the window.
        read_bytes_per_sec: Option<f64> ["bytes/s"],
        /// Bytes written per second over the window.
        write_bytes_per_sec: Option<f64> ["bytes/s"],
        /// Reads completed per second over the window.
        read_iops: Option<f64> ["1/s"],
        /// Writes completed per second over the window.
        write_iops: Option<f64> ["1/s"],
        /// Share of the window the device had I/O in flight (iostat's %util), at most 100.
        util_pct: Option<f64> ["percent"],
        /// Mean time per read or write completed in the window (iostat's await); NULL without I/O.
        await_ms: Option<f64> ["milliseconds"],
        /// Length of the window the rates cover (monotonic clock, to 2⁻²⁰ s ≈ 1 µs).
        window_seconds: f64 ["seconds"],
    }
}

/// The rows for the window from `base` to `now`; `class` gives each device's sysfs class.
/// With `include_virtual` false, devices sysfs files as virtual are left out.
pub fn rows(
    base: &HostSample,
    now: &HostSample,
    mut class: impl FnMut(&str) -> DiskClass,
    include_virtual: bool,
) -> Vec<DisksRow> {
    let window_seconds = super::window_seconds(base, now);
    let mut out = Vec::with_capacity(now.disks.len());
    for d in &now.disks {
        let c = class(&d.name);
        if !include_virtual && c.is_virtual == Some(true) {
            continue;
        }
        let before = base
            .disks
            .iter()
            .find(|b| b.major == d.major && b.minor == d.minor && b.name == d.name);
        out.push(row(now, d, before, c, window_seconds));
    }
    out
}

fn row(now: &HostSample, d: &DiskStat, b: Option<&DiskStat>, c: DiskClass, window_seconds: f64) -> DisksRow {
    let r = |f: fn(&DiskStat) -> u64| b.and_then(|b| rate(f(b), f(d), window_seconds));
    let (util_pct, await_ms) = match b {
        Some(b) if window_seconds > 0.0 && d.io_time_ms >= b.io_time_ms => {
            let busy_ms = (d.io_time_ms - b.io_time_ms) as f64;
            let util = (100.0 * busy_ms / (window_seconds * 1000.0)).min(100.0);
            let ios = (d.reads_completed + d.writes_completed)
                .checked_sub(b.reads_completed + b.writes_completed)
                .filter(|&n| n > 0);
            let time = (d.read_time_ms + d.write_time_ms).checked_sub(b.read_time_ms + b.write_time_ms);
            let await_ms = ios.zip(time).map(|(n, t)| t as f64 / n as f64);
            (Some(util), await_ms)
        }
        _ => (None, None),
    };
    DisksRow {
        ts: now.ts,
        hostname: now.hostname.clone(),
        device: d.name.clone(),
        major: d.major,
        minor: d.minor,
        is_partition: c.is_partition,
        is_virtual: c.is_virtual,
        read_bytes: d.read_bytes(),
        written_bytes: d.written_bytes(),
        reads_completed: d.reads_completed,
        writes_completed: d.writes_completed,
        reads_merged: d.reads_merged,
        writes_merged: d.writes_merged,
        read_time_seconds: ms_to_seconds(d.read_time_ms),
        write_time_seconds: ms_to_seconds(d.write_time_ms),
        io_in_progress: d.io_in_progress,
        io_time_seconds: ms_to_seconds(d.io_time_ms),
        weighted_io_time_seconds: ms_to_seconds(d.weighted_io_time_ms),
        discards_completed: d.discards_completed,
        discards_merged: d.discards_merged,
        discarded_bytes: d.sectors_discarded.map(|s| s.saturating_mul(SECTOR_BYTES)),
        discard_time_seconds: d.discard_time_ms.map(ms_to_seconds),
        flushes_completed: d.flushes_completed,
        flush_time_seconds: d.flush_time_ms.map(ms_to_seconds),
        read_bytes_per_sec: r(DiskStat::read_bytes),
        write_bytes_per_sec: r(DiskStat::written_bytes),
        read_iops: r(|d| d.reads_completed),
        write_iops: r(|d| d.writes_completed),
        util_pct,
        await_ms,
        window_seconds,
    }
}

/// `system_disks()`: classes from the state's [`DiskClasses`].
pub struct Disks;

crate::declare_options! {
    /// The options of `system_disks()`.
    pub struct DisksOptions {
        /// Keep the devices sysfs files as virtual (loop, ram, zram, dm, md, nbd).
        include_virtual = true,
    }
}

impl Table for Disks {
    type Row = DisksRow;
    type Options = DisksOptions;
    type Input = HostWindow;
    const SUMMARY: &'static str =
        "One row per block device of /proc/diskstats: I/O counters, rates, utilisation and latency.";
    const EXAMPLE: &'static str = "SELECT device, read_bytes_per_sec, write_bytes_per_sec, util_pct FROM system_disks(\"window\" := INTERVAL '1 second', include_virtual := false)";
    const FILES: &'static [&'static str] = &["/sys/class/block"];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Proc, HostPath::Sys];

    fn rows(w: &HostWindow, state: &LiveState, o: &DisksOptions) -> io::Result<Vec<DisksRow>> {
        let mut classes = state.disk_classes();
        let roots = state.roots();
        Ok(rows(&w.base, &w.now, |n| classes.get(roots, n), o.include_virtual))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use sysmon_kernel::procfs::Roots;
    use sysmon_kernel::sample::Collector;

    #[test]
    fn rows_rates_and_virtual_filter() {
        let roots = Roots::test_fixture("modern");
        let mut c = Collector::new(roots.clone());
        let base = c.sample().unwrap();
        let mut now = base.clone();
        now.instant += Duration::from_secs(2);
        let vda = now.disks.iter_mut().find(|d| d.name == "vda").unwrap();
        vda.sectors_read += 4096; // 2 MiB
        vda.reads_completed += 100;
        vda.writes_completed += 100;
        vda.read_time_ms += 300;
        vda.write_time_ms += 100;
        vda.io_time_ms += 500;
        let mut classes = DiskClasses::default();
        let all = rows(&base, &now, |n| classes.get(&roots, n), true);
        let names: Vec<_> = all.iter().map(|r| r.device.as_str()).collect();
        assert_eq!(names, ["loop0", "vda", "vda1", "my disk", "диск0", "ram0"]);
        let r = &all[1];
        assert_eq!(r.window_seconds, 2.0);
        assert_eq!(r.read_bytes_per_sec, Some(1024.0 * 1024.0));
        assert_eq!(r.write_bytes_per_sec, Some(0.0));
        assert_eq!(r.read_iops, Some(50.0));
        assert_eq!(r.util_pct, Some(25.0));
        assert_eq!(r.await_ms, Some(2.0));
        assert_eq!(r.flushes_completed, Some(107424));
        assert_eq!(r.flush_time_seconds, Some(40.099));
        assert_eq!(r.read_time_seconds, 15.362);
        assert_eq!(all[2].is_partition, Some(true));
        assert_eq!(all[2].await_ms, None, "no I/O in the window: no await");
        assert_eq!(all[2].util_pct, Some(0.0));
        // The pre-4.18 line (11 fields) has no discard or flush columns.
        assert_eq!(all[3].discards_completed, None);
        assert_eq!(all[3].is_virtual, None);
        let physical = rows(&base, &now, |n| classes.get(&roots, n), false);
        let names: Vec<_> = physical.iter().map(|r| r.device.as_str()).collect();
        assert_eq!(names, ["vda", "vda1", "my disk", "диск0"], "unknown class is kept");
    }

    #[test]
    fn device_new_in_window_or_counter_reset_has_null_rates() {
        let mut c = Collector::new(Roots::test_fixture("modern"));
        let mut base = c.sample().unwrap();
        let mut now = base.clone();
        now.instant += Duration::from_secs(1);
        base.disks.retain(|d| d.name != "vda");
        now.disks.iter_mut().find(|d| d.name == "loop0").unwrap().sectors_read = 0;
        let r = rows(&base, &now, |_| DiskClass::default(), true);
        let vda = r.iter().find(|r| r.device == "vda").unwrap();
        assert_eq!(vda.read_bytes_per_sec, None);
        assert_eq!(vda.util_pct, None);
        let loop0 = r.iter().find(|r| r.device == "loop0").unwrap();
        assert_eq!(
            loop0.read_bytes_per_sec, None,
            "a counter that went backwards has no rate"
        );
        assert_eq!(loop0.read_iops, Some(0.0));
        // A zero-length window has no rates at all.
        let r = rows(&now, &now, |_| DiskClass::default(), true);
        assert!(r.iter().all(|r| r.read_bytes_per_sec.is_none() && r.util_pct.is_none()));
    }
}
