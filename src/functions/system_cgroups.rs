//! `system_cgroups()`: see `sysmon_core::tables::cgroups`.

use duckdb::vtab::BindInfo;
use sysmon_core::host;
use sysmon_core::procfs::Roots;
use sysmon_core::schema::Timestamp;
use sysmon_core::tables::cgroups::{self, CgroupsRow};

use crate::table::{BoxError, LiveTable};

pub struct SystemCgroups;

impl LiveTable for SystemCgroups {
    type Row = CgroupsRow;
    type Options = ();

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<CgroupsRow>, BoxError> {
        let roots = Roots::default();
        cgroups::collect(&roots, Timestamp::now(), &host::hostname())
            .map_err(|e| format!("cannot read {}: {e}", roots.proc("self/mountinfo").display()).into())
    }
}
