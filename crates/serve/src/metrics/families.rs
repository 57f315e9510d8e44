//! Every family `/metrics` renders, described once ([`FAMILIES`]: name, type, labels, the
//! column it comes from, whether node_exporter has it), and the docs' mapping table generated
//! from that list ([`markdown_mapping`]).

use std::fmt::Write as _;

/// A family's Prometheus type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// As node_exporter types the `netstat` fields (counters and gauges mixed, names without `_total`).
    Untyped,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "untyped",
        }
    }
}

/// Which scrapes render a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Every scrape.
    Host,
    /// Only with `collect[]=processes`.
    Processes,
    /// Only with `collect[]=cgroups`.
    Cgroups,
}

/// One metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    /// Where the value comes from: `system_<table>.<column>` (and the conversion, if any).
    pub source: &'static str,
    /// Whether node_exporter exposes this name (with these labels).
    pub node_exporter: bool,
    pub group: Group,
}

macro_rules! families {
    ($( $id:ident = $name:literal, $kind:ident, [$($label:literal),*], $node:literal, $group:ident, $source:literal, $help:literal; )*) => {
        $( pub(super) const $id: Family = Family {
            name: $name,
            kind: Kind::$kind,
            help: $help,
            labels: &[$($label),*],
            source: $source,
            node_exporter: $node,
            group: Group::$group,
        }; )*
        /// Every family `/metrics` can render, in output order.
        pub const FAMILIES: &[Family] = &[$($id),*];
    };
}

