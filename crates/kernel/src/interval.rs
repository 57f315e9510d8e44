//! DuckDB `INTERVAL` values: the three parts DuckDB stores (read through the C API's
//! `duckdb_get_interval` by the binding layer), and their conversion to a duration. Callers
//! refuse a month part: a month has no fixed length.
//!
//! Every interval parameter also takes a number of seconds (`1`, `1.5`) or a text
//! ([`parse_text`]: `'1 second'`, `1s`, `500ms`, `2 minutes`), in SQL and on `sysmon-record`'s
//! command line alike, and every refusal is phrased by [`accepts`].

use std::time::Duration;

/// An interval as DuckDB stores it: months, days and microseconds, each signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    pub months: i64,
    pub days: i64,
    pub micros: i64,
}

const MICROS_PER_DAY: i128 = 86_400_000_000;

impl Interval {
    /// The interval as a duration, a day being 24 hours (as DuckDB counts it): `None` with a
    /// month part, or when the days and microseconds add up to less than zero
    /// (`INTERVAL '1 day -23 hours'` is one hour).
    pub fn to_duration(self) -> Option<Duration> {
        if self.months != 0 {
            return None;
        }
        let micros = i128::from(self.days) * MICROS_PER_DAY + i128::from(self.micros);
        Some(Duration::from_micros(u64::try_from(micros).ok()?))
    }
}

/// Human text for a duration in error messages: `250 ms`, `2 s`, `1 hour`, `3 days`.
pub fn describe(d: Duration) -> String {
    let us = d.as_micros();
    let plural = |n: u128, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if us == 0 {
        return "0 s".to_string();
    }
    for (size, unit) in [
        (86_400_000_000u128, "day"),
        (3_600_000_000, "hour"),
        (60_000_000, "minute"),
    ] {
        if us.is_multiple_of(size) {
            return plural(us / size, unit);
        }
    }
    if us.is_multiple_of(1_000_000) {
        return format!("{} s", us / 1_000_000);
    }
    if us.is_multiple_of(1000) {
        return format!("{} ms", us / 1000);
    }
    format!("{us} us")
}

/// What an interval parameter `name` accepts, with examples inside `min..=max`:
/// `flush_interval must be an INTERVAL from 100 ms to 1 day (or a number of seconds), such as
/// INTERVAL '1 second' or 1`.
pub fn accepts(name: &str, min: Duration, max: Duration) -> String {
    let example = example(min, max);
    format!(
        "{name} must be an INTERVAL from {} to {} (or a number of seconds), such as {} or {}",
        describe(min),
        describe(max),
        sql_literal(example),
        seconds_text(example)
    )
}

/// A round duration inside `min..=max` (`min` itself when none of the round ones is).
pub fn example(min: Duration, max: Duration) -> Duration {
    const ROUND: [u64; 10] = [1, 2, 5, 10, 60, 300, 3600, 86_400, 7 * 86_400, 30 * 86_400];
    ROUND
        .iter()
        .map(|&s| Duration::from_secs(s))
        .find(|d| (min..=max).contains(d))
        .unwrap_or(min)
}

/// `d` as a DuckDB interval literal: `INTERVAL '1 second'`, `INTERVAL '250 milliseconds'`.
pub fn sql_literal(d: Duration) -> String {
    let us = d.as_micros();
    let plural = |n: u128, unit: &str| format!("INTERVAL '{n} {unit}{}'", if n == 1 { "" } else { "s" });
    for (size, unit) in [
        (86_400_000_000u128, "day"),
        (3_600_000_000, "hour"),
        (60_000_000, "minute"),
        (1_000_000, "second"),
        (1000, "millisecond"),
    ] {
        if us > 0 && us.is_multiple_of(size) {
            return plural(us / size, unit);
        }
    }
    plural(us, "microsecond")
}

/// `d` in seconds as a number literal: `1`, `0.25`, `86400`.
pub fn seconds_text(d: Duration) -> String {
    let (s, us) = (d.as_secs(), d.subsec_micros());
    if us == 0 {
        return s.to_string();
    }
    let frac = format!("{us:06}");
    format!("{s}.{}", frac.trim_end_matches('0'))
}

