//! `/metrics`: the live tables' rows as the Prometheus text exposition format 0.0.4.
//!
//! [`render`] is a pure function from a [`Snapshot`] (rows of the live tables) to text; the
//! server takes the snapshot ([`super::http`]). Every family is described once in [`FAMILIES`]
//! (name, type, labels, the column it comes from, whether node_exporter has it): docs/prometheus.md's
//! mapping table is generated from that list, and a test renders a fixture snapshot and checks
//! the output against it, so the two cannot drift.
//!
//! Names: node_exporter's (`node_...`) wherever node_exporter 1.x exposes the same value with
//! the same labels, so Grafana dashboards built for node_exporter work on those; `sysmon_...`
//! for the rest. A NULL column gives no sample (never a made-up zero). Disks follow
//! node_exporter's default device filter (partitions, `loop`, `ram`, `zram`, `fd` devices left
//! out), so sums over `device` count each byte once as they do with node_exporter.
//! Per-process and per-cgroup families are rendered only when the scrape asks for them
//! (`collect[]=processes`, `collect[]=cgroups`): their label sets grow with the host.

use std::fmt::Write as _;

use sysmon_tables::CpuColumns;
use sysmon_tables::cgroups::CgroupsRow;
use sysmon_tables::cpus::CpusRow;
use sysmon_tables::disks::DisksRow;
use sysmon_tables::filesystems::FilesystemsRow;
use sysmon_tables::metrics::MetricsRow;
use sysmon_tables::net_protocols::NetProtocolsRow;
use sysmon_tables::networks::NetworksRow;
use sysmon_tables::pressure::PressureRow;
use sysmon_tables::processes::ProcessesRow;
use sysmon_tables::sensors::SensorsRow;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

mod families;
use families::*;
pub use families::{FAMILIES, Family, Group, Kind, README_BEGIN, README_END, markdown_mapping};

/// The rows one scrape renders.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub metrics: Option<MetricsRow>,
    /// `system_info().boot_time` (btime of /proc/stat), read from the same host sample.
    pub boot_time: Option<sysmon_tables::schema::Timestamp>,
    pub cpus: Vec<CpusRow>,
    pub disks: Vec<DisksRow>,
    pub filesystems: Vec<FilesystemsRow>,
    pub networks: Vec<NetworksRow>,
    pub net_protocols: Option<NetProtocolsRow>,
    pub pressure: Vec<PressureRow>,
    pub sensors: Vec<SensorsRow>,
    /// `Some` only when the scrape asked for processes.
    pub processes: Option<Vec<ProcessesRow>>,
    /// `Some` only when the scrape asked for cgroups.
    pub cgroups: Option<Vec<CgroupsRow>>,
    /// The running alerts' pending and firing instances (`ALERTS`).
    pub alerts: Vec<sysmon_live::alerts::Series>,
}

/// Appends the label set of one sample.
pub struct Labels<'a> {
    out: &'a mut String,
    any: bool,
}

