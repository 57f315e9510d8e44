//! `system_sensors()`: see `sysmon_core::tables::sensors`.

use duckdb::vtab::BindInfo;
use sysmon_core::host;
use sysmon_core::procfs::Roots;
use sysmon_core::schema::Timestamp;
use sysmon_core::tables::sensors::{self, SensorsRow};

use crate::table::{BoxError, LiveTable};

pub struct SystemSensors;

impl LiveTable for SystemSensors {
    type Row = SensorsRow;
    type Options = ();

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<SensorsRow>, BoxError> {
        Ok(sensors::collect(&Roots::default(), Timestamp::now(), &host::hostname()))
    }
}
