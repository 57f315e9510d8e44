//! Reading and checking table function arguments in bind.
//!
//! Every check here produces an error that names the parameter, what it accepts and what it
//! got; DuckDB shows it as `Binder Error: <message>`.

use std::time::Duration;

use duckdb::vtab::{BindInfo, Value};
use sysmon_core::interval::{Interval, describe};

use crate::table::BoxError;

/// A named INTERVAL parameter as a duration within `min..=max`; `None` when not given.
pub fn interval(bind: &BindInfo, name: &str, min: Duration, max: Duration) -> Result<Option<Duration>, BoxError> {
    match bind.get_named_parameter(name) {
        None => Ok(None),
        Some(value) => interval_value(&value, name, min, max).map(Some),
    }
}

/// Positional parameter `index` as an INTERVAL within `min..=max`.
pub fn positional_interval(
    bind: &BindInfo,
    index: u64,
    name: &str,
    min: Duration,
    max: Duration,
) -> Result<Duration, BoxError> {
    interval_value(&positional(bind, index, name)?, name, min, max)
}

/// Positional parameter `index` (an error naming it if DuckDB did not pass it).
pub fn positional(bind: &BindInfo, index: u64, name: &str) -> Result<Value, BoxError> {
    if index >= bind.get_parameter_count() {
        return Err(format!("{name} is required").into());
    }
    Ok(bind.get_parameter(index))
}

/// An INTERVAL value (DuckDB's text of it: `Value` has no interval getter) as a duration
/// within `min..=max`: NULL, negative, out-of-range values and month parts are refused.
pub fn interval_value(value: &Value, name: &str, min: Duration, max: Duration) -> Result<Duration, BoxError> {
    let accepts = format!(
        "{name} must be an INTERVAL from {} to {}, such as INTERVAL '2 seconds'",
        describe(min),
        describe(max)
    );
    if value.is_null() {
        return Err(format!("{accepts}; got NULL").into());
    }
    let text = value.to_string();
    let iv = Interval::parse(&text).map_err(|e| format!("{accepts}; {e}"))?;
    if iv.months != 0 {
        return Err(
            format!("{accepts}; got '{text}', which has a month part (a month has no fixed length: use days)").into(),
        );
    }
    match iv.to_duration() {
        Some(d) if d >= min && d <= max => Ok(d),
        _ => Err(format!("{accepts}; got '{text}'").into()),
    }
}

/// A named BOOLEAN parameter; `None` when not given, an error for NULL.
pub fn boolean(bind: &BindInfo, name: &str) -> Result<Option<bool>, BoxError> {
    let Some(value) = bind.get_named_parameter(name) else {
        return Ok(None);
    };
    if value.is_null() {
        return Err(format!("{name} must be true or false; got NULL").into());
    }
    Ok(Some(value.to_bool()))
}
