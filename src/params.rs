//! Reading and checking table function arguments in bind.
//!
//! Every check here produces an error that names the parameter, what it accepts and what it
//! got; DuckDB shows it as `Binder Error: <message>`.

use std::time::Duration;

use duckdb::core::LogicalTypeId;
use duckdb::ffi::{duckdb_get_interval, duckdb_get_timestamp, duckdb_value};
use duckdb::vtab::{BindInfo, Value};
use sysmon_kernel::interval::{Interval, accepts, describe, from_seconds, parse_text};

use crate::table::BoxError;

/// A named interval parameter (an INTERVAL or a number of seconds, see [`interval_value`]) as a
/// duration within `min..=max`; `None` when not given.
pub fn interval(bind: &BindInfo, name: &str, min: Duration, max: Duration) -> Result<Option<Duration>, BoxError> {
    match bind.get_named_parameter(name) {
        None => Ok(None),
        Some(value) => interval_value(&value, name, min, max).map(Some),
    }
}

/// Positional parameter `index` as an interval within `min..=max` (see [`interval_value`]).
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

/// An interval parameter's value as a duration within `min..=max`: an INTERVAL, a number of
/// seconds (any numeric type: `1`, `1.5`, `2e-1`) or a text (`'1 second'`, `'500ms'`, see
/// [`parse_text`]). The parameters are registered as `ANY` so that DuckDB passes what the call
/// wrote instead of failing to cast a number to INTERVAL. NULL, negative, out-of-range values
/// and month parts are refused. The parts of an INTERVAL are read through the C API
/// (`duckdb_get_interval`, stable since v1.2.0); any other value is read as DuckDB's text of it
/// (`duckdb_get_varchar`), which for a number is its decimal digits.
pub fn interval_value(value: &Value, name: &str, min: Duration, max: Duration) -> Result<Duration, BoxError> {
    let accepts = accepts(name, min, max);
    if value.is_null() {
        return Err(format!("{accepts}; got NULL").into());
    }
    let (d, shown) = match value.logical_type_id() {
        LogicalTypeId::Interval => {
            let iv = interval_parts(value).ok_or_else(|| format!("{accepts}; got '{value}'"))?;
            if iv.months != 0 {
                return Err(format!(
                    "{accepts}; got '{value}', which has a month part (a month has no fixed length: use days)"
                )
                .into());
            }
            let d = iv
                .to_duration()
                .ok_or_else(|| format!("{accepts}; got '{value}', which is negative"))?;
            (d, format!("'{value}' ({})", describe(d)))
        }
        LogicalTypeId::Varchar => {
            let text = value.to_string();
            let d = parse_text(&text).map_err(|why| format!("{accepts}; got '{text}', but {why}"))?;
            (d, format!("'{text}'"))
        }
        _ => {
            let text = value.to_string();
            let d = match number(&text) {
                Some(secs) => from_seconds(secs).map_err(|why| format!("{accepts}; got {text} seconds, {why}"))?,
                None => {
                    return Err(format!("{accepts}; got '{text}', which is neither an INTERVAL nor a number").into());
                }
            };
            (d, format!("{text} seconds"))
        }
    };
    if (min..=max).contains(&d) {
        Ok(d)
    } else {
        Err(format!("{accepts}; got {shown}").into())
    }
}

/// DuckDB's text of a numeric value (`1`, `-2`, `1.50`, `1e-05`) as a number; `None` for the
/// text of any other type (`true`, `2024-01-01`, `[1]`).
fn number(text: &str) -> Option<f64> {
    let numeric = !text.is_empty()
        && text.bytes().any(|c| c.is_ascii_digit())
        && text
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    numeric.then(|| text.parse().ok()).flatten()
}

