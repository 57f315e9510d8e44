//! `/proc/net/{tcp,tcp6,udp,udp6,unix}`: the sockets of this network namespace.
//!
//! The inet files print one socket per line after a header line:
//! `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`.
//! Addresses are the kernel's in-memory `__be32` words printed with `%08X` as host-endian
//! integers, so each 8-digit group is parsed as a `u32` and its native-endian bytes are the
//! address bytes in network order (`0100007F:1F90` is 127.0.0.1:8080 on x86-64 and aarch64).
//! Ports are printed in host order. `st` is the kernel's TCP state number (UDP uses
//! `TCP_ESTABLISHED` for a connected socket and `TCP_CLOSE` for a bound one).
//!
//! `/proc/net/unix`: `Num RefCount Protocol Flags Type St Inode Path`; `Flags` has
//! `__SO_ACCEPTCON` (1 << 16) for a listening socket, `St` is the socket's `SS_*` state, and
//! `Path` is missing for an unnamed socket and starts with `@` for an abstract one (whose NUL
//! bytes the kernel also prints as `@`).

use std::net::{Ipv4Addr, Ipv6Addr};

/// The inet protocols with a `/proc/net` file, in the order they are read.
pub const INET_PROTOCOLS: [Protocol; 4] = [Protocol::Tcp, Protocol::Tcp6, Protocol::Udp, Protocol::Udp6];

/// A socket table of `/proc/net`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
    Unix,
}

impl Protocol {
    /// The file's name under `/proc/net`, which is also the `protocol` column's value.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Tcp6 => "tcp6",
            Protocol::Udp => "udp",
            Protocol::Udp6 => "udp6",
            Protocol::Unix => "unix",
        }
    }

    pub fn is_tcp(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Tcp6)
    }

    pub fn is_udp(self) -> bool {
        matches!(self, Protocol::Udp | Protocol::Udp6)
    }

    fn is_v6(self) -> bool {
        matches!(self, Protocol::Tcp6 | Protocol::Udp6)
    }
}

/// The kernel's `TCP_LISTEN`.
pub const TCP_LISTEN: u8 = 10;
/// The kernel's `TCP_CLOSE`: for UDP, a bound socket with no peer.
pub const TCP_CLOSE: u8 = 7;

/// A kernel TCP state number as `ss` prints it, except `TCP_ESTABLISHED`, which is
/// `ESTABLISHED` (ss abbreviates it to `ESTAB`).
pub fn tcp_state_name(st: u8) -> &'static str {
    match st {
        1 => "ESTABLISHED",
        2 => "SYN-SENT",
        // 12 is TCP_NEW_SYN_RECV, a request socket; the kernel itself reports it as SYN_RECV.
        3 | 12 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "UNCONN",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        13 => "BOUND-INACTIVE",
        _ => "UNKNOWN",
    }
}

/// One line of a `/proc/net/{tcp,tcp6,udp,udp6}` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InetSocket {
    pub local_address: String,
    pub local_port: u16,
    pub remote_address: String,
    pub remote_port: u16,
    /// The kernel's TCP state number (`st`).
    pub state: u8,
    /// Send queue: TCP bytes not yet acknowledged; UDP bytes of send buffer in use.
    pub tx_queue: u64,
    /// Receive queue: TCP bytes not yet read (for a listener: connections waiting in the
    /// accept queue); UDP bytes of receive buffer in use.
    pub rx_queue: u64,
    pub uid: u32,
    pub inode: u64,
}

/// Parses a whole inet socket file; malformed lines (and the header) are skipped.
pub fn parse_inet(text: &str, protocol: Protocol) -> Vec<InetSocket> {
    text.lines()
        .filter_map(|l| parse_inet_line(l, protocol.is_v6()))
        .collect()
}

fn parse_inet_line(line: &str, v6: bool) -> Option<InetSocket> {
    let mut f = line.split_ascii_whitespace();
    let sl = f.next()?;
    if !sl.ends_with(':') {
        return None;
    }
    let (local_address, local_port) = parse_endpoint(f.next()?, v6)?;
    let (remote_address, remote_port) = parse_endpoint(f.next()?, v6)?;
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    let (tx, rx) = f.next()?.split_once(':')?;
    let tx_queue = u64::from_str_radix(tx, 16).ok()?;
    let rx_queue = u64::from_str_radix(rx, 16).ok()?;
    let _timer = f.next()?;
    let _retransmits = f.next()?;
    let uid = f.next()?.parse().ok()?;
    let _timeout = f.next()?;
    let inode = f.next()?.parse().ok()?;
    Some(InetSocket {
        local_address,
        local_port,
        remote_address,
        remote_port,
        state,
        tx_queue,
        rx_queue,
        uid,
        inode,
    })
}

