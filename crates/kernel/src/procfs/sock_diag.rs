//! The kernel's `NETLINK_SOCK_DIAG` interface (`inet_diag`): the TCP and UDP sockets of this
//! network namespace as binary records, the same sockets `/proc/net/{tcp,tcp6,udp,udp6}` list.
//!
//! One `SOCK_DIAG_BY_FAMILY` dump request (`struct inet_diag_req_v2`, every state) per family
//! and protocol; the answer is a run of `struct inet_diag_msg` records ended by `NLMSG_DONE`.
//! TCP is the exception: every TCP dump walks the whole established hash table (262,144
//! buckets on a 24 GB host, about 1 ms however few sockets it holds), so both families come
//! from one walk, through the older `TCPDIAG_GETSOCK` request (`struct inet_diag_req`), which
//! the kernel answers for `AF_UNSPEC`; the IPv6 half is kept for the `tcp6` call that follows.
//! A kernel that refuses it gets one `SOCK_DIAG_BY_FAMILY` dump per family, as before.
//! Each record becomes the [`InetSocket`] the `/proc/net` parser makes of the same socket, so
//! both sources give identical rows. The one field that differs: for a `LISTEN` socket
//! `inet_diag` puts the accept backlog limit in `idiag_wqueue`, where `/proc/net/tcp` prints a
//! send queue of 0 (both give the accept queue length as the receive queue).
//!
//! The byte layouts (`linux/netlink.h`, `linux/inet_diag.h`, `linux/sock_diag.h`) are encoded
//! and decoded here by offset, in native byte order except the ports and addresses, which the
//! kernel keeps in network order.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::net_sockets::{InetSocket, Protocol, TCP_LISTEN, format_ipv6};

/// `SOCK_DIAG_BY_FAMILY`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCPDIAG_GETSOCK` (`linux/inet_diag.h`): the request of both TCP families at once.
const TCPDIAG_GETSOCK: u16 = 18;
/// `sizeof(struct inet_diag_req)`, the `TCPDIAG_GETSOCK` request.
const COMPAT_REQ_LEN: usize = 60;
/// `NLMSG_ERROR`, `NLMSG_DONE`.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_FLAGS: u16 = 0x1 | 0x300;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct inet_diag_req_v2)`.
const REQ_LEN: usize = 56;
/// `sizeof(struct inet_diag_msg)`.
const MSG_LEN: usize = 72;
/// Receive buffer: the kernel fills one datagram of at most 32 KiB per `recv`.
const RECV_BUF: usize = 64 * 1024;

/// `(family, protocol)` of the dump that lists `protocol`'s sockets.
fn family_and_protocol(protocol: Protocol) -> Option<(u8, u8)> {
    let af4 = libc::AF_INET as u8;
    let af6 = libc::AF_INET6 as u8;
    let tcp = libc::IPPROTO_TCP as u8;
    let udp = libc::IPPROTO_UDP as u8;
    match protocol {
        Protocol::Tcp => Some((af4, tcp)),
        Protocol::Tcp6 => Some((af6, tcp)),
        Protocol::Udp => Some((af4, udp)),
        Protocol::Udp6 => Some((af6, udp)),
        Protocol::Unix => None,
    }
}

/// `idiag_states` for every state `/proc/net/{tcp,tcp6,udp,udp6}` lists: `TCP_ESTABLISHED`
/// (1) to `TCP_NEW_SYN_RECV` (12, the pending connections). Not `TCP_BOUND_INACTIVE` (13,
/// Linux 6.5): TCP sockets bound but neither listening nor connecting, which no `/proc/net`
/// file (nor `ss -a`) lists, and whose bit makes the kernel walk the whole bind hash table
/// as well (65,536 buckets here: 0.46 ms of a 1.62 ms dump, `docs/benchmarks.md`).
pub const ALL_STATES: u32 = (1 << 13) - 1;

/// `TCP_BOUND_INACTIVE` (`include/net/tcp_states.h`), the state left out of [`ALL_STATES`].
pub const TCP_BOUND_INACTIVE: u8 = 13;

/// The `idiag_states` bit of kernel state `state`.
pub fn state_bit(state: u8) -> u32 {
    1u32.checked_shl(u32::from(state)).unwrap_or(0)
}

