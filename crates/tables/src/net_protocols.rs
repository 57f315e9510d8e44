//! `system_net_protocols()`: host-wide TCP and UDP totals from `/proc/net/snmp`, one row.
//!
//! A table of its own rather than more `system_metrics()` columns: the protocol counters are
//! a topic of their own (retransmits, resets, UDP buffer errors), keep `system_metrics()`
//! narrow, and can grow (IP, ICMP, `netstat` extensions) without widening it.

use std::io;

use super::rate;
use super::{HostPath, HostWindow, Table};
use crate::schema::Timestamp;
use sysmon_kernel::sample::HostSample;
use sysmon_live::LiveState;

crate::declare_table! {
    /// One row: the host's IPv4 TCP and UDP counters since boot (/proc/net/snmp, which
    /// counts IPv6 traffic too for TCP), and rates over the window that ends at `ts` and lasts
    /// `window_seconds`. NULL where the kernel does not print the field (or the file is
    /// unreadable, e.g. outside the host's network namespace).
    pub struct NetProtocolsRow => "system_net_protocols", recorded as "net_protocols" every interval {
        /// When the sample was taken.
        ts: Timestamp [""],
        /// Host name at the sample time.
        hostname: String [""],
        /// TCP connections opened actively (connect) since boot.
        tcp_active_opens: Option<u64> [""],
        /// TCP connections opened passively (accept) since boot.
        tcp_passive_opens: Option<u64> [""],
        /// TCP connection attempts that failed.
        tcp_attempt_fails: Option<u64> [""],
        /// TCP connections reset from ESTABLISHED or CLOSE-WAIT.
        tcp_estab_resets: Option<u64> [""],
        /// TCP connections ESTABLISHED or CLOSE-WAIT now (a gauge).
        tcp_curr_estab: Option<u64> [""],
        /// TCP segments received.
        tcp_in_segs: Option<u64> [""],
        /// TCP segments sent (retransmissions excluded).
        tcp_out_segs: Option<u64> [""],
        /// TCP segments retransmitted.
        tcp_retrans_segs: Option<u64> [""],
        /// TCP segments received in error.
        tcp_in_errs: Option<u64> [""],
        /// TCP segments sent with RST.
        tcp_out_rsts: Option<u64> [""],
        /// UDP datagrams delivered.
        udp_in_datagrams: Option<u64> [""],
        /// UDP datagrams to a port nobody listened on.
        udp_no_ports: Option<u64> [""],
        /// UDP datagrams not delivered for other reasons.
        udp_in_errors: Option<u64> [""],
        /// UDP datagrams sent.
        udp_out_datagrams: Option<u64> [""],
        /// UDP datagrams dropped for a full receive buffer.
        udp_rcvbuf_errors: Option<u64> [""],
        /// UDP datagrams dropped for a full send buffer.
        udp_sndbuf_errors: Option<u64> [""],
        /// TCP segments received per second over the window.
        tcp_in_segs_per_sec: Option<f64> ["segments/s"],
        /// TCP segments sent per second over the window.
        tcp_out_segs_per_sec: Option<f64> ["segments/s"],
        /// TCP segments retransmitted per second over the window.
        tcp_retrans_segs_per_sec: Option<f64> ["segments/s"],
        /// UDP datagrams delivered per second over the window.
        udp_in_datagrams_per_sec: Option<f64> ["datagrams/s"],
        /// UDP datagrams sent per second over the window.
        udp_out_datagrams_per_sec: Option<f64> ["datagrams/s"],
        /// Length of the window the rates cover (monotonic clock, to 2⁻²⁰ s ≈ 1 µs).
        window_seconds: f64 ["seconds"],
    }
}

