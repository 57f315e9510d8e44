//! Strict parsing of a request's query string: each name at most once, only the names a route
//! accepts (and `token`, which the server reads), values percent-decoded as UTF-8.

/// The parameters the server itself reads; every route accepts them.
pub const SERVER_PARAMS: &[&str] = &["token"];

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `a=1&b=2`; an unknown or repeated name, or a bad escape, is an error that says
    /// what is accepted.
    pub fn parse(query: &str, accepted: &[&str]) -> Result<Query, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = decode(k)?;
            let v = decode(v)?;
            if !accepted.contains(&k.as_str()) && !SERVER_PARAMS.contains(&k.as_str()) {
                let list = if accepted.is_empty() {
                    "this route takes no parameters".to_string()
                } else {
                    format!("accepted: {}", accepted.join(", "))
                };
                return Err(format!("unknown parameter '{}'; {list}", shorten(&k)));
            }
            if pairs.iter().any(|(n, _)| *n == k) {
                return Err(format!("parameter '{k}' is given more than once"));
            }
            pairs.push((k, v));
        }
        Ok(Query { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// At most 60 characters of a value, for error messages.
pub fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push_str("...");
    }
    out
}

/// `%XX` and `+` decoded; the result must be UTF-8.
pub fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent escape in '{}'", shorten(s)))?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("'{}' is not UTF-8 once decoded", shorten(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strictly() {
        let q = Query::parse("table=metrics&host=web%2D1&token=x&width=", &["table", "host", "width"]).unwrap();
        assert_eq!(q.get("table"), Some("metrics"));
        assert_eq!(q.get("host"), Some("web-1"));
        assert_eq!(q.get("width"), Some(""));
        assert_eq!(q.get("from"), None);
        assert!(Query::parse("", &[]).unwrap().pairs.is_empty());
        let e = Query::parse("tabel=x", &["table", "host"]).unwrap_err();
        assert_eq!(e, "unknown parameter 'tabel'; accepted: table, host");
        assert!(Query::parse("a=1", &[]).unwrap_err().contains("takes no parameters"));
        assert!(
            Query::parse("table=a&table=b", &["table"])
                .unwrap_err()
                .contains("more than once")
        );
        assert!(
            Query::parse("table=%zz", &["table"])
                .unwrap_err()
                .contains("bad percent escape")
        );
        assert!(
            Query::parse("table=%", &["table"])
                .unwrap_err()
                .contains("bad percent escape")
        );
        assert!(Query::parse("table=%ff", &["table"]).unwrap_err().contains("not UTF-8"));
        assert_eq!(decode("a+b%20c").unwrap(), "a b c");
    }
}