/// The request datagram: `nlmsghdr` + `inet_diag_req_v2` asking for the sockets of
/// `family`/`protocol` whose state is in the bit set `states`.
pub fn request(family: u8, protocol: u8, states: u32, seq: u32) -> [u8; NLMSG_HDRLEN + REQ_LEN] {
    let mut b = [0u8; NLMSG_HDRLEN + REQ_LEN];
    b[0..4].copy_from_slice(&((NLMSG_HDRLEN + REQ_LEN) as u32).to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[6..8].copy_from_slice(&DUMP_FLAGS.to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in our port id.
    b[16] = family;
    b[17] = protocol;
    // idiag_ext 0 (no extensions), pad 0.
    b[20..24].copy_from_slice(&states.to_ne_bytes());
    // The socket id (ports, addresses, interface, cookie) stays zero: no filter.
    b
}

/// The `TCPDIAG_GETSOCK` datagram: `nlmsghdr` + `struct inet_diag_req` asking for the TCP
/// sockets of both families whose state is in `states` (the kernel dumps it as `AF_UNSPEC`).
pub fn tcp_request(states: u32, seq: u32) -> [u8; NLMSG_HDRLEN + COMPAT_REQ_LEN] {
    let mut b = [0u8; NLMSG_HDRLEN + COMPAT_REQ_LEN];
    b[0..4].copy_from_slice(&((NLMSG_HDRLEN + COMPAT_REQ_LEN) as u32).to_ne_bytes());
    b[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    b[6..8].copy_from_slice(&DUMP_FLAGS.to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    // idiag_family, idiag_src_len, idiag_dst_len, idiag_ext 0; the socket id (16 + 4..52)
    // zero: no filter; then idiag_states, and idiag_dbs 0.
    b[NLMSG_HDRLEN + 52..NLMSG_HDRLEN + 56].copy_from_slice(&states.to_ne_bytes());
    b
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// An address of the socket id (16 bytes in network order; IPv4 uses the first 4).
fn address(b: &[u8], at: usize, v6: bool) -> Option<String> {
    if v6 {
        let bytes: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
        Some(format_ipv6(&Ipv6Addr::from(bytes)))
    } else {
        let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(bytes).to_string())
    }
}

/// One `struct inet_diag_msg` as the `/proc/net` line of the same socket reads; `None` if
/// it is too short or of another family.
pub fn parse_msg(p: &[u8]) -> Option<InetSocket> {
    parse_family_msg(p).map(|(_, s)| s)
}

/// [`parse_msg`], and whether the socket is IPv6.
fn parse_family_msg(p: &[u8]) -> Option<(bool, InetSocket)> {
    if p.len() < MSG_LEN {
        return None;
    }
    let v6 = match i32::from(p[0]) {
        libc::AF_INET => false,
        libc::AF_INET6 => true,
        _ => return None,
    };
    let state = p[1];
    // p[2] timer, p[3] retransmits; the socket id starts at 4.
    let local_port = be16_at(p, 4)?;
    let remote_port = be16_at(p, 6)?;
    let local_address = address(p, 8, v6)?;
    let remote_address = address(p, 24, v6)?;
    // 40 interface, 44 cookie, 52 expires.
    let rqueue = u32_at(p, 56)?;
    let wqueue = u32_at(p, 60)?;
    let uid = u32_at(p, 64)?;
    let inode = u32_at(p, 68)?;
    Some((
        v6,
        InetSocket {
            local_address,
            local_port,
            remote_address,
            remote_port,
            state,
            // A listener's wqueue is its backlog limit; /proc/net/tcp's tx_queue is 0 there.
            tx_queue: if state == TCP_LISTEN { 0 } else { u64::from(wqueue) },
            rx_queue: u64::from(rqueue),
            uid,
            inode: u64::from(inode),
        },
    ))
}

/// Parses one received datagram (a run of netlink messages) into `out`; `Ok(true)` once
/// `NLMSG_DONE` is seen. Messages of another sequence number are skipped; `NLMSG_ERROR`
/// (or a negative status in `NLMSG_DONE`) is that error.
pub fn parse_datagram(b: &[u8], seq: u32, out: &mut Vec<InetSocket>) -> io::Result<bool> {
    parse_into(b, seq, &mut |_, s| out.push(s))
}

/// [`parse_datagram`], handing each socket to `sink` with whether it is IPv6. Records of a
/// `SOCK_DIAG_BY_FAMILY` and of a `TCPDIAG_GETSOCK` answer (the kernel answers with the
/// request's type) are both taken.
fn parse_into(mut b: &[u8], seq: u32, sink: &mut dyn FnMut(bool, InetSocket)) -> io::Result<bool> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag netlink message");
    while b.len() >= NLMSG_HDRLEN {
        let len = u32_at(b, 0).ok_or_else(bad)? as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            return Err(bad());
        }
        let kind = u16_at(b, 4).ok_or_else(bad)?;
        let msg_seq = u32_at(b, 8).ok_or_else(bad)?;
        let payload = &b[NLMSG_HDRLEN..len];
        if msg_seq == seq {
            match kind {
                NLMSG_DONE => {
                    return match u32_at(payload, 0).map(|s| s as i32) {
                        Some(status) if status < 0 => Err(io::Error::from_raw_os_error(-status)),
                        _ => Ok(true),
                    };
                }
                NLMSG_ERROR => {
                    let status = u32_at(payload, 0).ok_or_else(bad)? as i32;
                    return Err(if status < 0 {
                        io::Error::from_raw_os_error(-status)
                    } else {
                        bad()
                    });
                }
                SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                    if let Some((v6, s)) = parse_family_msg(payload) {
                        sink(v6, s);
                    }
                }
                _ => {}
            }
        }
        // NLMSG_ALIGN: messages start on 4-byte boundaries.
        let next = (len + 3) & !3;
        b = b.get(next..).unwrap_or(&[]);
    }
    Ok(false)
}

/// A `NETLINK_SOCK_DIAG` socket, reused for the dumps of one query.
pub struct SockDiag {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
    /// The IPv6 half of the last two-family TCP dump and its states, for the `tcp6` call.
    tcp6: Option<(u32, Vec<InetSocket>)>,
    /// Whether the kernel refused a `TCPDIAG_GETSOCK` dump (then TCP is dumped per family).
    no_compat: bool,
}

impl SockDiag {
    /// Opens the socket; an error where netlink is refused (seccomp, an old kernel).
    pub fn open() -> io::Result<SockDiag> {
        // SAFETY: plain system call with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // The kernel answers a dump at once; the bound keeps a query within sysmon's rule for
        // waits it cannot cancel ([`BOUND`](crate::bound::BOUND), 1 s); past it the dump fails and the
        // table falls back to /proc/net.
        let timeout = libc::timeval {
            tv_sec: crate::bound::BOUND.as_secs() as libc::time_t,
            tv_usec: crate::bound::BOUND.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: `timeout` is a valid timeval of the size passed, alive for the call.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SockDiag::over(fd))
    }

    /// A reader over `fd`, for tests of what follows a failing dump (sysmon-core's
    /// `tables::sockets` tests among them, hence public).
    #[doc(hidden)]
    pub fn over(fd: OwnedFd) -> SockDiag {
        SockDiag {
            fd,
            seq: 0,
            buf: vec![0u8; RECV_BUF],
            tcp6: None,
            no_compat: false,
        }
    }

    /// The sockets of `protocol` (tcp, tcp6, udp, udp6; unix is not an inet protocol) whose
    /// state is in `states` ([`ALL_STATES`], or [`state_bit`]s).
    ///
    /// `tcp` dumps both TCP families in one walk of the kernel's tables where it can, and
    /// keeps the IPv6 half: a `tcp6` call with the same `states` right after it gets that
    /// half, read at the same moment.
    pub fn dump(&mut self, protocol: Protocol, states: u32) -> io::Result<Vec<InetSocket>> {
        let (family, proto) = family_and_protocol(protocol)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an inet protocol"))?;
        match (protocol, self.tcp6.take()) {
            (Protocol::Tcp6, Some((kept, v6))) if kept == states => return Ok(v6),
            (Protocol::Tcp, _) if !self.no_compat => {
                self.seq = self.seq.wrapping_add(1);
                let (mut v4, mut v6) = (Vec::new(), Vec::new());
                let req = tcp_request(states, self.seq);
                match self.exchange(&req, &mut |is_v6, s| if is_v6 { v6.push(s) } else { v4.push(s) }) {
                    Ok(()) => {
                        self.tcp6 = Some((states, v6));
                        return Ok(v4);
                    }
                    // A kernel without the old request refuses it: dump per family then.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EINVAL | libc::ENOENT | libc::EOPNOTSUPP | libc::EPROTONOSUPPORT)
                        ) =>
                    {
                        self.no_compat = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => {}
        }
        self.seq = self.seq.wrapping_add(1);
        let req = request(family, proto, states, self.seq);
        let mut out = Vec::new();
        self.exchange(&req, &mut |_, s| out.push(s))?;
        Ok(out)
    }

    /// Sends `req` (whose sequence number is `self.seq`) and hands every socket of the answer
    /// to `sink` until `NLMSG_DONE`.
    fn exchange(&mut self, req: &[u8], sink: &mut dyn FnMut(bool, InetSocket)) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_nl is valid; the fields set below make it the kernel's address.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `req` and `kernel` are valid for the lengths passed and outlive the call.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&raw const kernel).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            // SAFETY: as above, all-zero is a valid sockaddr_nl; the kernel overwrites it.
            let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            let mut from_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: `buf` is writable for its length; `from`/`from_len` are valid and
            // sized as passed. MSG_TRUNC makes the result the datagram's real length.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                    (&raw mut from).cast(),
                    &raw mut from_len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "sock_diag netlink datagram larger than the receive buffer",
                ));
            }
            if from.nl_pid != 0 {
                continue; // not from the kernel
            }
            if parse_into(&self.buf[..n], self.seq, sink)? {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A netlink message of `kind` with `payload`, padded to 4 bytes.
    fn nlmsg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend(((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        m.extend(kind.to_ne_bytes());
        m.extend(2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend(seq.to_ne_bytes());
        m.extend(4242u32.to_ne_bytes());
        m.extend(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[allow(clippy::too_many_arguments)]
    fn diag_msg(
        family: i32,
        state: u8,
        src: &[u8],
        sport: u16,
        dst: &[u8],
        dport: u16,
        queues: (u32, u32),
        uid: u32,
        inode: u32,
    ) -> Vec<u8> {
        let mut p = vec![family as u8, state, 0, 0];
        p.extend(sport.to_be_bytes());
        p.extend(dport.to_be_bytes());
        let mut a = [0u8; 16];
        a[..src.len()].copy_from_slice(src);
        p.extend(a);
        let mut a = [0u8; 16];
        a[..dst.len()].copy_from_slice(dst);
        p.extend(a);
        p.extend(7u32.to_ne_bytes()); // interface
        p.extend([0xAB; 8]); // cookie
        p.extend(1234u32.to_ne_bytes()); // expires
        p.extend(queues.0.to_ne_bytes());
        p.extend(queues.1.to_ne_bytes());
        p.extend(uid.to_ne_bytes());
        p.extend(inode.to_ne_bytes());
        assert_eq!(p.len(), MSG_LEN);
        p
    }

    #[test]
    fn request_layout() {
        let r = request(libc::AF_INET6 as u8, libc::IPPROTO_UDP as u8, ALL_STATES, 9);
        assert_eq!(u32_at(&r, 0), Some(72));
        assert_eq!(u16_at(&r, 4), Some(20));
        assert_eq!(u16_at(&r, 6), Some(0x301));
        assert_eq!(u32_at(&r, 8), Some(9));
        assert_eq!((r[16], r[17]), (10, 17));
        assert_eq!(u32_at(&r, 20), Some(0x1fff));
        assert!(r[24..].iter().all(|&b| b == 0));
        let r = request(2, 6, state_bit(TCP_LISTEN), 1);
        assert_eq!(u32_at(&r, 20), Some(1 << 10));
        assert_eq!(state_bit(40), 0);
    }

    #[test]
    fn parses_ipv4_and_maps_a_listeners_queues() {
        let est = diag_msg(
            libc::AF_INET,
            1,
            &[127, 0, 0, 1],
            8080,
            &[203, 0, 113, 80],
            443,
            (16, 42),
            1000,
            1002,
        );
        let lis = diag_msg(libc::AF_INET, TCP_LISTEN, &[0, 0, 0, 0], 22, &[], 0, (3, 4096), 0, 1001);
        let mut buf = nlmsg(SOCK_DIAG_BY_FAMILY, 5, &est);
        buf.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 5, &lis));
        let mut out = Vec::new();
        assert!(!parse_datagram(&buf, 5, &mut out).unwrap());
        assert_eq!(
            out[0],
            InetSocket {
                local_address: "127.0.0.1".into(),
                local_port: 8080,
                remote_address: "203.0.113.80".into(),
                remote_port: 443,
                state: 1,
                tx_queue: 42,
                rx_queue: 16,
                uid: 1000,
                inode: 1002,
            }
        );
        // LISTEN: accept queue 3 as rx, the backlog limit 4096 is not a send queue.
        assert_eq!((out[1].state, out[1].rx_queue, out[1].tx_queue), (TCP_LISTEN, 3, 0));
        assert_eq!(
            (out[1].local_address.as_str(), out[1].remote_address.as_str()),
            ("0.0.0.0", "0.0.0.0")
        );
        assert!(parse_datagram(&nlmsg(NLMSG_DONE, 5, &0i32.to_ne_bytes()), 5, &mut out).unwrap());
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn parses_ipv6_as_ss_prints_it() {
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[127, 0, 0, 1]);
        let mut lo = [0u8; 16];
        lo[15] = 1;
        let m = diag_msg(libc::AF_INET6, 6, &mapped, 5432, &lo, 40000, (0, 0), 0, 0);
        let s = parse_msg(&m).unwrap();
        assert_eq!(s.local_address, "::ffff:127.0.0.1");
        assert_eq!(s.remote_address, "::1");
        assert_eq!((s.local_port, s.remote_port, s.state, s.inode), (5432, 40000, 6, 0));
        let db8 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            parse_msg(&diag_msg(libc::AF_INET6, 7, &db8, 53, &[], 0, (0, 768), 0, 9))
                .unwrap()
                .local_address,
            "2001:db8::1"
        );
    }

    #[test]
    fn rejects_short_foreign_and_malformed() {
        let m = diag_msg(libc::AF_INET, 1, &[1, 2, 3, 4], 1, &[], 0, (0, 0), 0, 1);
        assert!(parse_msg(&m[..MSG_LEN - 1]).is_none());
        let unix = diag_msg(libc::AF_UNIX, 1, &[], 0, &[], 0, (0, 0), 0, 1);
        assert!(parse_msg(&unix).is_none());
        let mut out = Vec::new();
        // Another sequence number (a stale answer) is skipped.
        assert!(!parse_datagram(&nlmsg(SOCK_DIAG_BY_FAMILY, 4, &m), 5, &mut out).unwrap());
        assert!(out.is_empty());
        // A length past the datagram's end.
        let mut bad = nlmsg(SOCK_DIAG_BY_FAMILY, 5, &m);
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(parse_datagram(&bad, 5, &mut out).is_err());
        // A length below the header's.
        bad[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(parse_datagram(&bad, 5, &mut out).is_err());
        // NLMSG_ERROR carries a negative errno.
        let e = parse_datagram(&nlmsg(NLMSG_ERROR, 5, &(-libc::EPERM).to_ne_bytes()), 5, &mut out).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        let e = parse_datagram(&nlmsg(NLMSG_DONE, 5, &(-libc::EINTR).to_ne_bytes()), 5, &mut out).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINTR));
        // Trailing bytes shorter than a header are ignored.
        assert!(!parse_datagram(&[0, 0, 0], 5, &mut out).unwrap());
    }

    #[test]
    fn tcp_request_layout() {
        let r = tcp_request(ALL_STATES, 3);
        assert_eq!(u32_at(&r, 0), Some(76));
        assert_eq!(u16_at(&r, 4), Some(18));
        assert_eq!(u16_at(&r, 6), Some(0x301));
        assert_eq!(u32_at(&r, 8), Some(3));
        assert!(
            r[16..68].iter().all(|&b| b == 0),
            "family, lengths, ext and id are zero"
        );
        assert_eq!(u32_at(&r, 68), Some(0x1fff));
        assert_eq!(u32_at(&r, 72), Some(0));
    }

    #[test]
    fn a_two_family_answer_is_split_by_family() {
        let v4 = diag_msg(libc::AF_INET, 1, &[10, 0, 0, 1], 22, &[10, 0, 0, 2], 5000, (0, 0), 0, 7);
        let v6 = diag_msg(libc::AF_INET6, TCP_LISTEN, &[], 443, &[], 0, (0, 128), 0, 8);
        let mut buf = nlmsg(TCPDIAG_GETSOCK, 2, &v6);
        buf.extend(nlmsg(TCPDIAG_GETSOCK, 2, &v4));
        buf.extend(nlmsg(NLMSG_DONE, 2, &0i32.to_ne_bytes()));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert!(parse_into(&buf, 2, &mut |is_v6, s| if is_v6 { b.push(s) } else { a.push(s) }).unwrap());
        assert_eq!((a.len(), b.len()), (1, 1));
        assert_eq!((a[0].inode, a[0].local_address.as_str()), (7, "10.0.0.1"));
        assert_eq!((b[0].inode, b[0].local_address.as_str()), (8, "::"));
    }

    /// On this host's kernel: one `tcp` dump, then `tcp6` from what it kept, lists the same
    /// listeners as the per-family dumps (checked on this test's own two listeners, which stay
    /// put while other sockets may come and go).
    #[test]
    fn live_two_family_dump_matches_per_family_dumps() {
        let Ok(mut d) = SockDiag::open() else {
            eprintln!("sock_diag refused here; nothing to compare");
            return;
        };
        let l4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let Ok(l6) = std::net::TcpListener::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback here");
            return;
        };
        let (p4, p6) = (l4.local_addr().unwrap().port(), l6.local_addr().unwrap().port());
        let listen = state_bit(TCP_LISTEN);
        let Ok(v4) = d.dump(Protocol::Tcp, listen) else {
            eprintln!("TCP dumps refused here");
            return;
        };
        let v6 = d.dump(Protocol::Tcp6, listen).unwrap();
        assert!(v4.iter().any(|s| s.local_port == p4) && !v4.iter().any(|s| s.local_port == p6));
        assert!(v6.iter().any(|s| s.local_port == p6) && !v6.iter().any(|s| s.local_port == p4));
        // The kept half is used once: a second tcp6 call dumps again.
        assert!(d.tcp6.is_none());
        let again = d.dump(Protocol::Tcp6, listen).unwrap();
        assert!(again.iter().any(|s| s.local_port == p6));
        d.no_compat = true;
        let per_family = d.dump(Protocol::Tcp, listen).unwrap();
        assert!(per_family.iter().any(|s| s.local_port == p4));
        assert!(d.tcp6.is_none(), "a per-family dump keeps nothing");
    }

    /// A TCP socket bound but neither listening nor connecting (`TCP_BOUND_INACTIVE` to
    /// sock_diag) is in no `/proc/net` file, so not in the dump of [`ALL_STATES`] either; the
    /// kernel (6.5 and later) lists it when its bit is asked for.
    #[test]
    fn live_bound_inactive_tcp_is_not_listed() {
        let Ok(mut d) = SockDiag::open() else {
            eprintln!("sock_diag refused here; nothing to compare");
            return;
        };
        // SAFETY: plain system calls on a descriptor owned below; the address is valid for
        // the length passed.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0);
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_in is valid; family and address are set below.
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
        // SAFETY: `addr` is a valid sockaddr_in of the size passed, alive for the call.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: as for bind; the kernel writes at most `len` bytes into `addr`.
        let rc = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut addr).cast(), &raw mut len) };
        assert_eq!(rc, 0);
        let port = u16::from_be(addr.sin_port);
        let Ok(listed) = d.dump(Protocol::Tcp, ALL_STATES) else {
            eprintln!("TCP dumps refused here");
            return;
        };
        assert!(
            !listed.iter().any(|s| s.local_port == port),
            "bound-inactive socket listed"
        );
        let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
        assert!(
            !super::super::net_sockets::parse_inet(&text, Protocol::Tcp)
                .iter()
                .any(|s| s.local_port == port)
        );
        match d.dump(Protocol::Tcp, state_bit(TCP_BOUND_INACTIVE)) {
            Ok(bound) if bound.iter().any(|s| s.local_port == port) => {}
            _ => eprintln!("this kernel does not list bound-inactive sockets (before 6.5)"),
        }
    }

    #[test]
    fn unix_is_not_dumped_here() {
        assert!(family_and_protocol(Protocol::Unix).is_none());
    }
}
