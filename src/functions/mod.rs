//! One module per SQL function, named after it. Each is a thin [`LiveTable`](crate::table::LiveTable)
//! over a collector in `sysmon_core::tables`.

mod record_metrics;
mod recordings;
mod stop_recording;
mod sysmon_test_panic;
mod system_cgroups;
mod system_cpus;
mod system_disks;
mod system_filesystems;
mod system_gpus;
mod system_info;
mod system_metrics;
mod system_net_protocols;
mod system_networks;
mod system_pressure;
mod system_processes;
mod system_sensors;

use std::error::Error;
use std::marker::PhantomData;
use std::time::Duration;

use duckdb::Connection;
use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;
use sysmon_core::live;
use sysmon_core::ring::Window;
use sysmon_core::sample::HostSample;
use sysmon_core::schema::Row;

use crate::table::{BoxError, LiveTable, TableFn};

pub fn register(con: &Connection) -> Result<(), Box<dyn Error>> {
    register_one::<system_info::SystemInfo>(con)?;
    register_one::<HostWindow<system_metrics::SystemMetrics>>(con)?;
    register_one::<HostWindow<system_cpus::SystemCpus>>(con)?;
    register_one::<system_disks::SystemDisks>(con)?;
    register_one::<system_filesystems::SystemFilesystems>(con)?;
    register_one::<HostWindow<system_networks::SystemNetworks>>(con)?;
    register_one::<HostWindow<system_net_protocols::SystemNetProtocols>>(con)?;
    register_one::<system_processes::SystemProcesses>(con)?;
    register_one::<HostWindow<system_pressure::SystemPressure>>(con)?;
    register_one::<system_sensors::SystemSensors>(con)?;
    register_one::<system_cgroups::SystemCgroups>(con)?;
    register_one::<system_gpus::SystemGpus>(con)?;
    register_one::<record_metrics::RecordMetrics>(con)?;
    register_one::<recordings::Recordings>(con)?;
    register_one::<stop_recording::StopRecording>(con)?;
    if std::env::var_os("SYSMON_TEST_HOOKS").is_some_and(|v| v == "1") {
        register_one::<sysmon_test_panic::SysmonTestPanic>(con)?;
    }
    Ok(())
}

fn register_one<T: LiveTable>(con: &Connection) -> Result<(), Box<dyn Error>> {
    let name = T::name();
    con.register_table_function::<TableFn<T>>(name)
        .map_err(|e| format!("cannot register {name}(): {e}").into())
}

/// The shortest and longest `window` accepted.
pub const WINDOW_MIN: Duration = Duration::from_millis(10);
pub const WINDOW_MAX: Duration = Duration::from_secs(3600);

/// The `window := INTERVAL ...` named parameter shared by every table with percentages or rates.
pub fn window_parameter() -> (&'static str, LogicalTypeHandle) {
    ("window", LogicalTypeHandle::from(LogicalTypeId::Interval))
}

pub fn bind_window(bind: &BindInfo) -> Result<Window, BoxError> {
    Ok(match crate::params::interval(bind, "window", WINDOW_MIN, WINDOW_MAX)? {
        Some(d) => Window::Exactly(d),
        None => Window::Default,
    })
}

/// A table computed from a window of host samples (the process-wide ring), whose only
/// parameter is `"window"`: system_metrics, system_cpus, system_networks, system_net_protocols
/// and system_pressure. Each of those modules says only how a window becomes rows.
pub trait HostWindowTable: 'static {
    type Row: Row + Send + Sync;
    fn rows(base: &HostSample, now: &HostSample) -> Vec<Self::Row>;
}

/// The table function of a [`HostWindowTable`].
pub struct HostWindow<T>(PhantomData<T>);

impl<T: HostWindowTable> LiveTable for HostWindow<T> {
    type Row = T::Row;
    type Options = Window;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![window_parameter()]
    }

    fn bind(bind: &BindInfo) -> Result<Window, BoxError> {
        bind_window(bind)
    }

    fn collect(window: &Window, _columns: &[usize]) -> Result<Vec<T::Row>, BoxError> {
        let (base, now) = live::window_pair(*window)?;
        Ok(T::rows(&base, &now))
    }
}