/// `0100007F:1F90` → ("127.0.0.1", 8080); 32 hex digits for IPv6.
fn parse_endpoint(s: &str, v6: bool) -> Option<(String, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let text = if v6 {
        if addr.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for i in 0..4 {
            let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        format_ipv6(&Ipv6Addr::from(bytes))
    } else {
        if addr.len() != 8 {
            return None;
        }
        Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?.to_ne_bytes()).to_string()
    };
    Some((text, port))
}

/// An IPv6 address as glibc's `inet_ntop` writes it, which is what `ss` prints: the longest
/// run (the first of equal runs) of two or more zero groups becomes `::`, and an IPv4-mapped
/// (`::ffff:1.2.3.4`) or IPv4-compatible (`::1.2.3.4`, not `::` or `::1`) address ends in
/// dotted IPv4. (Rust's `Display` differs for the IPv4-compatible form.)
pub fn format_ipv6(addr: &Ipv6Addr) -> String {
    use std::fmt::Write as _;
    let w = addr.segments();
    // The longest run of zero groups.
    let (mut best, mut best_len) = (usize::MAX, 0);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let start = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best, best_len) = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best = usize::MAX;
    }
    let embedded_v4 = best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff));
    let mut out = String::with_capacity(39);
    let mut i = 0;
    while i < 8 {
        if i == best {
            out.push(':');
            i += best_len;
            if i == 8 {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        if i == 6 && embedded_v4 {
            let o = addr.octets();
            let _ = write!(out, "{}", Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            break;
        }
        let _ = write!(out, "{:x}", w[i]);
        i += 1;
    }
    out
}

/// `__SO_ACCEPTCON` in `/proc/net/unix`'s `Flags`: a listening socket.
pub const UNIX_ACCEPTCON: u32 = 1 << 16;

/// One line of `/proc/net/unix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnixSocket {
    pub flags: u32,
    /// `SOCK_STREAM` 1, `SOCK_DGRAM` 2, `SOCK_SEQPACKET` 5.
    pub sock_type: u16,
    /// The socket's `SS_*` state: 1 unconnected, 2 connecting, 3 connected, 4 disconnecting.
    pub st: u8,
    pub inode: u64,
    /// The bound path; `@name` for an abstract socket; `None` for an unnamed one.
    pub path: Option<String>,
}

impl UnixSocket {
    /// The state as `ss` names it (the same mapping its `/proc/net/unix` reader uses, with
    /// `ESTABLISHED` spelled out as in [`tcp_state_name`]).
    pub fn state_name(&self) -> &'static str {
        if self.flags & UNIX_ACCEPTCON != 0 {
            return "LISTEN";
        }
        match self.st {
            1 => "UNCONN",
            2 => "SYN-SENT",
            3 => "ESTABLISHED",
            4 => "CLOSING",
            _ => "UNKNOWN",
        }
    }
}

/// Parses `/proc/net/unix`; malformed lines (and the header) are skipped. A path may hold
/// spaces: it is the rest of the line after the inode.
pub fn parse_unix(text: &str) -> Vec<UnixSocket> {
    text.lines().filter_map(parse_unix_line).collect()
}

