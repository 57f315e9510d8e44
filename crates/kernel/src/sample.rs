//! One reading of the host's cheap, host-wide kernel files, and the collector that takes it.
//!
//! A [`HostSample`] holds the raw counters of `/proc/stat`, `meminfo`, `loadavg`, `uptime`,
//! `diskstats`, `net/dev`, `net/snmp` and the pressure files, as the kernel reported them at one instant.
//! Rates and percentages are differences of two samples, computed in sysmon-core's `tables`; the
//! samples themselves are kept in the process-wide ring (sysmon-core's `ring`).
//!
//! The [`Collector`] keeps every file open and re-reads it with `pread` (see
//! [`KeptFile`]), and remembers which block devices are whole physical
//! disks and which interfaces are backed by a device, so `/sys` is consulted once per new name.

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use crate::host;
use crate::procfs::diskstats::DiskStat;
use crate::procfs::loadavg::LoadAvg;
use crate::procfs::meminfo::MemInfo;
use crate::procfs::netdev::NetDev;
use crate::procfs::pressure::{self, PressureLine};
use crate::procfs::snmp::Snmp;
use crate::procfs::stat::Stat;
use crate::procfs::{KeptFile, Roots, uptime};
use crate::time::Timestamp;

/// The pressure resources, in the order the files are read.
pub const PRESSURE_RESOURCES: [&str; 4] = ["cpu", "memory", "io", "irq"];

#[derive(Clone, Debug)]
pub struct HostSample {
    /// Monotonic time of the reading (window lengths are measured on this clock).
    pub instant: Instant,
    /// Wall-clock time of the reading.
    pub ts: Timestamp,
    pub hostname: String,
    pub stat: Stat,
    pub mem: MemInfo,
    pub load: Option<LoadAvg>,
    pub uptime_seconds: Option<f64>,
    pub disks: Vec<DiskStat>,
    /// Parallel to `disks`: whether the device is a whole disk backed by hardware (a
    /// `device` link in `/sys/block/<name>/`), so not a partition, loop, ram, zram, md or dm device.
    pub disk_is_physical: Vec<bool>,
    pub nets: Vec<NetDev>,
    /// Parallel to `nets`: whether the interface is backed by a device (a `device` link in
    /// `/sys/class/net/<name>/`), so not loopback, a bridge, a bond, a veth or a tunnel.
    pub net_is_physical: Vec<bool>,
    /// Pressure lines by resource (an index into [`PRESSURE_RESOURCES`]); empty without PSI.
    pub pressure: Vec<(usize, PressureLine)>,
    /// TCP and UDP totals of `/proc/net/snmp`; `None` if the file was unreadable.
    pub snmp: Option<Snmp>,
}

impl HostSample {
    /// Bytes read from whole physical disks since boot; `None` if diskstats was unreadable.
    pub fn disk_read_bytes(&self) -> Option<u64> {
        self.sum_disks(DiskStat::read_bytes)
    }

    pub fn disk_written_bytes(&self) -> Option<u64> {
        self.sum_disks(DiskStat::written_bytes)
    }

    pub fn net_rx_bytes(&self) -> Option<u64> {
        self.sum_nets(|n| n.rx_bytes)
    }

    pub fn net_tx_bytes(&self) -> Option<u64> {
        self.sum_nets(|n| n.tx_bytes)
    }

    fn sum_disks(&self, f: impl Fn(&DiskStat) -> u64) -> Option<u64> {
        if self.disks.is_empty() {
            return None;
        }
        let physical = self.disks.iter().zip(&self.disk_is_physical).filter(|(_, p)| **p);
        Some(physical.map(|(d, _)| f(d)).fold(0u64, u64::saturating_add))
    }

    fn sum_nets(&self, f: impl Fn(&NetDev) -> u64) -> Option<u64> {
        if self.nets.is_empty() {
            return None;
        }
        let physical = self.nets.iter().zip(&self.net_is_physical).filter(|(_, p)| **p);
        Some(physical.map(|(n, _)| f(n)).fold(0u64, u64::saturating_add))
    }
}

/// Takes [`HostSample`]s, keeping the files open between samples.
#[derive(Debug)]
pub struct Collector {
    roots: Roots,
    stat: KeptFile,
    meminfo: KeptFile,
    loadavg: KeptFile,
    uptime: KeptFile,
    diskstats: KeptFile,
    netdev: KeptFile,
    /// `None`: not read ([`Collector::skip_snmp`]).
    snmp: Option<KeptFile>,
    /// `None` once the file turned out not to exist (no PSI, or no irq pressure).
    pressure: Vec<Option<KeptFile>>,
    disk_class: HashMap<String, bool>,
    net_class: HashMap<String, bool>,
}

