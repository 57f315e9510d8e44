//! `system_networks()`: one row per network interface, counters from `/proc/net/dev`,
//! link facts from `/sys/class/net/<interface>/`, rates over a window.

use std::io;

use super::{HostPath, HostWindow, Table};
use sysmon_live::LiveState;

use super::rate;
use crate::schema::Timestamp;
use sysmon_kernel::procfs::Roots;
use sysmon_kernel::procfs::netdev::NetDev;
pub use sysmon_kernel::readers::links::{LINK_REFRESH, LinkInfo, LinkReader, link_info, parse_speed};
use sysmon_kernel::sample::HostSample;

crate::declare_table! {
    /// One row per network interface of /proc/net/dev. Cumulative counters count since the
    /// interface appeared; `_per_sec` columns cover the window that ends at `ts` and lasts
    /// `window_seconds`, NULL for an interface absent from the window's first sample. The
    /// link facts (`oper_state`, `mtu`, `mac_address`, `speed_bits_per_sec`) are read from
    /// sysfs again whenever the kernel announces a link change over netlink, and at least
    /// every 60 s (at every call where netlink is refused).
    pub struct NetworksRow => "system_networks", recorded as "networks" every interval {
        /// When the sample was taken.
        ts: Timestamp [""],
        /// Host name at the sample time.
        hostname: String [""],
        /// Interface name, e.g. `eth0`, `lo`.
        interface: String [""],
        /// RFC 2863 operational state from sysfs `operstate` (`up`, `down`, `unknown`, ...); NULL where sysfs has none.
        oper_state: Option<String> [""],
        /// Maximum transmission unit (sysfs `mtu`).
        mtu: Option<u32> ["bytes"],
        /// Hardware address (sysfs `address`), e.g. `52:54:00:12:34:56`; NULL where the interface has none.
        mac_address: Option<String> [""],
        /// Link speed (sysfs `speed`, Mb/s, × 10⁶); NULL where the driver does not know it (virtual links, link down).
        speed_bits_per_sec: Option<u64> ["bits/s"],
        /// Whether the interface is backed by a device (not loopback, bridge, veth, tunnel).
        is_physical: bool [""],
        /// Bytes received.
        rx_bytes: u64 ["bytes"],
        /// Bytes sent.
        tx_bytes: u64 ["bytes"],
        /// Packets received.
        rx_packets: u64 [""],
        /// Packets sent.
        tx_packets: u64 [""],
        /// Receive errors.
        rx_errors: u64 [""],
        /// Transmit errors.
        tx_errors: u64 [""],
        /// Received packets dropped.
        rx_dropped: u64 [""],
        /// Packets dropped before sending.
        tx_dropped: u64 [""],
        /// Receive FIFO overruns.
        rx_fifo: u64 [""],
        /// Transmit FIFO errors.
        tx_fifo: u64 [""],
        /// Receive framing errors.
        rx_frame: u64 [""],
        /// Collisions detected while sending.
        tx_collisions: u64 [""],
        /// Carrier losses while sending.
        tx_carrier: u64 [""],
        /// Compressed packets received.
        rx_compressed: u64 [""],
        /// Compressed packets sent.
        tx_compressed: u64 [""],
        /// Multicast packets received.
        rx_multicast: u64 [""],
        /// Bytes received per second over the window.
        rx_bytes_per_sec: Option<f64> ["bytes/s"],
        /// Bytes sent per second over the window.
        tx_bytes_per_sec: Option<f64> ["bytes/s"],
        /// Packets received per second over the window.
        rx_packets_per_sec: Option<f64> ["packets/s"],
        /// Packets sent per second over the window.
        tx_packets_per_sec: Option<f64> ["packets/s"],
        /// Length of the window the rates cover (monotonic clock, to 2⁻²⁰ s ≈ 1 µs).
        window_seconds: f64 ["seconds"],
    }
}

/// The rows for the window from `base` to `now`.
pub fn rows(base: &HostSample, now: &HostSample, roots: &Roots) -> Vec<NetworksRow> {
    rows_with(base, now, |name| link_info(&roots.sys, name))
}