fn parse_unix_line(line: &str) -> Option<UnixSocket> {
    let mut rest = line;
    let mut next = || {
        let t = rest.trim_start_matches(' ');
        let end = t.find(' ').unwrap_or(t.len());
        let (field, after) = t.split_at(end);
        rest = after;
        (!field.is_empty()).then_some(field)
    };
    let num = next()?;
    if !num.ends_with(':') {
        return None;
    }
    let _refcount = next()?;
    let _protocol = next()?;
    let flags = u32::from_str_radix(next()?, 16).ok()?;
    let sock_type = u16::from_str_radix(next()?, 16).ok()?;
    let st = u8::from_str_radix(next()?, 16).ok()?;
    let inode = next()?.parse().ok()?;
    // Exactly one space separates the inode from the path, which may itself start with one.
    let path = rest.strip_prefix(' ').unwrap_or(rest);
    Some(UnixSocket {
        flags,
        sock_type,
        st,
        inode,
        path: (!path.is_empty()).then(|| path.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 4711 1 0000000000000000 100 0 0 10 0
   1: 020200C0:B84C 507100CB:01BB 01 0000002A:00000010 02:000000C8 00000000     0        0 5345 1 00000000e915c980 21 4 1 48 146
   2: garbage
";

    #[test]
    fn ipv4_lines() {
        let s = parse_inet(TCP, Protocol::Tcp);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0],
            InetSocket {
                local_address: "127.0.0.1".into(),
                local_port: 8080,
                remote_address: "0.0.0.0".into(),
                remote_port: 0,
                state: TCP_LISTEN,
                tx_queue: 0,
                rx_queue: 3,
                uid: 1000,
                inode: 4711,
            }
        );
        assert_eq!(s[1].local_address, "192.0.2.2");
        assert_eq!(s[1].local_port, 0xB84C);
        assert_eq!(s[1].remote_address, "203.0.113.80");
        assert_eq!(s[1].remote_port, 443);
        assert_eq!((s[1].tx_queue, s[1].rx_queue), (42, 16));
    }

    #[test]
    fn ipv6_lines() {
        let text = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000201A8C0:D431 01 00000000:00000000 00:00000000 00000000   33        0 101 1 0000000000000000 20 4 30 10 -1
   2: B80D0120000000000000000001000000:0035 B80D0120000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 102 2 0000000000000000 0
";
        let s = parse_inet(text, Protocol::Tcp6);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].local_address.as_str(), s[0].local_port), ("::1", 22));
        assert_eq!(s[0].remote_address, "::");
        assert_eq!(s[1].local_address, "::ffff:127.0.0.1");
        assert_eq!(s[1].remote_address, "::ffff:192.168.1.2");
        assert_eq!(s[1].uid, 33);
        assert_eq!(s[2].local_address, "2001:db8::1");
        assert_eq!(s[2].remote_address, "2001:db8::");
        // A v4 line in a v6 file (or the reverse) is malformed.
        assert!(parse_inet(TCP, Protocol::Tcp6).is_empty());
    }

    #[test]
    fn ipv6_text_is_inet_ntop() {
        let f = |s: &str| format_ipv6(&s.parse().unwrap());
        assert_eq!(f("::"), "::");
        assert_eq!(f("::1"), "::1");
        assert_eq!(f("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(f("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(f("fe80::1:0:0:1"), "fe80::1:0:0:1");
        assert_eq!(f("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(f("1:0:0:2:3:0:0:4"), "1::2:3:0:0:4");
        assert_eq!(f("1:2:3:4:5:6:7:0"), "1:2:3:4:5:6:7:0");
        assert_eq!(f("1:2:3:4:5:6:0:0"), "1:2:3:4:5:6::");
        assert_eq!(f("2001:db8:85a3::8a2e:370:7334"), "2001:db8:85a3::8a2e:370:7334");
        assert_eq!(f("0:0:0:0:0:ffff:0:0"), "::ffff:0.0.0.0");
    }

    #[test]
    fn every_tcp_state_has_its_ss_name() {
        let names: Vec<_> = (1..=11).map(tcp_state_name).collect();
        assert_eq!(
            names,
            [
                "ESTABLISHED",
                "SYN-SENT",
                "SYN-RECV",
                "FIN-WAIT-1",
                "FIN-WAIT-2",
                "TIME-WAIT",
                "UNCONN",
                "CLOSE-WAIT",
                "LAST-ACK",
                "LISTEN",
                "CLOSING"
            ]
        );
        assert_eq!(tcp_state_name(12), "SYN-RECV");
        assert_eq!(tcp_state_name(0), "UNKNOWN");
        assert_eq!(tcp_state_name(99), "UNKNOWN");
    }

    #[test]
    fn unix_lines() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path
ffff8880: 00000002 00000000 00010000 0001 01 2001 /run/a.sock
ffff8881: 00000003 00000000 00000000 0001 03 2002
ffff8882: 00000002 00000000 00000000 0002 01 2003 @abstract@name
ffff8883: 00000002 00000000 00000000 0005 02 2004 /tmp/with space.sock
ffff8884: 00000002 00000000 00000000 0001 04 2005 
bad line
";
        let s = parse_unix(text);
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].path.as_deref(), Some("/run/a.sock"));
        assert_eq!(s[0].state_name(), "LISTEN");
        assert_eq!(
            (s[1].path.as_deref(), s[1].state_name(), s[1].inode),
            (None, "ESTABLISHED", 2002)
        );
        assert_eq!(s[2].path.as_deref(), Some("@abstract@name"));
        assert_eq!((s[2].state_name(), s[2].sock_type), ("UNCONN", 2));
        assert_eq!(s[3].path.as_deref(), Some("/tmp/with space.sock"));
        assert_eq!(s[3].state_name(), "SYN-SENT");
        assert_eq!((s[4].path.as_deref(), s[4].state_name()), (None, "CLOSING"));
    }
}