/// A number of seconds as a duration, rounded to the microsecond (DuckDB's resolution);
/// an error saying why for NaN, infinities, negative numbers and numbers too large.
pub fn from_seconds(secs: f64) -> Result<Duration, String> {
    if secs.is_nan() || secs.is_infinite() {
        return Err("which is not a finite number".into());
    }
    if secs < 0.0 {
        return Err("which is negative".into());
    }
    let us = (secs * 1e6).round();
    if us >= u64::MAX as f64 {
        return Err("which is too large".into());
    }
    // In range and a whole number (checked above), so the cast is exact.
    Ok(Duration::from_micros(us as u64))
}

/// Microseconds in one of the units [`parse_text`] takes; `Err` with the reason for a unit it
/// refuses, `Ok(None)` for a word that is no unit.
fn unit_micros(unit: &str) -> Result<Option<u128>, String> {
    let u = unit.to_ascii_lowercase();
    Ok(Some(match u.as_str() {
        "us" | "µs" | "usec" | "usecs" | "microsecond" | "microseconds" => 1,
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000_000,
        "d" | "day" | "days" => 86_400_000_000,
        "w" | "week" | "weeks" => 7 * 86_400_000_000,
        "mon" | "mons" | "month" | "months" | "y" | "yr" | "yrs" | "year" | "years" | "decade" | "decades"
        | "century" | "centuries" | "millennium" | "millennia" => {
            return Err(format!("{unit} has no fixed length: use days (30 days, 365 days)"));
        }
        _ => return Ok(None),
    }))
}

/// A non-negative decimal number at the start of `t` (`1`, `1.5`, `.5`, `2e3`) and the rest.
fn leading_number(t: &str) -> Option<(f64, &str)> {
    let b = t.as_bytes();
    let mut end = 0;
    while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'.') {
        end += 1;
    }
    // An exponent only right after digits, and only with digits after it.
    if end > 0 && end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        let mut e = end + 1;
        if e < b.len() && (b[e] == b'+' || b[e] == b'-') {
            e += 1;
        }
        let digits = e;
        while e < b.len() && b[e].is_ascii_digit() {
            e += 1;
        }
        if e > digits {
            end = e;
        }
    }
    let n: f64 = t[..end].parse().ok()?;
    Some((n, &t[end..]))
}

/// A duration written as text, as `sysmon-record`'s options and SQL strings take it: a number
/// of seconds (`1.5`), or numbers each with a unit (`1s`, `500ms`, `1.5 seconds`, `2 minutes`,
/// `1h 30m`, `1 day 2 hours`), or `H:MM[:SS[.fff]]` (DuckDB's text of an interval: `00:00:01.5`),
/// in quotes or not (`'1 second'`, as a shell passes quotes it was given twice). Units: us, ms,
/// s, m(in), h(our), d(ay), w(eek), singular or plural; months and years are refused (a month
/// has no fixed length). The error says what is wrong, without the text itself.
pub fn parse_text(text: &str) -> Result<Duration, String> {
    let mut t = text.trim();
    for q in ['\'', '"'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            t = t[1..t.len() - 1].trim();
        }
    }
    if t.is_empty() {
        return Err("it is empty".into());
    }
    if t.starts_with('-') {
        return Err("it is negative".into());
    }
    if let Ok(secs) = t.parse::<f64>()
        && t.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return from_seconds(secs).map_err(|e| e.replacen("which is", "it is", 1));
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('-') {
            return Err("it has a negative part".into());
        }
        let word_end = rest.find(|c: char| c.is_whitespace() || c == ',').unwrap_or(rest.len());
        if rest[..word_end].contains(':') {
            total = total.saturating_add(clock_micros(&rest[..word_end])?);
            rest = &rest[word_end..];
            continue;
        }
        let Some((n, after)) = leading_number(rest) else {
            return Err(format!("'{}' is not a number followed by a unit", &rest[..word_end]));
        };
        let after = after.trim_start();
        let unit_end = after.find(|c: char| !c.is_alphabetic()).unwrap_or(after.len());
        let unit = &after[..unit_end];
        if unit.is_empty() {
            return Err(format!("{n} has no unit (such as s, ms, minutes)"));
        }
        let Some(size) = unit_micros(unit)? else {
            return Err(format!(
                "'{unit}' is not a unit (us, ms, s, m, h, d or w, or their names)"
            ));
        };
        let us = (n * size as f64).round();
        if !us.is_finite() || us >= u64::MAX as f64 {
            return Err("it is too large".into());
        }
        // Non-negative, finite and below u64::MAX (checked above): the cast is exact.
        total = total.saturating_add(us as u128);
        rest = &after[unit_end..];
    }
    u64::try_from(total)
        .map(Duration::from_micros)
        .map_err(|_| "it is too large".to_string())
}

