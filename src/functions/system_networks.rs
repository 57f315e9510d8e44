//! `system_networks("window" := INTERVAL)`: see `sysmon_core::tables::networks`.

use sysmon_core::procfs::Roots;
use sysmon_core::sample::HostSample;
use sysmon_core::tables::networks::{self, NetworksRow};

use super::HostWindowTable;

pub struct SystemNetworks;

impl HostWindowTable for SystemNetworks {
    type Row = NetworksRow;

    fn rows(base: &HostSample, now: &HostSample) -> Vec<NetworksRow> {
        networks::rows(base, now, &Roots::default())
    }
}
