//! The little JSON the alerts write: objects of strings and numbers (labels, rows, the
//! webhook's body), and RFC 3339 times.

use crate::state::Value;

/// `s` as a JSON string, quotes included.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    sysmon_tables::json::string(&mut out, s);
    out
}

/// A number as JSON (`null` where JSON has none: NaN, infinities).
pub fn number(n: f64) -> String {
    let mut out = String::new();
    sysmon_tables::json::number(&mut out, n);
    out
}

/// An object of string values.
pub fn object_of_strings<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&string(k));
        out.push(':');
        out.push_str(&string(v));
    }
    out.push('}');
    out
}

/// A row as an object: numbers as numbers, texts as strings, NULL as null.
pub fn object_of_values(pairs: &[(String, Value)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&string(k));
        out.push(':');
        match v {
            Value::Null => out.push_str("null"),
            Value::Number(n) => out.push_str(&number(*n)),
            Value::Text(t) => out.push_str(&string(t)),
        }
    }
    out.push('}');
    out
}

/// Microseconds since the epoch as RFC 3339 in UTC (`2026-12-07T03:12:00.123Z`).
pub fn rfc3339(micros: i64) -> String {
    let day = micros.div_euclid(86_400_000_000);
    let in_day = micros.rem_euclid(86_400_000_000);
    let (y, m, d) = sysmon_store::layout::civil_from_days(day);
    let secs = in_day / 1_000_000;
    let millis = (in_day % 1_000_000) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        assert_eq!(string("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(number(f64::NAN), "null");
        assert_eq!(number(93.5), "93.5");
        assert_eq!(object_of_strings([("a", "x"), ("b", "y")]), r#"{"a":"x","b":"y"}"#);
        assert_eq!(
            object_of_values(&[
                ("m".into(), Value::Text("/".into())),
                ("p".into(), Value::Number(1.0)),
                ("n".into(), Value::Null)
            ]),
            r#"{"m":"/","p":1,"n":null}"#
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_613_120_123_456), "2026-12-07T03:12:00.123Z");
    }
}
