//! `/proc/diskstats`: I/O counters per block device.

use super::parse_u64;

/// Bytes per sector in `/proc/diskstats`: always 512, whatever the device's real sector size.
pub const SECTOR_BYTES: u64 = 512;

/// One device's line. Times are milliseconds as the kernel counts them. Discard counters exist
/// since Linux 4.18 and flush counters since 5.5: `None` on older kernels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskStat {
    pub major: u32,
    pub minor: u32,
    pub name: String,
    pub reads_completed: u64,
    pub reads_merged: u64,
    pub sectors_read: u64,
    pub read_time_ms: u64,
    pub writes_completed: u64,
    pub writes_merged: u64,
    pub sectors_written: u64,
    pub write_time_ms: u64,
    pub io_in_progress: u64,
    pub io_time_ms: u64,
    pub weighted_io_time_ms: u64,
    pub discards_completed: Option<u64>,
    pub discards_merged: Option<u64>,
    pub sectors_discarded: Option<u64>,
    pub discard_time_ms: Option<u64>,
    pub flushes_completed: Option<u64>,
    pub flush_time_ms: Option<u64>,
}

impl DiskStat {
    /// Parses one line; `None` if it is malformed or truncated.
    pub fn parse_line(line: &str) -> Option<DiskStat> {
        // Fixed-size token buffer: no allocation but the name.
        let mut tokens = [""; 40];
        let mut len = 0;
        for t in line.split_ascii_whitespace() {
            *tokens.get_mut(len)? = t;
            len += 1;
        }
        let tokens = &tokens[..len];
        if tokens.len() < 2 + 1 + 11 {
            return None;
        }
        let major = tokens[0].parse().ok()?;
        let minor = tokens[1].parse().ok()?;
        let rest = &tokens[2..];
        // The counters are the numeric tail; the name is what precedes them (a name with a
        // space in it is joined back together).
        let numeric_tail = rest.iter().rev().take_while(|t| parse_u64(t).is_some()).count();
        let count = [17usize, 15, 11]
            .into_iter()
            .find(|&k| k <= numeric_tail && k < rest.len())?;
        let name = rest[..rest.len() - count].join(" ");
        let mut n = [0u64; 17];
        for (slot, t) in n.iter_mut().zip(&rest[rest.len() - count..]) {
            *slot = parse_u64(t)?;
        }
        let opt = |i: usize| (i < count).then_some(n[i]);
        Some(DiskStat {
            major,
            minor,
            name,
            reads_completed: n[0],
            reads_merged: n[1],
            sectors_read: n[2],
            read_time_ms: n[3],
            writes_completed: n[4],
            writes_merged: n[5],
            sectors_written: n[6],
            write_time_ms: n[7],
            io_in_progress: n[8],
            io_time_ms: n[9],
            weighted_io_time_ms: n[10],
            discards_completed: opt(11),
            discards_merged: opt(12),
            sectors_discarded: opt(13),
            discard_time_ms: opt(14),
            flushes_completed: opt(15),
            flush_time_ms: opt(16),
        })
    }

    /// Parses the whole file into `out` (cleared first), skipping bad lines.
    pub fn parse_all(text: &str, out: &mut Vec<DiskStat>) {
        out.clear();
        out.extend(text.lines().filter_map(DiskStat::parse_line));
    }

    pub fn read_bytes(&self) -> u64 {
        self.sectors_read.saturating_mul(SECTOR_BYTES)
    }

    pub fn written_bytes(&self) -> u64 {
        self.sectors_written.saturating_mul(SECTOR_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_5_5_line() {
        let d = DiskStat::parse_line(
            " 253       0 vda 41245 1530 2882322 15062 1184424 727512 41052216 1373617 0 1226436 1428779 0 0 0 0 107424 40099",
        )
        .unwrap();
        assert_eq!((d.major, d.minor, d.name.as_str()), (253, 0, "vda"));
        assert_eq!(d.read_bytes(), 2882322 * 512);
        assert_eq!(d.flushes_completed, Some(107424));
        assert_eq!(d.flush_time_ms, Some(40099));
        assert_eq!(d.discards_completed, Some(0));
    }

    #[test]
    fn old_kernel_lacks_discards_and_flushes() {
        let d = DiskStat::parse_line("8 0 sda 1 2 3 4 5 6 7 8 9 10 11").unwrap();
        assert_eq!(d.weighted_io_time_ms, 11);
        assert_eq!(d.discards_completed, None);
        assert_eq!(d.flushes_completed, None);
        let d = DiskStat::parse_line("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15").unwrap();
        assert_eq!(d.discard_time_ms, Some(15));
        assert_eq!(d.flushes_completed, None);
    }

    #[test]
    fn odd_names_and_bad_lines() {
        let d = DiskStat::parse_line("7 1 my disk 1 2 3 4 5 6 7 8 9 10 11").unwrap();
        assert_eq!(d.name, "my disk");
        let d = DiskStat::parse_line("7 2 диск 1 2 3 4 5 6 7 8 9 10 11").unwrap();
        assert_eq!(d.name, "диск");
        assert_eq!(DiskStat::parse_line("8 0 sda 1 2 3"), None);
        assert_eq!(DiskStat::parse_line("x 0 sda 1 2 3 4 5 6 7 8 9 10 11"), None);
        assert_eq!(DiskStat::parse_line(""), None);
        let mut v = Vec::new();
        DiskStat::parse_all(
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\ngarbage\n8 1 sda1 1 2 3 4 5 6 7 8 9 10 11\n",
            &mut v,
        );
        assert_eq!(v.len(), 2);
    }
}
