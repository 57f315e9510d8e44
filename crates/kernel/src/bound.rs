//! The bound on a wait inside a query: DuckDB cannot interrupt a scan call, so no call waits
//! longer than [`BOUND`] unless it can notice an interrupt. (sysmon-core's `wait` module holds
//! the wait itself, and re-exports this bound.)

use std::time::Duration;

/// The longest wait a call may make when it cannot notice an interrupt.
pub const BOUND: Duration = Duration::from_secs(1);
