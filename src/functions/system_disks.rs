//! `system_disks("window" := INTERVAL, include_virtual := BOOLEAN)`: see `sysmon_core::tables::disks`.

use std::sync::Mutex;

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;
use sysmon_core::live::{self, lock};
use sysmon_core::procfs::Roots;
use sysmon_core::ring::Window;
use sysmon_core::tables::disks::{self, DiskClasses, DisksRow};

use super::{bind_window, window_parameter};
use crate::params;
use crate::table::{BoxError, LiveTable};

pub struct SystemDisks;

pub struct Options {
    window: Window,
    include_virtual: bool,
}

static CLASSES: Mutex<Option<DiskClasses>> = Mutex::new(None);

impl LiveTable for SystemDisks {
    type Row = DisksRow;
    type Options = Options;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![
            window_parameter(),
            ("include_virtual", LogicalTypeHandle::from(LogicalTypeId::Boolean)),
        ]
    }

    fn bind(bind: &BindInfo) -> Result<Options, BoxError> {
        Ok(Options {
            window: bind_window(bind)?,
            include_virtual: params::boolean(bind, "include_virtual")?.unwrap_or(true),
        })
    }

    fn collect(o: &Options, _columns: &[usize]) -> Result<Vec<DisksRow>, BoxError> {
        let (base, now) = live::window_pair(o.window)?;
        let roots = Roots::default();
        let mut guard = lock(&CLASSES);
        let classes = guard.get_or_insert_with(DiskClasses::default);
        Ok(disks::rows(&base, &now, |n| classes.get(&roots, n), o.include_virtual))
    }
}
