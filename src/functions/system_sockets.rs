//! `system_sockets(kind := VARCHAR)`: see `sysmon_core::tables::sockets`.

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;
use sysmon_core::host;
use sysmon_core::procfs::Roots;
use sysmon_core::schema::Timestamp;
use sysmon_core::tables::processes;
use sysmon_core::tables::sockets::{self, SocketFields, SocketKind, SocketsRow};

use crate::table::{BoxError, LiveTable};

pub struct SystemSockets;

impl LiveTable for SystemSockets {
    type Row = SocketsRow;
    type Options = SocketKind;

    fn named_parameters() -> Vec<(&'static str, LogicalTypeHandle)> {
        vec![("kind", LogicalTypeHandle::from(LogicalTypeId::Varchar))]
    }

    fn bind(bind: &BindInfo) -> Result<SocketKind, BoxError> {
        let Some(value) = bind.get_named_parameter("kind") else {
            return Ok(SocketKind::All);
        };
        if value.is_null() {
            return Err(format!("kind must be {}; got NULL", SocketKind::ACCEPTED).into());
        }
        Ok(SocketKind::parse(&value.to_string())?)
    }

    fn collect(kind: &SocketKind, columns: &[usize]) -> Result<Vec<SocketsRow>, BoxError> {
        Ok(sockets::collect(
            &Roots::default(),
            *kind,
            SocketFields::for_columns(columns),
            processes::user_name,
            Timestamp::now(),
            &host::hostname(),
        )?)
    }
}