/// The row for the window from `base` to `now`.
pub fn row(base: &HostSample, now: &HostSample) -> NetProtocolsRow {
    let window_seconds = super::window_seconds(base, now);
    let s = now.snmp.unwrap_or_default();
    let b = base.snmp.unwrap_or_default();
    let r = |b: Option<u64>, n: Option<u64>| rate(b?, n?, window_seconds);
    NetProtocolsRow {
        ts: now.ts,
        hostname: now.hostname.clone(),
        tcp_active_opens: s.tcp_active_opens,
        tcp_passive_opens: s.tcp_passive_opens,
        tcp_attempt_fails: s.tcp_attempt_fails,
        tcp_estab_resets: s.tcp_estab_resets,
        tcp_curr_estab: s.tcp_curr_estab,
        tcp_in_segs: s.tcp_in_segs,
        tcp_out_segs: s.tcp_out_segs,
        tcp_retrans_segs: s.tcp_retrans_segs,
        tcp_in_errs: s.tcp_in_errs,
        tcp_out_rsts: s.tcp_out_rsts,
        udp_in_datagrams: s.udp_in_datagrams,
        udp_no_ports: s.udp_no_ports,
        udp_in_errors: s.udp_in_errors,
        udp_out_datagrams: s.udp_out_datagrams,
        udp_rcvbuf_errors: s.udp_rcvbuf_errors,
        udp_sndbuf_errors: s.udp_sndbuf_errors,
        tcp_in_segs_per_sec: r(b.tcp_in_segs, s.tcp_in_segs),
        tcp_out_segs_per_sec: r(b.tcp_out_segs, s.tcp_out_segs),
        tcp_retrans_segs_per_sec: r(b.tcp_retrans_segs, s.tcp_retrans_segs),
        udp_in_datagrams_per_sec: r(b.udp_in_datagrams, s.udp_in_datagrams),
        udp_out_datagrams_per_sec: r(b.udp_out_datagrams, s.udp_out_datagrams),
        window_seconds,
    }
}

/// `system_net_protocols()`.
pub struct NetProtocols;

impl Table for NetProtocols {
    type Row = NetProtocolsRow;
    type Options = ();
    type Input = HostWindow;
    const SUMMARY: &'static str = "One row: the TCP and UDP counters of /proc/net/snmp and their rates.";
    const EXAMPLE: &'static str =
        "SELECT tcp_curr_estab, tcp_retrans_segs_per_sec, udp_rcvbuf_errors FROM system_net_protocols()";
    const FILES: &'static [&'static str] = &[];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Proc, HostPath::Sys];

    fn rows(w: &HostWindow, _: &LiveState, _: &()) -> io::Result<Vec<NetProtocolsRow>> {
        Ok(vec![row(&w.base, &w.now)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use sysmon_kernel::procfs::Roots;
    use sysmon_kernel::sample::Collector;

    #[test]
    fn fixture_row_and_rates() {
        let mut c = Collector::new(Roots::test_fixture("modern"));
        let base = c.sample().unwrap();
        let mut now = base.clone();
        now.instant += Duration::from_secs(4);
        let s = now.snmp.as_mut().unwrap();
        s.tcp_retrans_segs = s.tcp_retrans_segs.map(|v| v + 8);
        let r = row(&base, &now);
        assert_eq!(r.tcp_active_opens, Some(1000));
        assert_eq!(r.tcp_curr_estab, Some(12));
        assert_eq!(r.tcp_retrans_segs, Some(258));
        assert_eq!(r.udp_in_errors, Some(2));
        assert_eq!(r.tcp_retrans_segs_per_sec, Some(2.0));
        assert_eq!(r.tcp_in_segs_per_sec, Some(0.0));
        assert_eq!(r.window_seconds, 4.0);
    }

    #[test]
    fn no_snmp_file_is_all_null() {
        let mut c = Collector::new(Roots::test_fixture("old-kernel"));
        let s = c.sample().unwrap();
        let r = row(&s, &s);
        assert_eq!(r.tcp_active_opens, None);
        assert_eq!(r.udp_out_datagrams_per_sec, None);
    }
}
