//! JSON text of table values, written (never parsed): the strings and numbers of the served
//! pages and API (`sysmon-serve`) and of the alerts' labels, rows and webhook bodies
//! (`sysmon-alert`), escaped by one function for both.

use std::fmt::Write as _;

/// `s` as a JSON string literal: what JSON requires escaped (`"`, `\`, the control
/// characters) and U+2028 and U+2029 (which some JavaScript parsers take as line ends); the
/// rest as it is. For text that people also read as it is (the alerts' labels and rows in SQL).
pub fn string(out: &mut String, s: &str) {
    escape(out, s, false);
}

/// [`string`] that is also safe inside an HTML `<script>` element: `<` escaped as well, so
/// that no value can close the element (the served pages inline their data).
pub fn string_for_html(out: &mut String, s: &str) {
    escape(out, s, true);
}

fn escape(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' if html => out.push_str("\\u003c"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A number exactly (the shortest text that reads back as the same `f64`), `null` when not
/// finite.
pub fn number(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
    } else if v == v.trunc() && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers() {
        let text = "a\"b\\c\n</script>\u{1}\u{2028}é";
        let mut s = String::new();
        string(&mut s, text);
        assert_eq!(s, r#""a\"b\\c\n</script>\u0001\u2028é""#);
        let mut h = String::new();
        string_for_html(&mut h, text);
        assert_eq!(h, r#""a\"b\\c\n\u003c/script>\u0001\u2028é""#);
        let n = |v: f64| {
            let mut s = String::new();
            number(&mut s, v);
            s
        };
        assert_eq!(n(3.0), "3");
        assert_eq!(n(93.5), "93.5");
        assert_eq!(n(f64::NAN), "null");
        assert_eq!(n(f64::NEG_INFINITY), "null");
        assert_eq!(n(1_764_150_000.125), "1764150000.125");
        assert_eq!(n(-2.5), "-2.5");
        assert_eq!(n(1e20), "100000000000000000000");
    }
}
