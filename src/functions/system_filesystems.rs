//! `system_filesystems(include_pseudo := BOOLEAN)`: see `sysmon_core::tables::filesystems`.

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;
use sysmon_core::host;
use sysmon_core::procfs::Roots;
use sysmon_core::procfs::mountinfo::Mount;
use sysmon_core::schema::Timestamp;
use sysmon_core::tables::filesystems::{self, FilesystemsRow, StatGuard};

use crate::params;
use crate::table::{BoxError, LiveTable};

pub struct SystemFilesystems;

impl LiveTable for SystemFilesystems {
    type Row = FilesystemsRow;
    /// Whether pseudo filesystems are included.
    type Options = bool;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![("include_pseudo", LogicalTypeHandle::from(LogicalTypeId::Boolean))]
    }

    fn bind(bind: &BindInfo) -> Result<bool, BoxError> {
        Ok(params::boolean(bind, "include_pseudo")?.unwrap_or(false))
    }

    fn collect(include_pseudo: &bool, _columns: &[usize]) -> Result<Vec<FilesystemsRow>, BoxError> {
        let path = Roots::default().proc("self/mountinfo");
        let text =
            sysmon_core::procfs::read_lossy(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let ts = Timestamp::now();
        Ok(filesystems::rows(
            Mount::parse_all(&text),
            *include_pseudo,
            StatGuard::global(),
            ts,
            &host::hostname(),
        ))
    }
}
