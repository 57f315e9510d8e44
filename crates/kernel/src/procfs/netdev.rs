//! `/proc/net/dev`: traffic counters per network interface.

use super::parse_u64;

/// One interface's counters, as the kernel names them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetDev {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub rx_fifo: u64,
    pub rx_frame: u64,
    pub rx_compressed: u64,
    pub rx_multicast: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
    pub tx_fifo: u64,
    pub tx_collisions: u64,
    pub tx_carrier: u64,
    pub tx_compressed: u64,
}

impl NetDev {
    /// Parses one interface line; `None` for the two header lines and anything malformed.
    pub fn parse_line(line: &str) -> Option<NetDev> {
        // Interface names cannot contain ':' or whitespace, but may be any other UTF-8.
        let (name, rest) = line.split_once(':')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let mut n = [0u64; 16];
        let mut fields = rest.split_ascii_whitespace();
        for slot in n.iter_mut() {
            *slot = parse_u64(fields.next()?)?;
        }
        Some(NetDev {
            name: name.to_string(),
            rx_bytes: n[0],
            rx_packets: n[1],
            rx_errors: n[2],
            rx_dropped: n[3],
            rx_fifo: n[4],
            rx_frame: n[5],
            rx_compressed: n[6],
            rx_multicast: n[7],
            tx_bytes: n[8],
            tx_packets: n[9],
            tx_errors: n[10],
            tx_dropped: n[11],
            tx_fifo: n[12],
            tx_collisions: n[13],
            tx_carrier: n[14],
            tx_compressed: n[15],
        })
    }

    pub fn parse_all(text: &str, out: &mut Vec<NetDev>) {
        out.clear();
        out.extend(text.lines().filter_map(NetDev::parse_line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0:123456 789 1 2 3 4 5 6 654321 987 7 8 9 10 11 12
 wlän0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16
  bad0: 1 2 3
";

    #[test]
    fn parses_interfaces_and_skips_headers() {
        let mut v = Vec::new();
        NetDev::parse_all(TEXT, &mut v);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].name, "lo");
        assert_eq!(v[1].name, "eth0");
        assert_eq!(v[1].rx_bytes, 123456);
        assert_eq!(v[1].rx_multicast, 6);
        assert_eq!(v[1].tx_bytes, 654321);
        assert_eq!(v[1].tx_compressed, 12);
        assert_eq!(v[2].name, "wlän0");
        assert_eq!(v[2].tx_compressed, 16);
    }
}
