//! `/proc/meminfo`: memory and swap, in bytes.

use super::parse_u64;

/// The fields sysmon reports, converted from the kernel's kB to bytes. A key the kernel did
/// not write is `None` (`MemAvailable` appeared in 3.14, `Shmem` in 2.6.32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub total: Option<u64>,
    pub free: Option<u64>,
    pub available: Option<u64>,
    pub buffers: Option<u64>,
    pub cached: Option<u64>,
    pub s_reclaimable: Option<u64>,
    pub shmem: Option<u64>,
    pub dirty: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_free: Option<u64>,
}

impl MemInfo {
    pub fn parse(text: &str) -> MemInfo {
        let mut m = MemInfo::default();
        for line in text.lines() {
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            let slot = match key {
                "MemTotal" => &mut m.total,
                "MemFree" => &mut m.free,
                "MemAvailable" => &mut m.available,
                "Buffers" => &mut m.buffers,
                "Cached" => &mut m.cached,
                "SReclaimable" => &mut m.s_reclaimable,
                "Shmem" => &mut m.shmem,
                "Dirty" => &mut m.dirty,
                "SwapTotal" => &mut m.swap_total,
                "SwapFree" => &mut m.swap_free,
                _ => continue,
            };
            let mut fields = rest.split_ascii_whitespace();
            let Some(n) = fields.next().and_then(parse_u64) else {
                continue;
            };
            *slot = match fields.next() {
                Some("kB") => n.checked_mul(1024),
                None => Some(n),
                Some(_) => None,
            };
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kb_into_bytes() {
        let m = MemInfo::parse(
            "MemTotal:       24576000 kB\nMemFree:        1000 kB\nMemAvailable:   2000 kB\n\
             Buffers:            10 kB\nCached:             20 kB\nSReclaimable:  5 kB\nShmem: 7 kB\n\
             Dirty: 3 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\nHugePages_Total: 0\n",
        );
        assert_eq!(m.total, Some(24576000 * 1024));
        assert_eq!(m.available, Some(2000 * 1024));
        assert_eq!(m.s_reclaimable, Some(5 * 1024));
        assert_eq!(m.swap_total, Some(0));
    }

    #[test]
    fn old_kernel_and_garbage() {
        let m = MemInfo::parse("MemTotal: 100 kB\nMemFree: x kB\nCached 5 kB\nDirty: 9 MB\n");
        assert_eq!(m.total, Some(102400));
        assert_eq!(m.free, None);
        assert_eq!(m.available, None, "3.13 and older have no MemAvailable");
        assert_eq!(m.cached, None);
        assert_eq!(m.dirty, None);
    }
}