impl Collector {
    pub fn new(roots: Roots) -> Self {
        let p = |rel: &str| KeptFile::new(roots.proc(rel));
        Collector {
            stat: p("stat"),
            meminfo: p("meminfo"),
            loadavg: p("loadavg"),
            uptime: p("uptime"),
            diskstats: p("diskstats"),
            netdev: p("net/dev"),
            snmp: Some(p("net/snmp")),
            pressure: PRESSURE_RESOURCES
                .iter()
                .map(|r| Some(p(&format!("pressure/{r}"))))
                .collect(),
            disk_class: HashMap::new(),
            net_class: HashMap::new(),
            roots,
        }
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// From the next sample on, `/proc/net/snmp` is not read (its `snmp` is `None`, so
    /// `system_net_protocols()` over such samples is NULL): for a reader with no use for the
    /// TCP and UDP counters (`sysmon top`, whose screens show none).
    pub fn skip_snmp(&mut self) {
        self.snmp = None;
    }

    /// Reads every file once. Only `/proc/stat` is required; any other file that cannot be
    /// read leaves its fields empty (`None`), so its columns are NULL.
    pub fn sample(&mut self) -> io::Result<HostSample> {
        let instant = Instant::now();
        let ts = Timestamp::now();
        let stat = match self.stat.read() {
            Ok(text) => Stat::parse(text),
            Err(e) => {
                let path = self.stat.path().display();
                return Err(io::Error::new(e.kind(), format!("cannot read {path}: {e}")));
            }
        };
        let mem = self.meminfo.read().map(MemInfo::parse).unwrap_or_default();
        let load = self.loadavg.read().ok().and_then(LoadAvg::parse);
        let uptime_seconds = self.uptime.read().ok().and_then(uptime::parse);
        let mut disks = Vec::new();
        if let Ok(text) = self.diskstats.read() {
            DiskStat::parse_all(text, &mut disks);
        }
        let mut nets = Vec::new();
        if let Ok(text) = self.netdev.read() {
            NetDev::parse_all(text, &mut nets);
        }
        let snmp = self.snmp.as_mut().and_then(|f| f.read().ok()).map(Snmp::parse);
        let mut pressure_lines = Vec::new();
        for (i, slot) in self.pressure.iter_mut().enumerate() {
            let Some(file) = slot else { continue };
            match file.read() {
                Ok(text) => pressure_lines.extend(pressure::parse(text).into_iter().map(|l| (i, l))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => *slot = None,
                Err(_) => {}
            }
        }
        let sys = &self.roots.sys;
        let disk_is_physical = disks
            .iter()
            .map(|d| classify(&mut self.disk_class, &d.name, || sys.join("block").join(&d.name)))
            .collect();
        let net_is_physical = nets
            .iter()
            .map(|n| classify(&mut self.net_class, &n.name, || sys.join("class/net").join(&n.name)))
            .collect();
        Ok(HostSample {
            instant,
            ts,
            hostname: host::hostname(),
            stat,
            mem,
            load,
            uptime_seconds,
            disks,
            disk_is_physical,
            nets,
            net_is_physical,
            pressure: pressure_lines,
            snmp,
        })
    }
}

/// Whether `name` has a `device` link under the sysfs folder `dir()`, remembered per name.
fn classify(cache: &mut HashMap<String, bool>, name: &str, dir: impl FnOnce() -> std::path::PathBuf) -> bool {
    if let Some(&known) = cache.get(name) {
        return known;
    }
    let physical = dir().join("device").exists();
    cache.insert(name.to_string(), physical);
    physical
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_fixture_tree() {
        let mut c = Collector::new(Roots::test_fixture("modern"));
        let s = c.sample().unwrap();
        assert_eq!(s.stat.cpus.len(), 2);
        assert_eq!(s.mem.total, Some(4_028_536 * 1024));
        // vda is a whole disk with a device link; vda1 (partition) and loop0 are not counted.
        assert_eq!(s.disk_read_bytes(), Some(2882322 * 512));
        assert_eq!(s.disk_written_bytes(), Some(41052216 * 512));
        // eth0 has a device link; lo and docker0 do not.
        assert_eq!(s.net_rx_bytes(), Some(987_654_321));
        assert_eq!(s.net_tx_bytes(), Some(123_456_789));
        assert_eq!(s.pressure.len(), 6, "cpu, memory and io; this fixture has no irq file");
        assert_eq!(s.uptime_seconds, Some(350735.47));
        assert_eq!(s.load.unwrap().tasks, Some(1034));
    }

    #[test]
    fn old_kernel_fixture_gives_none_not_zero() {
        let mut c = Collector::new(Roots::test_fixture("old-kernel"));
        let s = c.sample().unwrap();
        assert_eq!(s.stat.total.unwrap().steal, None);
        assert_eq!(s.mem.available, None);
        assert!(s.pressure.is_empty());
        assert_eq!(s.disk_read_bytes(), None, "no diskstats file");
        assert_eq!(s.uptime_seconds, None);
    }

    #[test]
    fn missing_proc_stat_is_an_error() {
        let mut c = Collector::new(Roots::fixture("/nonexistent-sysmon-root"));
        let e = c.sample().unwrap_err();
        assert!(e.to_string().contains("stat"), "{e}");
    }

    #[test]
    fn samples_live_host() {
        let mut c = Collector::new(Roots::default());
        let a = c.sample().unwrap();
        let b = c.sample().unwrap();
        assert!(b.stat.total.unwrap().total() >= a.stat.total.unwrap().total());
        assert!(a.mem.total.unwrap() > 0);
    }
}