/// The months, days and microseconds of an INTERVAL value; `None` for a value of another type.
fn interval_parts(value: &Value) -> Option<Interval> {
    if value.logical_type_id() != LogicalTypeId::Interval {
        return None;
    }
    // SAFETY: the handle is `value`'s, alive while `value` is borrowed, and holds an INTERVAL
    // (checked above); `duckdb_get_interval` only reads it.
    let iv = unsafe { duckdb_get_interval(raw_handle(value)) };
    Some(Interval {
        months: iv.months.into(),
        days: iv.days.into(),
        micros: iv.micros,
    })
}

// duckdb-rs's `Value` keeps its handle private and has no interval getter: read the handle from
// the struct, whose only field it is (duckdb-rs is pinned with `=` in Cargo.toml, and the size
// check below stops the build if a later version adds a field).
const _: () = assert!(size_of::<Value>() == size_of::<duckdb_value>());

/// The `duckdb_value` handle `value` wraps, borrowed: `value` still owns (and destroys) it.
fn raw_handle(value: &Value) -> duckdb_value {
    // SAFETY: `Value` is a struct whose only field is a `duckdb_value` and whose size is that
    // field's (asserted at compile time above), so the field lies at offset 0 and the struct's
    // first bytes are a valid, initialised `duckdb_value`. Reading a copy of a raw pointer
    // transfers no ownership.
    unsafe { std::ptr::read(std::ptr::from_ref(value).cast::<duckdb_value>()) }
}

/// A named VARCHAR parameter; `None` when not given, an error saying it must be `accepts` when
/// NULL (a NULL value is never shown as text: DuckDB's cast of it throws).
pub fn named_text(bind: &BindInfo, name: &str, accepts: &str) -> Result<Option<String>, BoxError> {
    match bind.get_named_parameter(name) {
        None => Ok(None),
        Some(v) if v.is_null() => Err(format!("{name} must be {accepts}; got NULL").into()),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// The `since :=` and `until :=` of a reader of a recording, as microseconds; an error when both
/// are given and `since` is not before `until`.
pub fn time_range(bind: &BindInfo) -> Result<(Option<i64>, Option<i64>), BoxError> {
    let since_us = timestamp(bind, "since")?;
    let until_us = timestamp(bind, "until")?;
    if let (Some(s), Some(u)) = (since_us, until_us)
        && s >= u
    {
        return Err(format!(
            "since ({}) must be before until ({})",
            sysmon_serve::view::report::utc_text(s),
            sysmon_serve::view::report::utc_text(u)
        )
        .into());
    }
    Ok((since_us, until_us))
}

/// A named TIMESTAMP WITH TIME ZONE parameter as microseconds since the epoch; `None` when not
/// given. NULL and infinite values are refused.
pub fn timestamp(bind: &BindInfo, name: &str) -> Result<Option<i64>, BoxError> {
    let Some(value) = bind.get_named_parameter(name) else {
        return Ok(None);
    };
    let accepts = format!("{name} must be a TIMESTAMP WITH TIME ZONE, such as now() - INTERVAL 1 DAY");
    if value.is_null() {
        return Err(format!("{accepts}; got NULL").into());
    }
    if value.logical_type_id() != LogicalTypeId::TimestampTZ {
        return Err(format!("{accepts}; got '{value}'").into());
    }
    // SAFETY: the handle is `value`'s, alive while `value` is borrowed, and holds a TIMESTAMP
    // WITH TIME ZONE (checked above). `duckdb_get_timestamp` (stable since v1.2.0) casts it to
    // TIMESTAMP with DuckDB's default cast, which keeps the UTC instant (no time zone applies
    // without a client context), and only reads the value.
    let ts = unsafe { duckdb_get_timestamp(raw_handle(&value)) };
    // DuckDB's infinity and -infinity, and the NULL a failed cast gives.
    if ts.micros == i64::MAX || ts.micros == -i64::MAX || ts.micros == i64::MIN {
        return Err(format!("{accepts}; got '{value}', which is not a finite time").into());
    }
    Ok(Some(ts.micros))
}
