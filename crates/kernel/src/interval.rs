//! DuckDB `INTERVAL` values: the three parts DuckDB stores (read through the C API's
//! `duckdb_get_interval` by the binding layer), and their conversion to a duration. Callers
//! refuse a month part: a month has no fixed length.

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
}