/// `H:MM` or `H:MM:SS[.fff]` in microseconds (two parts are hours and minutes, as DuckDB
/// reads them).
fn clock_micros(t: &str) -> Result<u128, String> {
    let bad = || format!("'{t}' is not a time such as 00:00:01.5 (H:MM:SS) or 01:30 (H:MM)");
    let parts: Vec<&str> = t.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let whole = |p: &str| -> Result<u128, String> {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse().map_err(|_| bad())
    };
    let hours = whole(parts[0])?;
    let minutes = whole(parts[1])?;
    let seconds = match parts.get(2) {
        None => 0,
        Some(p) => match leading_number(p) {
            Some((s, "")) => (s * 1e6).round() as u128,
            _ => return Err(bad()),
        },
    };
    Ok(hours
        .saturating_mul(3_600_000_000)
        .saturating_add(minutes.saturating_mul(60_000_000))
        .saturating_add(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_days_and_micros() {
        let iv = |months, days, micros| Interval { months, days, micros };
        assert_eq!(iv(0, 0, 250_000).to_duration(), Some(Duration::from_millis(250)));
        assert_eq!(
            iv(0, 1, 7_200_000_000).to_duration(),
            Some(Duration::from_secs(86400 + 7200))
        );
        assert_eq!(iv(0, 0, 0).to_duration(), Some(Duration::ZERO));
        // Mixed signs add up: 1 day - 23 hours is one hour; 1 day - 25 hours is negative.
        assert_eq!(
            iv(0, 1, -23 * 3_600_000_000).to_duration(),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(iv(0, 1, -25 * 3_600_000_000).to_duration(), None);
        assert_eq!(iv(0, 0, -1).to_duration(), None);
        assert_eq!(iv(0, -1, 0).to_duration(), None);
        // A month part is refused, even one that days seem to cancel.
        assert_eq!(iv(1, 0, 0).to_duration(), None);
        assert_eq!(iv(1, -30, 0).to_duration(), None);
        // The extremes do not overflow: past what a Duration of microseconds holds is refused.
        assert_eq!(
            iv(0, 0, i64::MAX).to_duration(),
            Some(Duration::from_micros(i64::MAX as u64))
        );
        assert_eq!(iv(0, i64::MAX, i64::MAX).to_duration(), None);
        assert_eq!(iv(0, i64::MIN, i64::MIN).to_duration(), None);
    }

    #[test]
    fn describes() {
        assert_eq!(describe(Duration::from_millis(250)), "250 ms");
        assert_eq!(describe(Duration::from_secs(2)), "2 s");
        assert_eq!(describe(Duration::from_secs(86400)), "1 day");
        assert_eq!(describe(Duration::from_secs(7200)), "2 hours");
        assert_eq!(describe(Duration::from_secs(60)), "1 minute");
        assert_eq!(describe(Duration::from_secs(90)), "90 s");
        assert_eq!(describe(Duration::from_micros(5)), "5 us");
    }

    #[test]
    fn texts() {
        let ok = |t: &str| parse_text(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        let ms = Duration::from_millis;
        for (t, d) in [
            ("1s", ms(1000)),
            ("1 second", ms(1000)),
            ("'1 second'", ms(1000)),
            ("\"1 second\"", ms(1000)),
            ("2 minutes", ms(120_000)),
            ("1.5s", ms(1500)),
            ("500ms", ms(500)),
            ("500 MS", ms(500)),
            ("5m", ms(300_000)),
            ("2h", ms(7_200_000)),
            ("30d", ms(30 * 86_400_000)),
            ("1w", ms(7 * 86_400_000)),
            ("1h 30m", ms(5_400_000)),
            ("1 day, 2 hours", ms(93_600_000)),
            ("1 day 02:00:00", ms(93_600_000)),
            ("00:00:01.5", ms(1500)),
            ("01:30", ms(90 * 60_000)),
            ("1", ms(1000)),
            ("1.5", ms(1500)),
            (".25", ms(250)),
            ("2e-3", ms(2)),
            ("250 us", Duration::from_micros(250)),
            ("0s", Duration::ZERO),
        ] {
            assert_eq!(ok(t), d, "{t}");
        }
        let err = |t: &str| parse_text(t).expect_err(t);
        assert!(err("").contains("empty"));
        assert!(err("''").contains("empty"));
        assert!(err("-1s").contains("negative"));
        assert!(err("-1").contains("negative"));
        assert!(err("1 day -2 hours").contains("negative"));
        assert!(err("1 month").contains("no fixed length"), "{}", err("1 month"));
        assert!(err("2 years").contains("no fixed length"));
        assert!(err("5x").contains("'x' is not a unit"), "{}", err("5x"));
        assert!(err("1 fortnight").contains("not a unit"));
        assert!(err("s").contains("not a number"));
        assert!(err("1 2s").contains("no unit"), "{}", err("1 2s"));
        assert!(err("1e400").contains("not a finite"), "{}", err("1e400"));
        assert!(err("99999999999999999999 days").contains("too large"));
        assert!(err("1:2:3:4").contains("H:MM:SS"));
        assert!(err("1:x").contains("H:MM:SS"));
        assert!(err("inf").contains("not a number"), "{}", err("inf"));
    }

    #[test]
    fn seconds_and_examples() {
        assert_eq!(from_seconds(1.5), Ok(Duration::from_millis(1500)));
        assert_eq!(from_seconds(0.0000004), Ok(Duration::ZERO));
        assert!(from_seconds(-1.0).unwrap_err().contains("negative"));
        assert!(from_seconds(f64::NAN).unwrap_err().contains("finite"));
        assert!(from_seconds(1e30).unwrap_err().contains("too large"));
        let s = Duration::from_secs;
        assert_eq!(example(Duration::from_millis(10), s(86_400)), s(1));
        assert_eq!(example(s(60), s(100 * 86_400)), s(60));
        assert_eq!(
            example(Duration::from_millis(1500), Duration::from_millis(1800)),
            Duration::from_millis(1500)
        );
        assert_eq!(sql_literal(s(1)), "INTERVAL '1 second'");
        assert_eq!(sql_literal(s(60)), "INTERVAL '1 minute'");
        assert_eq!(sql_literal(s(7200)), "INTERVAL '2 hours'");
        assert_eq!(sql_literal(Duration::from_millis(250)), "INTERVAL '250 milliseconds'");
        assert_eq!(seconds_text(Duration::from_millis(250)), "0.25");
        assert_eq!(seconds_text(s(86_400)), "86400");
        assert_eq!(
            accepts("retention", s(60), s(36_500 * 86_400)),
            "retention must be an INTERVAL from 1 minute to 36500 days (or a number of seconds), such as INTERVAL '1 minute' or 60"
        );
        // Every example is accepted by the bounds it is given for.
        for (lo, hi) in [(s(60), s(120)), (Duration::from_millis(10), s(1)), (s(3), s(4))] {
            let e = example(lo, hi);
            assert!((lo..=hi).contains(&e), "{lo:?}..{hi:?}: {e:?}");
            assert_eq!(parse_text(&seconds_text(e)), Ok(e));
        }
    }
}
