//! `system_net_protocols("window" := INTERVAL)`: see `sysmon_core::tables::net_protocols`.

use sysmon_core::sample::HostSample;
use sysmon_core::tables::net_protocols::{self, NetProtocolsRow};

use super::HostWindowTable;

pub struct SystemNetProtocols;

impl HostWindowTable for SystemNetProtocols {
    type Row = NetProtocolsRow;

    fn rows(base: &HostSample, now: &HostSample) -> Vec<NetProtocolsRow> {
        vec![net_protocols::row(base, now)]
    }
}
