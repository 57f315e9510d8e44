//! `system_networks()`: one row per network interface, counters from `/proc/net/dev`,
//! link facts from `/sys/class/net/<interface>/`, rates over a window.

use std::io;

use super::{HostPath, HostWindow, Table};
use crate::live::LiveState;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::rate;
use crate::procfs::link_events::LinkEvents;
use crate::procfs::netdev::NetDev;
use crate::procfs::{KeptFile, Roots, read_trimmed};
use crate::sample::HostSample;
use crate::schema::Timestamp;

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

/// The sysfs facts of one interface; `None` where the file is missing or unreadable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    pub oper_state: Option<String>,
    pub mtu: Option<u32>,
    pub mac_address: Option<String>,
    pub speed_bits_per_sec: Option<u64>,
}

/// Reads `/sys/class/net/<name>/{operstate,mtu,address,speed}`.
pub fn link_info(sys: &Path, name: &str) -> LinkInfo {
    let dir = sys.join("class/net").join(name);
    let read = |f: &str| read_trimmed(&dir.join(f)).filter(|s| !s.is_empty());
    LinkInfo {
        oper_state: read("operstate"),
        mtu: read("mtu").and_then(|s| s.parse().ok()),
        mac_address: read("address"),
        speed_bits_per_sec: read("speed").and_then(|s| parse_speed(&s)),
    }
}

/// How long link facts are reused without a change notice from the kernel (the backstop for
/// a change that posts none, such as a driver renegotiating the speed without a carrier loss).
pub const LINK_REFRESH: Duration = Duration::from_secs(60);

/// [`link_info`] for a caller that reads the same interfaces again and again (the recorder,
/// every tick): each interface's four files are kept open and re-read with `pread`, which
/// regenerates their contents just like a fresh open, at a fraction of the cost; and, for the
/// host's own `/sys`, they are read again only after the kernel posted a link change
/// ([`LinkEvents`]), or [`LINK_REFRESH`] after the last reading. Where the subscription is
/// refused (a sandbox without netlink), or the root is not `/sys` (a fixture tree), they are
/// read at every call.
#[derive(Debug, Default)]
pub struct LinkReader {
    kept: HashMap<String, Kept>,
    watch: Watch,
    /// When every interface's facts were last read.
    read_at: Option<Instant>,
    /// Whether this call reads the files (decided by [`LinkReader::begin`]).
    reread: bool,
}

#[derive(Debug)]
struct Kept {
    files: [KeptFile; 4],
    info: Option<LinkInfo>,
}

/// Where notice of link changes comes from.
#[derive(Debug, Default)]
enum Watch {
    /// Not tried yet.
    #[default]
    Unopened,
    /// The kernel's notices.
    Kernel(LinkEvents),
    /// None: the files are read at every call.
    None,
    /// A test's notices: true = something changed.
    #[cfg(test)]
    Fake(std::sync::Arc<std::sync::atomic::AtomicBool>),
}

impl LinkReader {
    /// Starts a call at `now` on the sysfs root `sys`: decides whether the facts kept from
    /// the last reading still hold.
    pub fn begin(&mut self, sys: &Path, now: Instant) {
        if matches!(self.watch, Watch::Unopened) {
            // The kernel's notices describe the host's links, not a fixture tree's.
            self.watch = match (sys == Path::new("/sys")).then(LinkEvents::open) {
                Some(Ok(events)) => Watch::Kernel(events),
                _ => Watch::None,
            };
        }
        let changed = match &mut self.watch {
            Watch::Kernel(events) => match events.changed() {
                Ok(changed) => changed,
                Err(_) => {
                    self.watch = Watch::None;
                    true
                }
            },
            #[cfg(test)]
            Watch::Fake(flag) => flag.swap(false, std::sync::atomic::Ordering::Relaxed),
            Watch::Unopened | Watch::None => true,
        };
        self.reread = changed
            || self
                .read_at
                .is_none_or(|t| now.saturating_duration_since(t) >= LINK_REFRESH);
        if self.reread {
            self.read_at = Some(now);
        }
    }