families! {
    CPU_SECONDS = "node_cpu_seconds_total", Counter, ["cpu", "mode"], true, Host, "system_cpus.cpu_{user,nice,system,idle,iowait,irq,softirq,steal}_seconds, one mode each", "Seconds the CPUs spent in each mode.";
    CPU_GUEST = "node_cpu_guest_seconds_total", Counter, ["cpu", "mode"], true, Host, "system_cpus.cpu_guest_seconds (mode user), cpu_guest_nice_seconds (mode nice)", "Seconds the CPUs spent running guests.";
    CPU_FREQ = "sysmon_cpu_frequency_hertz", Gauge, ["cpu"], false, Host, "system_cpus.freq_mhz × 10⁶", "Current CPU clock (cpufreq scaling_cur_freq, else /proc/cpuinfo).";
    LOAD1 = "node_load1", Gauge, [], true, Host, "system_metrics.load_1m", "1m load average.";
    LOAD5 = "node_load5", Gauge, [], true, Host, "system_metrics.load_5m", "5m load average.";
    LOAD15 = "node_load15", Gauge, [], true, Host, "system_metrics.load_15m", "15m load average.";
    MEM_TOTAL = "node_memory_MemTotal_bytes", Gauge, [], true, Host, "system_metrics.mem_total_bytes", "Memory information field MemTotal_bytes.";
    MEM_FREE = "node_memory_MemFree_bytes", Gauge, [], true, Host, "system_metrics.mem_free_bytes", "Memory information field MemFree_bytes.";
    MEM_AVAILABLE = "node_memory_MemAvailable_bytes", Gauge, [], true, Host, "system_metrics.mem_available_bytes", "Memory information field MemAvailable_bytes.";
    MEM_BUFFERS = "node_memory_Buffers_bytes", Gauge, [], true, Host, "system_metrics.mem_buffers_bytes", "Memory information field Buffers_bytes.";
    MEM_SHMEM = "node_memory_Shmem_bytes", Gauge, [], true, Host, "system_metrics.mem_shared_bytes", "Memory information field Shmem_bytes.";
    MEM_DIRTY = "node_memory_Dirty_bytes", Gauge, [], true, Host, "system_metrics.mem_dirty_bytes", "Memory information field Dirty_bytes.";
    SWAP_TOTAL = "node_memory_SwapTotal_bytes", Gauge, [], true, Host, "system_metrics.swap_total_bytes", "Memory information field SwapTotal_bytes.";
    SWAP_FREE = "node_memory_SwapFree_bytes", Gauge, [], true, Host, "system_metrics.swap_free_bytes", "Memory information field SwapFree_bytes.";
    MEM_CACHED = "sysmon_memory_cached_bytes", Gauge, [], false, Host, "system_metrics.mem_cached_bytes (Cached + SReclaimable, as free shows it; node_memory_Cached_bytes is Cached alone)", "Page cache and reclaimable slab.";
    MEM_USED = "sysmon_memory_used_bytes", Gauge, [], false, Host, "system_metrics.mem_used_bytes", "Memory used: MemTotal - MemAvailable.";
    PROCS_RUNNING = "node_procs_running", Gauge, [], true, Host, "system_metrics.procs_running", "Number of processes in runnable state.";
    PROCS_BLOCKED = "node_procs_blocked", Gauge, [], true, Host, "system_metrics.procs_blocked", "Number of processes blocked waiting for I/O to complete.";
    PROCS_TOTAL = "sysmon_tasks", Gauge, [], false, Host, "system_metrics.procs_total", "Tasks (processes and threads) that exist, from /proc/loadavg.";
    CONTEXT_SWITCHES = "node_context_switches_total", Counter, [], true, Host, "system_metrics.context_switches", "Total number of context switches.";
    INTERRUPTS = "node_intr_total", Counter, [], true, Host, "system_metrics.interrupts", "Total number of interrupts serviced.";
    FORKS = "node_forks_total", Counter, [], true, Host, "system_metrics.forks", "Total number of forks.";
    UPTIME = "sysmon_uptime_seconds", Gauge, [], false, Host, "system_metrics.uptime_seconds", "Time since boot.";
    BOOT_TIME = "node_boot_time_seconds", Gauge, [], true, Host, "system_info.boot_time (btime of /proc/stat), seconds since the epoch", "Node boot time, in unixtime.";
    TIME = "node_time_seconds", Gauge, [], true, Host, "system_metrics.ts, seconds since the epoch", "System time in seconds since epoch (1970).";
    DISK_READ_BYTES = "node_disk_read_bytes_total", Counter, ["device"], true, Host, "system_disks.read_bytes", "The total number of bytes read successfully.";
    DISK_WRITTEN_BYTES = "node_disk_written_bytes_total", Counter, ["device"], true, Host, "system_disks.written_bytes", "The total number of bytes written successfully.";
    DISK_READS = "node_disk_reads_completed_total", Counter, ["device"], true, Host, "system_disks.reads_completed", "The total number of reads completed successfully.";
    DISK_WRITES = "node_disk_writes_completed_total", Counter, ["device"], true, Host, "system_disks.writes_completed", "The total number of writes completed successfully.";
    DISK_READS_MERGED = "node_disk_reads_merged_total", Counter, ["device"], true, Host, "system_disks.reads_merged", "The total number of reads merged.";
    DISK_WRITES_MERGED = "node_disk_writes_merged_total", Counter, ["device"], true, Host, "system_disks.writes_merged", "The number of writes merged.";
    DISK_READ_TIME = "node_disk_read_time_seconds_total", Counter, ["device"], true, Host, "system_disks.read_time_seconds", "The total number of seconds spent by all reads.";
    DISK_WRITE_TIME = "node_disk_write_time_seconds_total", Counter, ["device"], true, Host, "system_disks.write_time_seconds", "This is the total number of seconds spent by all writes.";
    DISK_IO_NOW = "node_disk_io_now", Gauge, ["device"], true, Host, "system_disks.io_in_progress", "The number of I/Os currently in progress.";
    DISK_IO_TIME = "node_disk_io_time_seconds_total", Counter, ["device"], true, Host, "system_disks.io_time_seconds", "Total seconds spent doing I/Os.";
    DISK_IO_WEIGHTED = "node_disk_io_time_weighted_seconds_total", Counter, ["device"], true, Host, "system_disks.weighted_io_time_seconds", "The weighted # of seconds spent doing I/Os.";
    DISK_DISCARDS = "node_disk_discards_completed_total", Counter, ["device"], true, Host, "system_disks.discards_completed", "The total number of discards completed successfully.";
    DISK_DISCARDS_MERGED = "node_disk_discards_merged_total", Counter, ["device"], true, Host, "system_disks.discards_merged", "The total number of discards merged.";
    DISK_DISCARDED_SECTORS = "node_disk_discarded_sectors_total", Counter, ["device"], true, Host, "system_disks.discarded_bytes ÷ 512", "The total number of sectors discarded successfully.";
    DISK_DISCARD_TIME = "node_disk_discard_time_seconds_total", Counter, ["device"], true, Host, "system_disks.discard_time_seconds", "This is the total number of seconds spent by all discards.";
    DISK_FLUSHES = "node_disk_flush_requests_total", Counter, ["device"], true, Host, "system_disks.flushes_completed", "The total number of flush requests completed successfully.";
    DISK_FLUSH_TIME = "node_disk_flush_requests_time_seconds_total", Counter, ["device"], true, Host, "system_disks.flush_time_seconds", "This is the total number of seconds spent by all flush requests.";
    FS_SIZE = "node_filesystem_size_bytes", Gauge, ["device", "fstype", "mountpoint"], true, Host, "system_filesystems.total_bytes", "Filesystem size in bytes.";
    FS_FREE = "node_filesystem_free_bytes", Gauge, ["device", "fstype", "mountpoint"], true, Host, "system_filesystems.free_bytes", "Filesystem free space in bytes.";
    FS_AVAIL = "node_filesystem_avail_bytes", Gauge, ["device", "fstype", "mountpoint"], true, Host, "system_filesystems.available_bytes", "Filesystem space available to non-root users in bytes.";
    FS_FILES = "node_filesystem_files", Gauge, ["device", "fstype", "mountpoint"], true, Host, "system_filesystems.inodes_total", "Filesystem total file nodes.";
    FS_FILES_FREE = "node_filesystem_files_free", Gauge, ["device", "fstype", "mountpoint"], true, Host, "system_filesystems.inodes_free", "Filesystem total free file nodes.";
    FS_READONLY = "node_filesystem_readonly", Gauge, ["device", "fstype", "mountpoint"], true, Host, "system_filesystems.read_only (1 or 0)", "Filesystem read-only status.";
    FS_ERROR = "node_filesystem_device_error", Gauge, ["device", "fstype", "mountpoint"], true, Host, "system_filesystems.stat_error IS NOT NULL (1 or 0)", "Whether an error occurred while getting statistics for the given device.";
    NET_RX_BYTES = "node_network_receive_bytes_total", Counter, ["device"], true, Host, "system_networks.rx_bytes", "Network device statistic receive_bytes.";
    NET_TX_BYTES = "node_network_transmit_bytes_total", Counter, ["device"], true, Host, "system_networks.tx_bytes", "Network device statistic transmit_bytes.";
    NET_RX_PACKETS = "node_network_receive_packets_total", Counter, ["device"], true, Host, "system_networks.rx_packets", "Network device statistic receive_packets.";
    NET_TX_PACKETS = "node_network_transmit_packets_total", Counter, ["device"], true, Host, "system_networks.tx_packets", "Network device statistic transmit_packets.";
    NET_RX_ERRS = "node_network_receive_errs_total", Counter, ["device"], true, Host, "system_networks.rx_errors", "Network device statistic receive_errs.";
    NET_TX_ERRS = "node_network_transmit_errs_total", Counter, ["device"], true, Host, "system_networks.tx_errors", "Network device statistic transmit_errs.";
    NET_RX_DROP = "node_network_receive_drop_total", Counter, ["device"], true, Host, "system_networks.rx_dropped", "Network device statistic receive_drop.";
    NET_TX_DROP = "node_network_transmit_drop_total", Counter, ["device"], true, Host, "system_networks.tx_dropped", "Network device statistic transmit_drop.";
    NET_RX_FIFO = "node_network_receive_fifo_total", Counter, ["device"], true, Host, "system_networks.rx_fifo", "Network device statistic receive_fifo.";
    NET_TX_FIFO = "node_network_transmit_fifo_total", Counter, ["device"], true, Host, "system_networks.tx_fifo", "Network device statistic transmit_fifo.";
    NET_RX_FRAME = "node_network_receive_frame_total", Counter, ["device"], true, Host, "system_networks.rx_frame", "Network device statistic receive_frame.";
    NET_TX_COLLS = "node_network_transmit_colls_total", Counter, ["device"], true, Host, "system_networks.tx_collisions", "Network device statistic transmit_colls.";
    NET_TX_CARRIER = "node_network_transmit_carrier_total", Counter, ["device"], true, Host, "system_networks.tx_carrier", "Network device statistic transmit_carrier.";
    NET_RX_COMPRESSED = "node_network_receive_compressed_total", Counter, ["device"], true, Host, "system_networks.rx_compressed", "Network device statistic receive_compressed.";
    NET_TX_COMPRESSED = "node_network_transmit_compressed_total", Counter, ["device"], true, Host, "system_networks.tx_compressed", "Network device statistic transmit_compressed.";
    NET_RX_MULTICAST = "node_network_receive_multicast_total", Counter, ["device"], true, Host, "system_networks.rx_multicast", "Network device statistic receive_multicast.";
    NET_MTU = "node_network_mtu_bytes", Gauge, ["device"], true, Host, "system_networks.mtu", "Network device property: mtu_bytes.";
    NET_SPEED = "node_network_speed_bytes", Gauge, ["device"], true, Host, "system_networks.speed_bits_per_sec ÷ 8", "Network device property: speed_bytes.";
    NET_UP = "node_network_up", Gauge, ["device"], true, Host, "system_networks.oper_state = 'up' (1 or 0)", "Value is 1 if operstate is 'up', 0 otherwise.";
    TCP_ACTIVE_OPENS = "node_netstat_Tcp_ActiveOpens", Untyped, [], true, Host, "system_net_protocols.tcp_active_opens", "Statistic TcpActiveOpens.";
    TCP_PASSIVE_OPENS = "node_netstat_Tcp_PassiveOpens", Untyped, [], true, Host, "system_net_protocols.tcp_passive_opens", "Statistic TcpPassiveOpens.";
    TCP_CURR_ESTAB = "node_netstat_Tcp_CurrEstab", Untyped, [], true, Host, "system_net_protocols.tcp_curr_estab", "Statistic TcpCurrEstab.";
    TCP_IN_SEGS = "node_netstat_Tcp_InSegs", Untyped, [], true, Host, "system_net_protocols.tcp_in_segs", "Statistic TcpInSegs.";
    TCP_OUT_SEGS = "node_netstat_Tcp_OutSegs", Untyped, [], true, Host, "system_net_protocols.tcp_out_segs", "Statistic TcpOutSegs.";
    TCP_RETRANS_SEGS = "node_netstat_Tcp_RetransSegs", Untyped, [], true, Host, "system_net_protocols.tcp_retrans_segs", "Statistic TcpRetransSegs.";
    TCP_IN_ERRS = "node_netstat_Tcp_InErrs", Untyped, [], true, Host, "system_net_protocols.tcp_in_errs", "Statistic TcpInErrs.";
    TCP_OUT_RSTS = "node_netstat_Tcp_OutRsts", Untyped, [], true, Host, "system_net_protocols.tcp_out_rsts", "Statistic TcpOutRsts.";
    UDP_IN = "node_netstat_Udp_InDatagrams", Untyped, [], true, Host, "system_net_protocols.udp_in_datagrams", "Statistic UdpInDatagrams.";
    UDP_OUT = "node_netstat_Udp_OutDatagrams", Untyped, [], true, Host, "system_net_protocols.udp_out_datagrams", "Statistic UdpOutDatagrams.";
    UDP_NO_PORTS = "node_netstat_Udp_NoPorts", Untyped, [], true, Host, "system_net_protocols.udp_no_ports", "Statistic UdpNoPorts.";
    UDP_IN_ERRORS = "node_netstat_Udp_InErrors", Untyped, [], true, Host, "system_net_protocols.udp_in_errors", "Statistic UdpInErrors.";
    UDP_RCVBUF = "node_netstat_Udp_RcvbufErrors", Untyped, [], true, Host, "system_net_protocols.udp_rcvbuf_errors", "Statistic UdpRcvbufErrors.";
    UDP_SNDBUF = "node_netstat_Udp_SndbufErrors", Untyped, [], true, Host, "system_net_protocols.udp_sndbuf_errors", "Statistic UdpSndbufErrors.";
    TCP_ATTEMPT_FAILS = "sysmon_tcp_attempt_fails_total", Counter, [], false, Host, "system_net_protocols.tcp_attempt_fails", "TCP connection attempts that failed.";
    TCP_ESTAB_RESETS = "sysmon_tcp_estab_resets_total", Counter, [], false, Host, "system_net_protocols.tcp_estab_resets", "TCP connections reset from ESTABLISHED or CLOSE-WAIT.";
    PSI_CPU_SOME = "node_pressure_cpu_waiting_seconds_total", Counter, [], true, Host, "system_pressure.total_stall_us ÷ 10⁶ (cpu, some)", "Total time in seconds that processes have waited for CPU time.";
    PSI_CPU_FULL = "node_pressure_cpu_stalled_seconds_total", Counter, [], true, Host, "system_pressure.total_stall_us ÷ 10⁶ (cpu, full)", "Total time in seconds no process could make progress due to CPU congestion (node_exporter 1.8 and later).";
    PSI_MEM_SOME = "node_pressure_memory_waiting_seconds_total", Counter, [], true, Host, "system_pressure.total_stall_us ÷ 10⁶ (memory, some)", "Total time in seconds that processes have waited for memory.";
    PSI_MEM_FULL = "node_pressure_memory_stalled_seconds_total", Counter, [], true, Host, "system_pressure.total_stall_us ÷ 10⁶ (memory, full)", "Total time in seconds no process could make progress due to memory congestion.";
    PSI_IO_SOME = "node_pressure_io_waiting_seconds_total", Counter, [], true, Host, "system_pressure.total_stall_us ÷ 10⁶ (io, some)", "Total time in seconds that processes have waited due to IO congestion.";
    PSI_IO_FULL = "node_pressure_io_stalled_seconds_total", Counter, [], true, Host, "system_pressure.total_stall_us ÷ 10⁶ (io, full)", "Total time in seconds no process could make progress due to IO congestion.";
    PSI_IRQ_FULL = "node_pressure_irq_stalled_seconds_total", Counter, [], true, Host, "system_pressure.total_stall_us ÷ 10⁶ (irq, full)", "Total time in seconds no process could make progress due to IRQ congestion (node_exporter 1.8 and later).";
    PSI_AVG10 = "sysmon_pressure_avg10_ratio", Gauge, ["resource", "kind"], false, Host, "system_pressure.avg10_pct ÷ 100", "Share of the last 10 s stalled, as the kernel averages it.";
    SENSOR_TEMP = "sysmon_sensor_temperature_celsius", Gauge, ["sensor", "chip", "label"], false, Host, "system_sensors.temp_celsius", "Temperature of a hwmon input or thermal zone.";
    SENSOR_FAN = "sysmon_sensor_fan_rpm", Gauge, ["sensor", "chip", "label"], false, Host, "system_sensors.fan_rpm", "Fan speed.";
    PROC_CPU = "sysmon_process_cpu_seconds_total", Counter, ["pid", "name", "mode"], false, Processes, "system_processes.cpu_user_seconds (mode user), cpu_system_seconds (mode system)", "CPU time of a process since it started.";
    PROC_RSS = "sysmon_process_resident_memory_bytes", Gauge, ["pid", "name"], false, Processes, "system_processes.rss_bytes", "Resident memory of a process.";
    PROC_VMS = "sysmon_process_virtual_memory_bytes", Gauge, ["pid", "name"], false, Processes, "system_processes.vms_bytes", "Virtual memory size of a process.";
    PROC_THREADS = "sysmon_process_threads", Gauge, ["pid", "name"], false, Processes, "system_processes.threads", "Threads of a process.";
    PROC_FDS = "sysmon_process_open_fds", Gauge, ["pid", "name"], false, Processes, "system_processes.open_fds", "Open file descriptors of a process.";
    PROC_READ = "sysmon_process_read_bytes_total", Counter, ["pid", "name"], false, Processes, "system_processes.read_bytes", "Bytes a process caused to be read from storage.";
    PROC_WRITTEN = "sysmon_process_written_bytes_total", Counter, ["pid", "name"], false, Processes, "system_processes.written_bytes", "Bytes a process caused to be written to storage.";
    CG_CPU = "sysmon_cgroup_cpu_usage_seconds_total", Counter, ["hierarchy", "path"], false, Cgroups, "system_cgroups.cpu_usage_seconds", "CPU time used by a cgroup.";
    CG_THROTTLED = "sysmon_cgroup_cpu_throttled_seconds_total", Counter, ["hierarchy", "path"], false, Cgroups, "system_cgroups.cpu_throttled_seconds", "Time a cgroup was throttled by its CPU limit.";
    CG_MEM = "sysmon_cgroup_memory_current_bytes", Gauge, ["hierarchy", "path"], false, Cgroups, "system_cgroups.mem_current_bytes", "Memory charged to a cgroup.";
    CG_MEM_MAX = "sysmon_cgroup_memory_max_bytes", Gauge, ["hierarchy", "path"], false, Cgroups, "system_cgroups.mem_max_bytes (no sample when unlimited)", "Memory limit of a cgroup.";
    CG_IO_READ = "sysmon_cgroup_io_read_bytes_total", Counter, ["hierarchy", "path"], false, Cgroups, "system_cgroups.io_read_bytes", "Bytes read by a cgroup.";
    CG_IO_WRITTEN = "sysmon_cgroup_io_written_bytes_total", Counter, ["hierarchy", "path"], false, Cgroups, "system_cgroups.io_written_bytes", "Bytes written by a cgroup.";
    CG_PIDS = "sysmon_cgroup_pids", Gauge, ["hierarchy", "path"], false, Cgroups, "system_cgroups.pids_current", "Tasks in a cgroup.";
    ALERTS = "ALERTS", Gauge, ["alertname", "alertstate", "severity"], false, Host, "alerts() (1 per pending or firing instance; its labels added, `severity` when set)", "Alerts pending or firing, as Prometheus names them.";
    ALERTS_FOR_STATE = "ALERTS_FOR_STATE", Gauge, ["alertname", "severity"], false, Host, "alerts().active_since (Unix seconds; its labels added)", "When each pending or firing alert instance became active, as Prometheus names it.";
}

/// The markers of the mapping table in docs/prometheus.md (`make docs` rewrites what is between them).
pub const README_BEGIN: &str = "<!-- BEGIN GENERATED METRICS MAPPING (make docs) -->";
pub const README_END: &str = "<!-- END GENERATED METRICS MAPPING -->";

/// docs/prometheus.md's mapping table: one row per family.
pub fn markdown_mapping() -> String {
    let mut s = String::from("| metric | type | labels | from | node_exporter has it |\n|---|---|---|---|---|\n");
    for f in FAMILIES {
        let labels: Vec<String> = f.labels.iter().map(|l| format!("`{l}`")).collect();
        let when = match f.group {
            Group::Host => "",
            Group::Processes => " (with `collect[]=processes`)",
            Group::Cgroups => " (with `collect[]=cgroups`)",
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {}{} | {} |",
            f.name,
            f.kind.as_str(),
            labels.join(", "),
            f.source,
            when,
            if f.node_exporter { "yes" } else { "no" }
        );
    }
    s
}
