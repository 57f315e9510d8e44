//! `system_users()`: see `sysmon_core::tables::users`.
//!
//! Test hook: with `SYSMON_TEST_HOOKS=1` and `SYSMON_TEST_USERS_ROOT=<dir>` in the environment
//! when a query runs, utmp, logind's session records and `/proc` are read below `<dir>`
//! (`<dir>/var/run/utmp`, ...), so the Python suite can check utmp files it writes itself.

use std::path::Path;

use duckdb::vtab::BindInfo;
use sysmon_core::host;
use sysmon_core::schema::Timestamp;
use sysmon_core::tables::users::{self, UserSources, UsersRow};

use crate::table::{BoxError, LiveTable};

pub struct SystemUsers;

fn sources() -> UserSources {
    let hooks = std::env::var_os("SYSMON_TEST_HOOKS").is_some_and(|v| v == "1");
    match std::env::var_os("SYSMON_TEST_USERS_ROOT") {
        Some(root) if hooks => UserSources::under(Path::new(&root)),
        _ => UserSources::default(),
    }
}

impl LiveTable for SystemUsers {
    type Row = UsersRow;
    type Options = ();

    fn bind(_: &BindInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn collect(_: &(), _columns: &[usize]) -> Result<Vec<UsersRow>, BoxError> {
        Ok(users::collect(&sources(), Timestamp::now(), &host::hostname())?)
    }
}