    /// The facts of interface `name` under the sysfs root `sys` (read now, or kept from the
    /// last reading where [`begin`](Self::begin) found them current).
    pub fn read(&mut self, sys: &Path, name: &str) -> LinkInfo {
        if !self.kept.contains_key(name) {
            let dir = sys.join("class/net").join(name);
            let f = |n: &str| KeptFile::new(dir.join(n));
            let files = [f("operstate"), f("mtu"), f("address"), f("speed")];
            self.kept.insert(name.to_string(), Kept { files, info: None });
        }
        let Some(kept) = self.kept.get_mut(name) else {
            return LinkInfo::default();
        };
        if !self.reread
            && let Some(info) = &kept.info
        {
            return info.clone();
        }
        let [oper, mtu, addr, speed] = &mut kept.files;
        let text = |k: &mut KeptFile| {
            k.read()
                .ok()
                .map(|s| s.trim_end_matches('\n'))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let info = LinkInfo {
            oper_state: text(oper),
            mtu: mtu.read().ok().and_then(|s| s.trim_end_matches('\n').parse().ok()),
            mac_address: text(addr),
            speed_bits_per_sec: speed.read().ok().and_then(parse_speed),
        };
        kept.info = Some(info.clone());
        info
    }

    /// Closes the files of interfaces not in `names` (gone since).
    pub fn retain<'a>(&mut self, names: impl Iterator<Item = &'a str>) {
        let names: Vec<&str> = names.collect();
        self.kept.retain(|k, _| names.contains(&k.as_str()));
    }
}

/// sysfs `speed` (Mb/s) as bits per second; `None` for the kernel's -1 (unknown) or garbage.
pub fn parse_speed(text: &str) -> Option<u64> {
    let mbps: i64 = text.trim().parse().ok()?;
    u64::try_from(mbps).ok().filter(|&m| m > 0)?.checked_mul(1_000_000)
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
    use crate::sample::Collector;
    use std::time::Duration;

    #[test]
    fn speed_minus_one_is_null() {
        assert_eq!(parse_speed("-1"), None);
        assert_eq!(parse_speed("0"), None);
        assert_eq!(parse_speed("10000\n"), Some(10_000_000_000));
        assert_eq!(parse_speed("fast"), None);
        assert_eq!(parse_speed(""), None);
    }

    #[test]
    fn link_facts_are_read_again_after_a_change_notice_or_the_refresh() {
        let sys = std::env::temp_dir().join(format!("sysmon-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&sys);
        let eth0 = sys.join("class/net/eth0");
        std::fs::create_dir_all(&eth0).unwrap();
        let fixture = Roots::test_fixture("modern").sys("class/net/eth0");
        for f in ["operstate", "mtu", "address", "speed"] {
            std::fs::copy(fixture.join(f), eth0.join(f)).unwrap();
        }
        let notice = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut links = LinkReader {
            watch: Watch::Fake(notice.clone()),
            ..LinkReader::default()
        };
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mtu_at = |links: &mut LinkReader, t| {
            links.begin(&sys, t);
            links.read(&sys, "eth0").mtu
        };
        assert_eq!(mtu_at(&mut links, at(0)), Some(1500));
        std::fs::write(eth0.join("mtu"), "9000\n").unwrap();
        assert_eq!(mtu_at(&mut links, at(1)), Some(1500), "no notice: the facts are kept");
        notice.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            mtu_at(&mut links, at(2)),
            Some(9000),
            "read again after the kernel's notice"
        );
        std::fs::write(eth0.join("mtu"), "1400\n").unwrap();
        assert_eq!(mtu_at(&mut links, at(3)), Some(9000));
        assert_eq!(
            mtu_at(&mut links, at(2) + LINK_REFRESH),
            Some(1400),
            "read again at the refresh"
        );
        std::fs::write(eth0.join("mtu"), "1280\n").unwrap();
        let mut every_call = LinkReader::default();
        assert_eq!(mtu_at(&mut every_call, at(0)), Some(1280));
        std::fs::write(eth0.join("mtu"), "1500\n").unwrap();
        assert_eq!(
            mtu_at(&mut every_call, at(1)),
            Some(1500),
            "a root that is not /sys has no notices: read at every call"
        );
        std::fs::remove_dir_all(&sys).unwrap();
    }

    #[test]
    fn link_facts_from_sysfs() {
        let sys = Roots::test_fixture("modern").sys;
        let mut kept = LinkReader::default();
        kept.begin(&sys, Instant::now());
        for name in ["eth0", "lo", "docker0", "eth0"] {
            assert_eq!(kept.read(&sys, name), link_info(&sys, name), "{name}");
        }
        kept.retain(["lo"].into_iter());
        kept.begin(&sys, Instant::now());
        assert_eq!(kept.read(&sys, "lo"), link_info(&sys, "lo"));
        let eth0 = link_info(&sys, "eth0");
        assert_eq!(eth0.oper_state.as_deref(), Some("up"));
        assert_eq!(eth0.mtu, Some(1500));
        assert_eq!(eth0.mac_address.as_deref(), Some("52:54:00:12:34:56"));
        assert_eq!(eth0.speed_bits_per_sec, Some(1_000_000_000));
        let lo = link_info(&sys, "lo");
        assert_eq!(lo.speed_bits_per_sec, None, "lo's speed file is -1");
        assert_eq!(lo.mtu, Some(65536));
        assert_eq!(
            link_info(&sys, "docker0"),
            LinkInfo::default(),
            "not in sysfs: all NULL"
        );
    }

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