impl Labels<'_> {
    pub fn add(&mut self, name: &str, value: impl std::fmt::Display) {
        self.out.push(if self.any { ',' } else { '{' });
        self.any = true;
        self.out.push_str(name);
        self.out.push_str("=\"");
        let start = self.out.len();
        let _ = write!(self.out, "{value}");
        if self.out[start..].contains(['\\', '"', '\n']) {
            let raw = self.out.split_off(start);
            for c in raw.chars() {
                match c {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
        }
        self.out.push('"');
    }
}

/// A sample value as the text format writes it.
fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes family `fam` with one sample per item whose value is not `None`; nothing at all
/// (not even the header) when no item has a value.
fn family<T>(
    out: &mut String,
    fam: &Family,
    items: impl IntoIterator<Item = T>,
    labels: impl Fn(&T, &mut Labels<'_>),
    value: impl Fn(&T) -> Option<f64>,
) {
    let mut header = false;
    for item in items {
        let Some(v) = value(&item) else { continue };
        if !header {
            header = true;
            let _ = writeln!(out, "# HELP {} {}", fam.name, fam.help);
            let _ = writeln!(out, "# TYPE {} {}", fam.name, fam.kind.as_str());
        }
        out.push_str(fam.name);
        let mut l = Labels { out, any: false };
        labels(&item, &mut l);
        if l.any {
            out.push('}');
        }
        out.push(' ');
        push_value(out, v);
        out.push('\n');
    }
}

/// A family of one unlabelled sample.
fn single(out: &mut String, fam: &Family, value: Option<f64>) {
    family(out, fam, value, |_, _| {}, |v| Some(*v));
}

fn u(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

fn flag(b: bool) -> Option<f64> {
    Some(if b { 1.0 } else { 0.0 })
}

type ModeValue = fn(&CpuColumns) -> Option<f64>;

/// node_exporter's modes and the column each comes from.
const CPU_MODES: [(&str, ModeValue); 8] = [
    ("user", |c| c.cpu_user_seconds),
    ("nice", |c| c.cpu_nice_seconds),
    ("system", |c| c.cpu_system_seconds),
    ("idle", |c| c.cpu_idle_seconds),
    ("iowait", |c| c.cpu_iowait_seconds),
    ("irq", |c| c.cpu_irq_seconds),
    ("softirq", |c| c.cpu_softirq_seconds),
    ("steal", |c| c.cpu_steal_seconds),
];

const GUEST_MODES: [(&str, ModeValue); 2] = [
    ("user", |c| c.cpu_guest_seconds),
    ("nice", |c| c.cpu_guest_nice_seconds),
];

/// Whether node_exporter's diskstats collector leaves `device` out by default (its
/// `--collector.diskstats.device-exclude`: `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`).
pub fn disk_excluded(device: &str) -> bool {
    let digits_after = |prefix: &str| {
        device
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    };
    if ["ram", "zram", "loop", "fd"].iter().any(|p| digits_after(p)) {
        return true;
    }
    // (h|s|v|xv)d[a-z]\d+: a partition of an IDE, SCSI, virtio or Xen disk.
    for p in ["hd", "sd", "vd", "xvd"] {
        if let Some(rest) = device.strip_prefix(p) {
            let mut b = rest.bytes();
            if b.next().is_some_and(|c| c.is_ascii_lowercase()) {
                let tail: Vec<u8> = b.collect();
                if !tail.is_empty() && tail.iter().all(|c| c.is_ascii_digit()) {
                    return true;
                }
            }
        }
    }
    // nvme\d+n\d+p\d+: an NVMe partition.
    if let Some(rest) = device.strip_prefix("nvme") {
        let parts: Vec<&str> = rest.splitn(2, 'n').collect();
        if parts.len() == 2 && is_digits(parts[0]) {
            let q: Vec<&str> = parts[1].splitn(2, 'p').collect();
            return q.len() == 2 && is_digits(q[0]) && is_digits(q[1]);
        }
    }
    false
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The pressure line of `resource`/`kind` in seconds.
fn stall(rows: &[PressureRow], resource: &str, kind: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.resource == resource && r.kind == kind)
        .map(|r| r.total_stall_us as f64 / 1e6)
}

/// The text of `s`, families in [`FAMILIES`] order.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(32 * 1024);
    render_into(s, &mut out);
    out
}

pub fn render_into(s: &Snapshot, out: &mut String) {
    let cpu_items = || s.cpus.iter().flat_map(|r| CPU_MODES.iter().map(move |m| (r, m.0, m.1)));
    let cpu_labels = |(r, mode, _): &(&CpusRow, &str, ModeValue), l: &mut Labels<'_>| {
        l.add("cpu", r.cpu);
        l.add("mode", mode);
    };
    family(out, &CPU_SECONDS, cpu_items(), cpu_labels, |(r, _, f)| f(&r.cpu_times));
    let guest_items = s
        .cpus
        .iter()
        .flat_map(|r| GUEST_MODES.iter().map(move |m| (r, m.0, m.1)));
    family(out, &CPU_GUEST, guest_items, cpu_labels, |(r, _, f)| f(&r.cpu_times));
    family(
        out,
        &CPU_FREQ,
        &s.cpus,
        |r, l| l.add("cpu", r.cpu),
        |r| r.freq_mhz.map(|m| m * 1e6),
    );

    if let Some(m) = &s.metrics {
        single(out, &LOAD1, m.load_1m);
        single(out, &LOAD5, m.load_5m);
        single(out, &LOAD15, m.load_15m);
        single(out, &MEM_TOTAL, u(m.mem_total_bytes));
        single(out, &MEM_FREE, u(m.mem_free_bytes));
        single(out, &MEM_AVAILABLE, u(m.mem_available_bytes));
        single(out, &MEM_BUFFERS, u(m.mem_buffers_bytes));
        single(out, &MEM_SHMEM, u(m.mem_shared_bytes));
        single(out, &MEM_DIRTY, u(m.mem_dirty_bytes));
        single(out, &SWAP_TOTAL, u(m.swap_total_bytes));
        single(out, &SWAP_FREE, u(m.swap_free_bytes));
        single(out, &MEM_CACHED, u(m.mem_cached_bytes));
        single(out, &MEM_USED, u(m.mem_used_bytes));
        single(out, &PROCS_RUNNING, u(m.procs_running));
        single(out, &PROCS_BLOCKED, u(m.procs_blocked));
        single(out, &PROCS_TOTAL, u(m.procs_total));
        single(out, &CONTEXT_SWITCHES, u(m.context_switches));
        single(out, &INTERRUPTS, u(m.interrupts));
        single(out, &FORKS, u(m.forks));
        single(out, &UPTIME, m.uptime_seconds);
    }
    single(out, &BOOT_TIME, s.boot_time.map(|t| t.micros as f64 / 1e6));
    if let Some(m) = &s.metrics {
        single(out, &TIME, Some(m.ts.micros as f64 / 1e6));
    }

    let disks: Vec<&DisksRow> = s
        .disks
        .iter()
        .filter(|d| d.is_partition != Some(true) && !disk_excluded(&d.device))
        .collect();
    let dev = |d: &&DisksRow, l: &mut Labels<'_>| l.add("device", &d.device);
    family(out, &DISK_READ_BYTES, disks.iter().copied(), dev, |d| {
        Some(d.read_bytes as f64)
    });
    family(out, &DISK_WRITTEN_BYTES, disks.iter().copied(), dev, |d| {
        Some(d.written_bytes as f64)
    });
    family(out, &DISK_READS, disks.iter().copied(), dev, |d| {
        Some(d.reads_completed as f64)
    });
    family(out, &DISK_WRITES, disks.iter().copied(), dev, |d| {
        Some(d.writes_completed as f64)
    });
    family(out, &DISK_READS_MERGED, disks.iter().copied(), dev, |d| {
        Some(d.reads_merged as f64)
    });
    family(out, &DISK_WRITES_MERGED, disks.iter().copied(), dev, |d| {
        Some(d.writes_merged as f64)
    });
    family(out, &DISK_READ_TIME, disks.iter().copied(), dev, |d| {
        Some(d.read_time_seconds)
    });
    family(out, &DISK_WRITE_TIME, disks.iter().copied(), dev, |d| {
        Some(d.write_time_seconds)
    });
    family(out, &DISK_IO_NOW, disks.iter().copied(), dev, |d| {
        Some(d.io_in_progress as f64)
    });
    family(out, &DISK_IO_TIME, disks.iter().copied(), dev, |d| {
        Some(d.io_time_seconds)
    });
    family(out, &DISK_IO_WEIGHTED, disks.iter().copied(), dev, |d| {
        Some(d.weighted_io_time_seconds)
    });
    family(out, &DISK_DISCARDS, disks.iter().copied(), dev, |d| {
        u(d.discards_completed)
    });
    family(out, &DISK_DISCARDS_MERGED, disks.iter().copied(), dev, |d| {
        u(d.discards_merged)
    });
    family(out, &DISK_DISCARDED_SECTORS, disks.iter().copied(), dev, |d| {
        d.discarded_bytes.map(|b| (b / 512) as f64)
    });
    family(out, &DISK_DISCARD_TIME, disks.iter().copied(), dev, |d| {
        d.discard_time_seconds
    });
    family(out, &DISK_FLUSHES, disks.iter().copied(), dev, |d| {
        u(d.flushes_completed)
    });
    family(out, &DISK_FLUSH_TIME, disks.iter().copied(), dev, |d| {
        d.flush_time_seconds
    });

    let fs = &s.filesystems;
    let fsl = |f: &&FilesystemsRow, l: &mut Labels<'_>| {
        l.add("device", &f.device);
        l.add("fstype", &f.fs_type);
        l.add("mountpoint", &f.mount_point);
    };
    family(out, &FS_SIZE, fs, fsl, |f| u(f.total_bytes));
    family(out, &FS_FREE, fs, fsl, |f| u(f.free_bytes));
    family(out, &FS_AVAIL, fs, fsl, |f| u(f.available_bytes));
    family(out, &FS_FILES, fs, fsl, |f| u(f.inodes_total));
    family(out, &FS_FILES_FREE, fs, fsl, |f| u(f.inodes_free));
    family(out, &FS_READONLY, fs, fsl, |f| flag(f.read_only));
    family(out, &FS_ERROR, fs, fsl, |f| flag(f.stat_error.is_some()));

    let n = &s.networks;
    let nl = |r: &&NetworksRow, l: &mut Labels<'_>| l.add("device", &r.interface);
    family(out, &NET_RX_BYTES, n, nl, |r| Some(r.rx_bytes as f64));
    family(out, &NET_TX_BYTES, n, nl, |r| Some(r.tx_bytes as f64));
    family(out, &NET_RX_PACKETS, n, nl, |r| Some(r.rx_packets as f64));
    family(out, &NET_TX_PACKETS, n, nl, |r| Some(r.tx_packets as f64));
    family(out, &NET_RX_ERRS, n, nl, |r| Some(r.rx_errors as f64));
    family(out, &NET_TX_ERRS, n, nl, |r| Some(r.tx_errors as f64));
    family(out, &NET_RX_DROP, n, nl, |r| Some(r.rx_dropped as f64));
    family(out, &NET_TX_DROP, n, nl, |r| Some(r.tx_dropped as f64));
    family(out, &NET_RX_FIFO, n, nl, |r| Some(r.rx_fifo as f64));
    family(out, &NET_TX_FIFO, n, nl, |r| Some(r.tx_fifo as f64));
    family(out, &NET_RX_FRAME, n, nl, |r| Some(r.rx_frame as f64));
    family(out, &NET_TX_COLLS, n, nl, |r| Some(r.tx_collisions as f64));
    family(out, &NET_TX_CARRIER, n, nl, |r| Some(r.tx_carrier as f64));
    family(out, &NET_RX_COMPRESSED, n, nl, |r| Some(r.rx_compressed as f64));
    family(out, &NET_TX_COMPRESSED, n, nl, |r| Some(r.tx_compressed as f64));
    family(out, &NET_RX_MULTICAST, n, nl, |r| Some(r.rx_multicast as f64));
    family(out, &NET_MTU, n, nl, |r| r.mtu.map(f64::from));
    family(out, &NET_SPEED, n, nl, |r| r.speed_bits_per_sec.map(|b| (b / 8) as f64));
    family(out, &NET_UP, n, nl, |r| {
        r.oper_state.as_deref().map(|s| if s == "up" { 1.0 } else { 0.0 })
    });

    if let Some(p) = &s.net_protocols {
        single(out, &TCP_ACTIVE_OPENS, u(p.tcp_active_opens));
        single(out, &TCP_PASSIVE_OPENS, u(p.tcp_passive_opens));
        single(out, &TCP_CURR_ESTAB, u(p.tcp_curr_estab));
        single(out, &TCP_IN_SEGS, u(p.tcp_in_segs));
        single(out, &TCP_OUT_SEGS, u(p.tcp_out_segs));
        single(out, &TCP_RETRANS_SEGS, u(p.tcp_retrans_segs));
        single(out, &TCP_IN_ERRS, u(p.tcp_in_errs));
        single(out, &TCP_OUT_RSTS, u(p.tcp_out_rsts));
        single(out, &UDP_IN, u(p.udp_in_datagrams));
        single(out, &UDP_OUT, u(p.udp_out_datagrams));
        single(out, &UDP_NO_PORTS, u(p.udp_no_ports));
        single(out, &UDP_IN_ERRORS, u(p.udp_in_errors));
        single(out, &UDP_RCVBUF, u(p.udp_rcvbuf_errors));
        single(out, &UDP_SNDBUF, u(p.udp_sndbuf_errors));
        single(out, &TCP_ATTEMPT_FAILS, u(p.tcp_attempt_fails));
        single(out, &TCP_ESTAB_RESETS, u(p.tcp_estab_resets));
    }

    let p = &s.pressure;
    single(out, &PSI_CPU_SOME, stall(p, "cpu", "some"));
    single(out, &PSI_CPU_FULL, stall(p, "cpu", "full"));
    single(out, &PSI_MEM_SOME, stall(p, "memory", "some"));
    single(out, &PSI_MEM_FULL, stall(p, "memory", "full"));
    single(out, &PSI_IO_SOME, stall(p, "io", "some"));
    single(out, &PSI_IO_FULL, stall(p, "io", "full"));
    single(out, &PSI_IRQ_FULL, stall(p, "irq", "full"));
    family(
        out,
        &PSI_AVG10,
        p,
        |r, l| {
            l.add("resource", &r.resource);
            l.add("kind", &r.kind);
        },
        |r| Some(r.avg10_pct / 100.0),
    );

    let sl = |r: &&SensorsRow, l: &mut Labels<'_>| {
        l.add("sensor", &r.sensor);
        l.add("chip", r.chip.as_deref().unwrap_or(""));
        l.add("label", r.label.as_deref().unwrap_or(""));
    };
    family(out, &SENSOR_TEMP, &s.sensors, sl, |r| r.temp_celsius);
    family(out, &SENSOR_FAN, &s.sensors, sl, |r| u(r.fan_rpm));

    if let Some(procs) = &s.processes {
        let pl = |r: &&ProcessesRow, l: &mut Labels<'_>| {
            l.add("pid", r.pid);
            l.add("name", &r.name);
        };
        let items = procs.iter().flat_map(|r| {
            [("user", r.cpu_user_seconds), ("system", r.cpu_system_seconds)]
                .into_iter()
                .map(move |(m, v)| (r, m, v))
        });
        family(
            out,
            &PROC_CPU,
            items,
            |(r, m, _), l| {
                l.add("pid", r.pid);
                l.add("name", &r.name);
                l.add("mode", m);
            },
            |(_, _, v)| Some(*v),
        );
        family(out, &PROC_RSS, procs, pl, |r| Some(r.rss_bytes as f64));
        family(out, &PROC_VMS, procs, pl, |r| Some(r.vms_bytes as f64));
        family(out, &PROC_THREADS, procs, pl, |r| Some(r.threads as f64));
        family(out, &PROC_FDS, procs, pl, |r| u(r.open_fds));
        family(out, &PROC_READ, procs, pl, |r| u(r.read_bytes));
        family(out, &PROC_WRITTEN, procs, pl, |r| u(r.written_bytes));
    }
    if let Some(cg) = &s.cgroups {
        let cl = |r: &&CgroupsRow, l: &mut Labels<'_>| {
            l.add("hierarchy", &r.hierarchy);
            l.add("path", &r.path);
        };
        family(out, &CG_CPU, cg, cl, |r| r.cpu_usage_seconds);
        family(out, &CG_THROTTLED, cg, cl, |r| r.cpu_throttled_seconds);
        family(out, &CG_MEM, cg, cl, |r| u(r.mem_current_bytes));
        family(out, &CG_MEM_MAX, cg, cl, |r| u(r.mem_max_bytes));
        family(out, &CG_IO_READ, cg, cl, |r| u(r.io_read_bytes));
        family(out, &CG_IO_WRITTEN, cg, cl, |r| u(r.io_written_bytes));
        family(out, &CG_PIDS, cg, cl, |r| u(r.pids_current));
    }
    let alert_labels = |r: &&sysmon_live::alerts::Series, l: &mut Labels<'_>, state: bool| {
        l.add("alertname", &r.alertname);
        if state {
            l.add("alertstate", r.state);
        }
        if let Some(s) = &r.severity {
            l.add("severity", s);
        }
        for (k, v) in &r.labels {
            let name = label_name(k);
            if !matches!(name.as_str(), "alertname" | "alertstate" | "severity") {
                l.add(&name, v);
            }
        }
    };
    family(out, &ALERTS, &s.alerts, |r, l| alert_labels(r, l, true), |_| Some(1.0));
    family(
        out,
        &ALERTS_FOR_STATE,
        &s.alerts,
        |r, l| alert_labels(r, l, false),
        |r| Some(r.active_since_us as f64 / 1e6),
    );
}

