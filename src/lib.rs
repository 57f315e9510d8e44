//! sysmon: the DuckDB binding layer.
//!
//! This crate is only the thin part that DuckDB calls: the extension entry point and one small
//! module per SQL function under [`functions`]. Everything that reads the host lives in the
//! `sysmon-core` crate (`core/`), which knows nothing of DuckDB.
//!
//! # Safety contract
//!
//! DuckDB calls into this library through C callbacks: the entry point, and each table
//! function's bind, init and scan. A Rust panic must never unwind into DuckDB (that aborts the
//! host process). So:
//! * table callbacks go through duckdb-rs's `VTab` registration, which catches panics and turns
//!   them and every returned error into a query error (see [`table`]);
//! * the entry point runs its body inside `catch_unwind` and reports a panic as a load error;
//! * nothing here calls `unwrap`/`expect` on a path DuckDB can reach with user input;
//! * only functions of DuckDB's stable C API v1.2.0 are called, so one binary loads in every
//!   DuckDB from 1.4 to 2.0 (the unstable tail of the function table differs between versions).

mod alert_db;
mod functions;
mod lockdown;
mod params;
mod table;

use std::error::Error;
use std::panic::{AssertUnwindSafe, catch_unwind};

use duckdb::{Connection, duckdb_entrypoint_c_api};

/// Registers every SQL function. Called once per database that loads the extension.
fn register_all(con: &Connection) -> Result<(), Box<dyn Error>> {
    functions::register(con)
}

#[duckdb_entrypoint_c_api(ext_name = "sysmon", min_duckdb_version = "v1.2.0")]
pub fn sysmon_init(con: Connection) -> Result<(), Box<dyn Error>> {
    match catch_unwind(AssertUnwindSafe(|| register_all(&con))) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(format!("sysmon failed to load: {what}").into())
        }
    }
}
