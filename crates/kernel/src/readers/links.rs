//! The sysfs facts of each network interface (`operstate`, `mtu`, `address`, `speed`): the
//! link columns of `system_networks()`.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::procfs::link_events::LinkEvents;
use crate::procfs::{KeptFile, read_trimmed};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::Roots;

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
}
