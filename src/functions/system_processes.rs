//! `system_processes("window" := INTERVAL, include_kernel_threads := BOOLEAN)`: see
//! `sysmon_core::tables::processes`.

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;
use sysmon_core::live;
use sysmon_core::ring::Window;
use sysmon_core::tables::processes::{self, ProcessFields, ProcessesRow};

use super::{bind_window, window_parameter};
use crate::params;
use crate::table::{BoxError, LiveTable};

pub struct SystemProcesses;

pub struct Options {
    window: Window,
    include_kernel_threads: bool,
}

impl LiveTable for SystemProcesses {
    type Row = ProcessesRow;
    type Options = Options;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![
            window_parameter(),
            (
                "include_kernel_threads",
                LogicalTypeHandle::from(LogicalTypeId::Boolean),
            ),
        ]
    }

    fn bind(bind: &BindInfo) -> Result<Options, BoxError> {
        Ok(Options {
            window: bind_window(bind)?,
            include_kernel_threads: params::boolean(bind, "include_kernel_threads")?.unwrap_or(true),
        })
    }

    fn collect(o: &Options, columns: &[usize]) -> Result<Vec<ProcessesRow>, BoxError> {
        let fields = ProcessFields::for_columns(columns);
        let (base, window, now) = live::process_pair(o.window, fields)?;
        Ok(processes::rows(&base, window, &now, o.include_kernel_threads))
    }
}
