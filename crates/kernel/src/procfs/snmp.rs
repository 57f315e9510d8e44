//! `/proc/net/snmp`: IPv4 protocol counters. Each protocol is two lines, a header line of
//! field names and a line of values (`Tcp: ActiveOpens ...` then `Tcp: 12 ...`); fields are
//! looked up by name, so a kernel that adds or drops a field changes nothing here.

/// The TCP and UDP totals sysmon reports; `None` where the kernel did not print the field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snmp {
    pub tcp_active_opens: Option<u64>,
    pub tcp_passive_opens: Option<u64>,
    pub tcp_attempt_fails: Option<u64>,
    pub tcp_estab_resets: Option<u64>,
    pub tcp_curr_estab: Option<u64>,
    pub tcp_in_segs: Option<u64>,
    pub tcp_out_segs: Option<u64>,
    pub tcp_retrans_segs: Option<u64>,
    pub tcp_in_errs: Option<u64>,
    pub tcp_out_rsts: Option<u64>,
    pub udp_in_datagrams: Option<u64>,
    pub udp_no_ports: Option<u64>,
    pub udp_in_errors: Option<u64>,
    pub udp_out_datagrams: Option<u64>,
    pub udp_rcvbuf_errors: Option<u64>,
    pub udp_sndbuf_errors: Option<u64>,
}

impl Snmp {
    /// Parses the file; a header without its value line, or a value that is not a number,
    /// leaves the field `None`.
    pub fn parse(text: &str) -> Snmp {
        let mut s = Snmp::default();
        let mut lines = text.lines();
        while let Some(header) = lines.next() {
            let Some((proto, names)) = header.split_once(':') else {
                continue;
            };
            if proto != "Tcp" && proto != "Udp" {
                continue;
            }
            let Some(values) = lines.next() else { break };
            let Some((vproto, values)) = values.split_once(':') else {
                continue;
            };
            if vproto != proto {
                continue;
            }
            for (name, value) in names.split_ascii_whitespace().zip(values.split_ascii_whitespace()) {
                let v = value.parse::<u64>().ok();
                let slot = match (proto, name) {
                    ("Tcp", "ActiveOpens") => &mut s.tcp_active_opens,
                    ("Tcp", "PassiveOpens") => &mut s.tcp_passive_opens,
                    ("Tcp", "AttemptFails") => &mut s.tcp_attempt_fails,
                    ("Tcp", "EstabResets") => &mut s.tcp_estab_resets,
                    ("Tcp", "CurrEstab") => &mut s.tcp_curr_estab,
                    ("Tcp", "InSegs") => &mut s.tcp_in_segs,
                    ("Tcp", "OutSegs") => &mut s.tcp_out_segs,
                    ("Tcp", "RetransSegs") => &mut s.tcp_retrans_segs,
                    ("Tcp", "InErrs") => &mut s.tcp_in_errs,
                    ("Tcp", "OutRsts") => &mut s.tcp_out_rsts,
                    ("Udp", "InDatagrams") => &mut s.udp_in_datagrams,
                    ("Udp", "NoPorts") => &mut s.udp_no_ports,
                    ("Udp", "InErrors") => &mut s.udp_in_errors,
                    ("Udp", "OutDatagrams") => &mut s.udp_out_datagrams,
                    ("Udp", "RcvbufErrors") => &mut s.udp_rcvbuf_errors,
                    ("Udp", "SndbufErrors") => &mut s.udp_sndbuf_errors,
                    _ => continue,
                };
                *slot = v;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_field_name() {
        let s = Snmp::parse(
            "Ip: Forwarding DefaultTTL\nIp: 2 64\n\
             Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n\
             Tcp: 1 200 120000 -1 32 2 0 5 3 7724 5020 7 0 41 0\n\
             Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
             Udp: 59 1 2 60 3 4\n\
             UdpLite: InDatagrams NoPorts\nUdpLite: 99 99\n",
        );
        assert_eq!(s.tcp_active_opens, Some(32));
        assert_eq!(s.tcp_curr_estab, Some(3));
        assert_eq!(s.tcp_retrans_segs, Some(7));
        assert_eq!(s.tcp_out_rsts, Some(41));
        assert_eq!(s.udp_in_datagrams, Some(59), "UdpLite must not overwrite Udp");
        assert_eq!(s.udp_sndbuf_errors, Some(4));
    }

    #[test]
    fn truncated_and_malformed() {
        // Header without values, a value that is not a number, a missing field.
        let s = Snmp::parse("Tcp: ActiveOpens PassiveOpens\nTcp: x 5\nUdp: InDatagrams\n");
        assert_eq!(s.tcp_active_opens, None);
        assert_eq!(s.tcp_passive_opens, Some(5));
        assert_eq!(s.tcp_retrans_segs, None);
        assert_eq!(s.udp_in_datagrams, None);
        assert_eq!(Snmp::parse(""), Snmp::default());
    }
}
