//! `system_net_protocols(window := INTERVAL)`: see `sysmon_core::tables::net_protocols`.

use duckdb::core::LogicalTypeHandle;
use duckdb::vtab::BindInfo;
use sysmon_core::live;
use sysmon_core::ring::Window;
use sysmon_core::tables::net_protocols::{self, NetProtocolsRow};

use super::{bind_window, window_parameter};
use crate::table::{BoxError, LiveTable};

pub struct SystemNetProtocols;

impl LiveTable for SystemNetProtocols {
    type Row = NetProtocolsRow;
    type Options = Window;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![window_parameter()]
    }

    fn bind(bind: &BindInfo) -> Result<Window, BoxError> {
        bind_window(bind)
    }

    fn collect(window: &Window, _columns: &[usize]) -> Result<Vec<NetProtocolsRow>, BoxError> {
        let (base, now) = live::window_pair(*window)?;
        Ok(vec![net_protocols::row(&base, &now)])
    }
}
