//! Writing JSON text (the view only writes JSON; it never parses any).

use std::fmt::Write as _;

use sysmon_tables::schema::Cell;

/// Strings are escaped for inlining into a page's `<script>` too (the pages inline their data).
pub use sysmon_tables::json::{number, string_for_html as string};

/// A chart value to 4 significant digits (what a pixel-high chart or a hover value shows),
/// `null` when not finite: `5.312e9`, `47.25`, `0.001234`. Keeps reports small.
pub fn compact(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
        return;
    }
    if v == v.trunc() && v.abs() < 1e4 {
        let _ = write!(out, "{}", v as i64);
        return;
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-3..5).contains(&mag) {
        let s = format!("{v:.3e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        let _ = write!(out, "{m}e{e}");
        return;
    }
    let decimals = (3 - mag).max(0) as usize;
    let s = format!("{v:.decimals$}");
    out.push_str(if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    });
}

/// An optional chart value ([`compact`]).
pub fn opt_compact(out: &mut String, v: Option<f64>) {
    match v {
        Some(v) => compact(out, v),
        None => out.push_str("null"),
    }
}

/// An optional number.
pub fn opt(out: &mut String, v: Option<f64>) {
    match v {
        Some(v) => number(out, v),
        None => out.push_str("null"),
    }
}

/// One value of a declared table's row; timestamps as milliseconds since the epoch.
pub fn cell(out: &mut String, c: Cell<'_>) {
    match c {
        Cell::Null => out.push_str("null"),
        Cell::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Cell::I32(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::U32(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::U64(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::F64(v) => number(out, v),
        Cell::Str(s) => string(out, s),
        Cell::Ts(us) => number(out, us as f64 / 1000.0),
        Cell::Date(d) => number(out, d as f64 * 86_400_000.0),
        Cell::StrList(l) => {
            out.push('[');
            for (i, s) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, s);
            }
            out.push(']');
        }
    }
}

/// `"key":` (after a comma unless `first`).
pub fn key(out: &mut String, first: bool, k: &str) {
    if !first {
        out.push(',');
    }
    string(out, k);
    out.push(':');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\n</script>\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u003c/script>\u0001""#);
        let n = |v: f64| {
            let mut s = String::new();
            number(&mut s, v);
            s
        };
        assert_eq!(n(3.0), "3");
        assert_eq!(n(f64::NAN), "null");
        assert_eq!(n(1_764_150_000.125), "1764150000.125");
        assert_eq!(n(-2.5), "-2.5");
        let c = |v: f64| {
            let mut s = String::new();
            compact(&mut s, v);
            s
        };
        assert_eq!(c(0.0), "0");
        assert_eq!(c(42.0), "42");
        assert_eq!(c(12.345678), "12.35");
        assert_eq!(c(-2.5), "-2.5");
        assert_eq!(c(99_999.4), "99999");
        assert_eq!(c(6_442_450_944.0), "6.442e9");
        assert_eq!(c(5.0e9), "5e9");
        assert_eq!(c(0.00123456), "0.001235");
        assert_eq!(c(0.000123456), "1.235e-4");
        assert_eq!(c(f64::INFINITY), "null");
        for v in [0.5, 123.456, 98765.4321, 1.5e12, 3.3e-7] {
            let back: f64 = c(v).parse().unwrap();
            assert!((back - v).abs() <= v.abs() * 1e-3, "{v} -> {back}");
        }
    }
}
