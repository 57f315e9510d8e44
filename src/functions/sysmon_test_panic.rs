//! `sysmon_test_panic(where)`: a test hook that panics on purpose, to prove that a panic in a
//! callback becomes a query error and leaves the host process and connection usable.
//!
//! Registered only when the environment variable `SYSMON_TEST_HOOKS=1` is set when the
//! extension loads; never in normal use. `where` is `'bind'` or `'scan'`.

use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{Function, Param, ParamType};
use sysmon_tables::schema::Row;

use crate::table::{BoxError, LiveTable};

sysmon_tables::declare_table! {
    /// Test hook; never returns a row.
    pub struct PanicRow => "sysmon_test_panic" {
        /// Never produced.
        never: i32 [""],
    }
}

pub struct SysmonTestPanic;

impl LiveTable for SysmonTestPanic {
    type Row = PanicRow;
    type Options = bool;

    /// Not in `sysmon_core::functions()`: a hidden test hook, absent from `sysmon_functions()`.
    fn function() -> Function {
        Function {
            name: PanicRow::TABLE.function,
            summary: "Test hook: panics on purpose in bind or scan.",
            params: vec![Param {
                name: "where",
                ty: ParamType::Varchar,
                named: false,
                default: None,
                doc: "'bind' or 'scan'.".into(),
            }],
            example: "SELECT * FROM sysmon_test_panic('scan')",
            reads: Vec::new(),
            decl: PanicRow::TABLE,
        }
    }

    #[allow(clippy::panic)] // the test hook exists to panic
    fn bind(bind: &BindInfo) -> Result<bool, BoxError> {
        match bind.get_parameter(0).to_string().as_str() {
            "bind" => panic!("sysmon_test_panic: deliberate panic in bind"),
            "scan" => Ok(true),
            other => Err(format!("sysmon_test_panic: where must be 'bind' or 'scan', got '{other}'").into()),
        }
    }

    #[allow(clippy::panic)] // the test hook exists to panic
    fn collect(_: &bool, _columns: &[usize]) -> Result<Vec<PanicRow>, BoxError> {
        panic!("sysmon_test_panic: deliberate panic in scan")
    }
}
