//! `system_networks(window := INTERVAL)`: see `sysmon_core::tables::networks`.

use duckdb::core::LogicalTypeHandle;
use duckdb::vtab::BindInfo;
use sysmon_core::live;
use sysmon_core::procfs::Roots;
use sysmon_core::ring::Window;
use sysmon_core::tables::networks::{self, NetworksRow};

use super::{bind_window, window_parameter};
use crate::table::{BoxError, LiveTable};

pub struct SystemNetworks;

impl LiveTable for SystemNetworks {
    type Row = NetworksRow;
    type Options = Window;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![window_parameter()]
    }

    fn bind(bind: &BindInfo) -> Result<Window, BoxError> {
        bind_window(bind)
    }

    fn collect(window: &Window, _columns: &[usize]) -> Result<Vec<NetworksRow>, BoxError> {
        let (base, now) = live::window_pair(*window)?;
        Ok(networks::rows(&base, &now, &Roots::default()))
    }
}
