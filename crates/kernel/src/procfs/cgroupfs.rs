//! cgroupfs files (v1 and v2): the value formats `system_cgroups()` reads.
//!
//! * flat keyed: `key value` per line (`cpu.stat`, `memory.stat`);
//! * single value or `max` (`memory.max`, `pids.max`);
//! * `cpu.max`: `$QUOTA $PERIOD` or `max $PERIOD`;
//! * nested keyed `io.stat`: `maj:min rbytes=.. wbytes=.. ...` per device;
//! * v1 `blkio.throttle.io_service_bytes`: `maj:min Read N` lines and a `Total N` line.

/// The value of `key` in a flat keyed file.
pub fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A limit: `Some(None)` for `max` (unlimited), `Some(Some(n))` for a number, `None` for garbage.
pub fn limit(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        t => t.parse().ok().map(Some),
    }
}

/// A plain unsigned number.
pub fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `cpu.max` as CPU cores (quota / period); `None` when unlimited or malformed.
pub fn cpu_max_cores(text: &str) -> Option<f64> {
    let mut f = text.split_ascii_whitespace();
    let quota: u64 = f.next()?.parse().ok()?;
    let period: u64 = f.next()?.parse().ok()?;
    (period > 0).then(|| quota as f64 / period as f64)
}

/// v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` as cores; `None` for the quota -1 (unlimited).
pub fn cfs_quota_cores(quota: &str, period: &str) -> Option<f64> {
    let quota: i64 = quota.trim().parse().ok()?;
    let period: u64 = period.trim().parse().ok()?;
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

/// Bytes read and written, summed over the devices of `io.stat`.
pub fn io_stat_bytes(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for line in text.lines() {
        for kv in line.split_ascii_whitespace().skip(1) {
            match kv.split_once('=') {
                Some(("rbytes", v)) => r = r.saturating_add(v.parse().unwrap_or(0)),
                Some(("wbytes", v)) => w = w.saturating_add(v.parse().unwrap_or(0)),
                _ => {}
            }
        }
    }
    (r, w)
}

/// Bytes read and written, summed over the devices of v1 `blkio.throttle.io_service_bytes`;
/// `None` if the file has neither device lines nor a `Total` line.
pub fn blkio_bytes(text: &str) -> Option<(u64, u64)> {
    let (mut r, mut w, mut seen) = (0u64, 0u64, false);
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        match f.as_slice() {
            [_, "Read", v] => r = r.saturating_add(v.parse().unwrap_or(0)),
            [_, "Write", v] => w = w.saturating_add(v.parse().unwrap_or(0)),
            ["Total", _] => {}
            _ => continue,
        }
        seen = true;
    }
    seen.then_some((r, w))
}

/// v1 memory limits at or above this are the kernel's "unlimited" (`PAGE_COUNTER_MAX` pages,
/// `LONG_MAX` rounded down to the page size: 9223372036854771712 with 4 KiB pages).
pub const V1_UNLIMITED_BYTES: u64 = 0x7FFF_FFFF_FFFF_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let stat = "usage_usec 347914015\nuser_usec 279631752\nnr_throttled 7\nthrottled_usec 1500000\nbad\nx y\n";
        assert_eq!(flat_keyed(stat, "usage_usec"), Some(347914015));
        assert_eq!(flat_keyed(stat, "nr_throttled"), Some(7));
        assert_eq!(flat_keyed(stat, "x"), None);
        assert_eq!(flat_keyed(stat, "missing"), None);
        assert_eq!(limit("max\n"), Some(None));
        assert_eq!(limit("1073741824\n"), Some(Some(1 << 30)));
        assert_eq!(limit("lots"), None);
        assert_eq!(cpu_max_cores("max 100000\n"), None);
        assert_eq!(cpu_max_cores("150000 100000\n"), Some(1.5));
        assert_eq!(cpu_max_cores("150000"), None);
        assert_eq!(cfs_quota_cores("-1\n", "100000\n"), None);
        assert_eq!(cfs_quota_cores("50000\n", "100000\n"), Some(0.5));
        assert_eq!(
            io_stat_bytes("8:0 rbytes=100 wbytes=200 rios=1 wios=2\n253:0 rbytes=1 wbytes=2 dbytes=9\ntrunc\n"),
            (101, 202)
        );
        assert_eq!(io_stat_bytes(""), (0, 0));
        let blk = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\n8:16 Read 1\nTotal 12289\n";
        assert_eq!(blkio_bytes(blk), Some((4097, 8192)));
        assert_eq!(blkio_bytes("Total 0\n"), Some((0, 0)));
        assert_eq!(blkio_bytes(""), None);
    }
}
