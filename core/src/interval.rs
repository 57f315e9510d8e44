//! DuckDB `INTERVAL` values, read from the text DuckDB prints for them.
//!
//! duckdb-rs's `Value` has no interval getter, so the binding layer asks DuckDB for the
//! value's text (`00:00:00.25`, `1 day 02:00:00`, `2 years 1 month`, `-00:00:01`) and this
//! module turns it back into its three parts. Callers refuse a month part: a month has no
//! fixed length.

use std::time::Duration;

/// An interval as DuckDB stores it: months, days and microseconds, each signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    pub months: i64,
    pub days: i64,
    pub micros: i64,
}

impl Interval {
    /// Parses DuckDB's text form of an INTERVAL.
    pub fn parse(text: &str) -> Result<Interval, String> {
        let bad = || format!("cannot read interval '{text}'");
        let mut iv = Interval::default();
        let mut tokens = text.split_ascii_whitespace().peekable();
        while let Some(tok) = tokens.next() {
            if tok.contains(':') {
                iv.micros = parse_clock(tok).ok_or_else(bad)?;
                if tokens.peek().is_some() {
                    return Err(bad());
                }
                break;
            }
            let n: i64 = tok.parse().map_err(|_| bad())?;
            let unit = tokens.next().ok_or_else(bad)?;
            match unit.trim_end_matches('s') {
                "year" => iv.months += n * 12,
                "month" | "mon" => iv.months += n,
                "day" => iv.days += n,
                _ => return Err(bad()),
            }
        }
        Ok(iv)
    }

    /// The interval as a duration, if it has no month part and is not negative.
    pub fn to_duration(self) -> Option<Duration> {
        if self.months != 0 || self.days < 0 || self.micros < 0 {
            return None;
        }
        let micros = (self.days as u128) * 86_400_000_000 + self.micros as u128;
        Some(Duration::from_micros(u64::try_from(micros).ok()?))
    }
}

/// `[-]HH:MM:SS[.ffffff]` as microseconds.
fn parse_clock(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut parts = s.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let whole: i64 = whole.parse().ok()?;
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_us: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    let us = ((h * 60 + m) * 60 + whole) * 1_000_000 + frac_us;
    Some(if neg { -us } else { us })
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
    fn parses_duckdb_text() {
        assert_eq!(
            Interval::parse("00:00:00.25").unwrap().to_duration(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            Interval::parse("00:00:02").unwrap().to_duration(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            Interval::parse("1 day 02:00:00").unwrap().to_duration(),
            Some(Duration::from_secs(86400 + 7200))
        );
        assert_eq!(Interval::parse("3 days").unwrap().days, 3);
        assert_eq!(Interval::parse("1 month").unwrap().months, 1);
        assert_eq!(Interval::parse("2 years 1 mon").unwrap().months, 25);
        assert_eq!(Interval::parse("00:00:00.000001").unwrap().micros, 1);
        assert_eq!(Interval::parse("-00:00:01").unwrap().micros, -1_000_000);
        assert_eq!(Interval::parse("-00:00:01").unwrap().to_duration(), None);
        assert_eq!(Interval::parse("1 month").unwrap().to_duration(), None);
        assert_eq!(Interval::parse("00:00:00").unwrap().to_duration(), Some(Duration::ZERO));
        assert!(Interval::parse("soon").is_err());
        assert!(Interval::parse("1 fortnight").is_err());
        assert!(Interval::parse("00:00:00.1234567").is_err());
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