/// A column name as a Prometheus label name: characters other than letters, digits and `_`
/// become `_`, and a leading digit gets a `_` before it.
fn label_name(column: &str) -> String {
    let mut out: String = column
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use super::*;
    use sysmon_kernel::procfs::Roots;
    use sysmon_live::LiveState;

    /// A snapshot of the `modern` fixture tree (every table that reads it).
    fn fixture() -> Snapshot {
        let state = LiveState::new(Roots::test_fixture("modern"));
        let s = state.sample_now().unwrap();
        let w = HostWindow {
            base: s.clone(),
            now: Arc::clone(&s),
        };
        use sysmon_tables::*;
        Snapshot {
            metrics: metrics::Metrics::rows(&w, &state, &()).unwrap().pop(),
            boot_time: s
                .stat
                .boot_time
                .map(|b| sysmon_tables::schema::Timestamp::from_micros(b as i64 * 1_000_000)),
            cpus: cpus::Cpus::rows(&w, &state, &()).unwrap(),
            disks: disks::Disks::rows(&w, &state, &Default::default()).unwrap(),
            filesystems: Vec::new(),
            networks: networks::Networks::rows(&w, &state, &()).unwrap(),
            net_protocols: net_protocols::NetProtocols::rows(&w, &state, &()).unwrap().pop(),
            pressure: pressure::Pressure::rows(&w, &state, &()).unwrap(),
            sensors: Vec::new(),
            processes: None,
            cgroups: None,
            alerts: Vec::new(),
        }
    }

    /// Parses the text format strictly enough to catch what `promtool check metrics` refuses:
    /// families contiguous, HELP and TYPE before samples, names and label names valid.
    /// Each family's type and samples (labels, value).
    type Parsed = BTreeMap<String, (String, Vec<(BTreeMap<String, String>, f64)>)>;

    fn parse(text: &str) -> Parsed {
        let mut out: Parsed = BTreeMap::new();
        let mut current = String::new();
        let valid = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .enumerate()
                    .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
        };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(!out.contains_key(&name), "family {name} appears twice");
                assert!(valid(&name), "{name}");
                current = name;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split(' ');
                let name = it.next().unwrap();
                assert_eq!(name, current, "TYPE follows its HELP");
                out.insert(current.clone(), (it.next().unwrap().to_string(), Vec::new()));
            } else {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let (name, labels) = match series.split_once('{') {
                    Some((n, l)) => (n, l.strip_suffix('}').unwrap()),
                    None => (series, ""),
                };
                assert_eq!(name, current, "sample of {name} outside its family");
                let mut map = BTreeMap::new();
                if !labels.is_empty() {
                    // Values in this test have no quotes or commas inside.
                    for pair in labels.split("\",") {
                        let (k, v) = pair.split_once("=\"").unwrap();
                        assert!(valid(k), "{k}");
                        map.insert(k.to_string(), v.trim_end_matches('"').to_string());
                    }
                }
                let v: f64 = value.parse().unwrap();
                out.get_mut(name).unwrap().1.push((map, v));
            }
        }
        out
    }

    #[test]
    fn fixture_renders_node_exporter_names_and_labels() {
        let snap = fixture();
        let text = render(&snap);
        let fams = parse(&text);
        let (kind, cpu) = &fams["node_cpu_seconds_total"];
        assert_eq!(kind, "counter");
        assert_eq!(cpu.len(), 2 * 8, "2 CPUs × 8 modes");
        let user0 = cpu
            .iter()
            .find(|(l, _)| l["cpu"] == "0" && l["mode"] == "user")
            .unwrap()
            .1;
        assert_eq!(Some(user0), snap.cpus[0].cpu_times.cpu_user_seconds);
        let avail = fams["node_memory_MemAvailable_bytes"].1[0].1;
        assert_eq!(avail, 2_971_956.0 * 1024.0);
        assert_eq!(fams["node_load1"].0, "gauge");
        // Partitions and loop devices are left out, as node_exporter does by default.
        let devices: BTreeSet<&str> = fams["node_disk_read_bytes_total"]
            .1
            .iter()
            .map(|(l, _)| l["device"].as_str())
            .collect();
        assert!(devices.contains("vda"), "{devices:?}");
        assert!(!devices.contains("vda1") && !devices.contains("loop0"), "{devices:?}");
        let vda = fams["node_disk_read_bytes_total"]
            .1
            .iter()
            .find(|(l, _)| l["device"] == "vda")
            .unwrap()
            .1;
        assert_eq!(vda, 2882322.0 * 512.0);
        let eth0 = fams["node_network_receive_bytes_total"]
            .1
            .iter()
            .find(|(l, _)| l["device"] == "eth0")
            .unwrap()
            .1;
        assert_eq!(eth0, 987_654_321.0);
        assert!(fams.contains_key("node_pressure_cpu_waiting_seconds_total"));
        assert!(
            !fams.contains_key("node_pressure_irq_stalled_seconds_total"),
            "the fixture has no irq file"
        );
        assert!(
            !fams.keys().any(|k| k.starts_with("sysmon_process")),
            "processes only when asked"
        );
    }

    #[test]
    fn every_rendered_family_is_declared_with_its_labels_and_type() {
        let mut snap = fixture();
        snap.filesystems = vec![FilesystemsRow {
            ts: Default::default(),
            hostname: "h".into(),
            device: "/dev/vda1".into(),
            mount_point: "/".into(),
            fs_type: "ext4".into(),
            mount_options: "rw".into(),
            read_only: false,
            total_bytes: Some(100),
            free_bytes: Some(50),
            available_bytes: Some(40),
            used_bytes: Some(50),
            used_pct: Some(55.5),
            inodes_total: Some(10),
            inodes_free: Some(5),
            inodes_used: Some(5),
            stat_error: None,
        }];
        let text = render(&snap);
        for (name, (kind, samples)) in parse(&text) {
            let f = FAMILIES
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name} not in FAMILIES"));
            assert_eq!(kind, f.kind.as_str(), "{name}");
            for (labels, _) in samples {
                let got: Vec<&str> = labels.keys().map(String::as_str).collect();
                let mut want: Vec<&str> = f.labels.to_vec();
                want.sort();
                assert_eq!(got, want, "{name}");
            }
            assert!(
                f.kind != Kind::Counter || name.ends_with("_total"),
                "{name}: a counter's name ends in _total"
            );
        }
        let names: BTreeSet<&str> = FAMILIES.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), FAMILIES.len(), "a family declared twice");
    }

    #[test]
    fn alerts_render_as_prometheus_names_them() {
        let snap = Snapshot {
            alerts: vec![sysmon_live::alerts::Series {
                alertname: "disk_full".into(),
                state: "firing",
                severity: Some("page".into()),
                labels: vec![("mount point".into(), "/".into()), ("alertname".into(), "x".into())],
                value: Some(93.5),
                active_since_us: 1_796_613_120_000_000,
                summary: None,
            }],
            ..Snapshot::default()
        };
        let text = render(&snap);
        assert!(
            text.contains(r#"ALERTS{alertname="disk_full",alertstate="firing",severity="page",mount_point="/"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"ALERTS_FOR_STATE{alertname="disk_full",severity="page",mount_point="/"} 1796613120"#),
            "{text}"
        );
        let parsed = parse(&text);
        assert_eq!(parsed["ALERTS"].0, "gauge");
        assert_eq!(label_name("1x-y"), "_1x_y");
    }

    #[test]
    fn null_columns_give_no_sample_and_labels_are_escaped() {
        let mut snap = Snapshot::default();
        let mut text = render(&snap);
        assert!(text.is_empty(), "no rows, no families: {text}");
        snap.sensors = vec![SensorsRow {
            ts: Default::default(),
            hostname: "h".into(),
            sensor: "weird/temp1".into(),
            chip: Some("a\"b\\c\nd".into()),
            device: "hwmon0".into(),
            label: None,
            temp_celsius: Some(41.5),
            high_celsius: None,
            critical_celsius: None,
            fan_rpm: None,
        }];
        text = render(&snap);
        assert!(
            text.contains(r#"sysmon_sensor_temperature_celsius{sensor="weird/temp1",chip="a\"b\\c\nd",label=""} 41.5"#),
            "{text}"
        );
        assert!(
            !text.contains("sysmon_sensor_fan_rpm"),
            "a NULL fan gives no family: {text}"
        );
    }

    #[test]
    fn values_are_written_as_prometheus_reads_them() {
        let mut s = String::new();
        for v in [3.0, 0.25, f64::NAN, f64::INFINITY, 1e18, -2.0] {
            push_value(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "3 0.25 NaN +Inf 1000000000000000000 -2 ");
    }

    #[test]
    fn disk_filter_is_node_exporters() {
        for d in [
            "sda1",
            "vda2",
            "xvda1",
            "nvme0n1p3",
            "loop7",
            "ram0",
            "zram1",
            "fd0",
            "hdb4",
        ] {
            assert!(disk_excluded(d), "{d}");
        }
        for d in ["sda", "vda", "nvme0n1", "dm-0", "md0", "loop", "sr0", "mmcblk0"] {
            assert!(!disk_excluded(d), "{d}");
        }
    }

    #[test]
    fn prometheus_doc_mapping_is_current() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/prometheus.md")).unwrap();
        let table = markdown_mapping();
        assert!(
            doc.contains(&table),
            "docs/prometheus.md's /metrics mapping is stale: run `make docs` (or paste sysmon_serve::metrics::markdown_mapping())"
        );
    }
}