/// [`rows`] with the link facts of each interface from `link`.
pub fn rows_with(base: &HostSample, now: &HostSample, mut link: impl FnMut(&str) -> LinkInfo) -> Vec<NetworksRow> {
    let window_seconds = super::window_seconds(base, now);
    now.nets
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let before = base.nets.iter().find(|b| b.name == n.name);
            let r = |f: fn(&NetDev) -> u64| before.and_then(|b| rate(f(b), f(n), window_seconds));
            let link = link(&n.name);
            NetworksRow {
                ts: now.ts,
                hostname: now.hostname.clone(),
                interface: n.name.clone(),
                oper_state: link.oper_state,
                mtu: link.mtu,
                mac_address: link.mac_address,
                speed_bits_per_sec: link.speed_bits_per_sec,
                is_physical: now.net_is_physical.get(i).copied().unwrap_or(false),
                rx_bytes: n.rx_bytes,
                tx_bytes: n.tx_bytes,
                rx_packets: n.rx_packets,
                tx_packets: n.tx_packets,
                rx_errors: n.rx_errors,
                tx_errors: n.tx_errors,
                rx_dropped: n.rx_dropped,
                tx_dropped: n.tx_dropped,
                rx_fifo: n.rx_fifo,
                tx_fifo: n.tx_fifo,
                rx_frame: n.rx_frame,
                tx_collisions: n.tx_collisions,
                tx_carrier: n.tx_carrier,
                rx_compressed: n.rx_compressed,
                tx_compressed: n.tx_compressed,
                rx_multicast: n.rx_multicast,
                rx_bytes_per_sec: r(|n| n.rx_bytes),
                tx_bytes_per_sec: r(|n| n.tx_bytes),
                rx_packets_per_sec: r(|n| n.rx_packets),
                tx_packets_per_sec: r(|n| n.tx_packets),
                window_seconds,
            }
        })
        .collect()
}

/// `system_networks()`: link facts from the state's kept-open [`LinkReader`].
pub struct Networks;

impl Table for Networks {
    type Row = NetworksRow;
    type Options = ();
    type Input = HostWindow;
    const SUMMARY: &'static str = "One row per network interface: traffic counters and rates, link state, MTU, speed.";
    const EXAMPLE: &'static str =
        "SELECT interface, oper_state, rx_bytes_per_sec, tx_bytes_per_sec FROM system_networks() WHERE is_physical";
    const FILES: &'static [&'static str] = &[];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Proc, HostPath::Sys];

    fn rows(w: &HostWindow, state: &LiveState, _: &()) -> io::Result<Vec<NetworksRow>> {
        let mut links = state.links();
        links.retain(w.now.nets.iter().map(|n| n.name.as_str()));
        let sys = &state.roots().sys;
        links.begin(sys, state.now());
        Ok(rows_with(&w.base, &w.now, |name| links.read(sys, name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use sysmon_kernel::sample::Collector;

    #[test]
    fn rows_with_rates() {
        let roots = Roots::test_fixture("modern");
        let mut c = Collector::new(roots.clone());
        let base = c.sample().unwrap();
        let mut now = base.clone();
        now.instant += Duration::from_millis(500);
        now.nets[1].rx_bytes += 1000;
        now.nets[1].tx_packets += 10;
        now.nets.push(NetDev {
            name: "wlän 0".into(),
            ..NetDev::default()
        });
        now.net_is_physical.push(false);
        let r = rows(&base, &now, &roots);
        assert_eq!(r.len(), 4);
        assert_eq!(r[1].interface, "eth0");
        assert!(r[1].is_physical);
        assert!(!r[0].is_physical);
        assert_eq!(r[1].rx_bytes_per_sec, Some(2000.0));
        assert_eq!(r[1].tx_packets_per_sec, Some(20.0));
        assert_eq!(r[1].tx_bytes_per_sec, Some(0.0));
        assert_eq!(r[1].rx_multicast, 12);
        assert_eq!(r[3].interface, "wlän 0");
        assert_eq!(r[3].rx_bytes_per_sec, None, "new in the window");
        assert_eq!(r[0].window_seconds, 0.5);
    }
}
