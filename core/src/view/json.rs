//! Writing JSON text (the view only writes JSON; it never parses any).

use std::fmt::Write as _;

use crate::schema::Cell;

/// `s` as a JSON string literal.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `<` escaped so that JSON inlined into a <script> element cannot close it.
            '<' => out.push_str("\\u003c"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A number, `null` when not finite. Integral values are written without a fraction, others
/// with at most 4 decimals past what matters for a chart (shorter reports).
pub fn number(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
    } else if v == v.trunc() && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{}", Round(v));
    }
}

/// Six significant digits: what a pixel-wide chart or a hover value can show.
struct Round(f64);

impl std::fmt::Display for Round {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        let mag = v.abs().log10().floor() as i32;
        let decimals = (5 - mag).clamp(0, 12) as usize;
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        f.write_str(s)
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
        assert_eq!(n(12.345678), "12.3457");
        assert_eq!(n(0.000123456789), "0.000123457");
        assert_eq!(n(-2.5), "-2.5");
        assert_eq!(n(1234567.25), "1234567");
    }
}
