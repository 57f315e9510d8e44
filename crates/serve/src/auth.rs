//! The request checks that need no I/O: the token, the request path, the query string.
//!
//! * The token is 192 random bits from the kernel (`getrandom(2)`), written as 48 lowercase
//!   hex digits. A request carries it as `?token=` in the URL (the server then sets it as a
//!   cookie, `HttpOnly; SameSite=Strict`, so the dashboard's own requests carry it), as that
//!   cookie, or as `Authorization: Bearer <token>` (what a Prometheus scrape config sends). It
//!   is compared in constant time, and exactly: hex digits in the wrong case are refused.
//! * A path is refused when any of its segments is `.` or `..`, raw or percent-encoded
//!   (`%2e%2e`, `%2E.`), or when it holds an encoded `/` or `\`, a backslash or a NUL: the routes
//!   are fixed names, so nothing legitimate needs them.

use std::io;

/// The random token, as 48 lowercase hex digits.
pub fn new_token() -> io::Result<String> {
    let mut buf = [0u8; 24];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`, which we own.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `given` is `token`, in time that does not depend on where they differ.
pub fn token_matches(given: &[u8], token: &[u8]) -> bool {
    if given.len() != token.len() {
        return false;
    }
    let diff = given.iter().zip(token).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    // Keep the comparison from being turned into an early-exit loop.
    std::hint::black_box(diff) == 0
}

/// The value of a `Bearer` authorization header (the scheme is case-insensitive, RFC 7235).
pub fn bearer(header: &[u8]) -> Option<&[u8]> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim().as_bytes())
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let text = std::str::from_utf8(header).ok()?;
    text.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.trim().as_bytes())
    })
}

/// `%XX` decoded (a `%` not followed by two hex digits is kept as is); `None` when the result
/// is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The request path, decoded, or why it is refused.
pub fn clean_path(raw: &str) -> Result<String, &'static str> {
    if !raw.starts_with('/') {
        return Err("the path must start with '/'");
    }
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
        return Err("the path holds an encoded '/', '\\' or NUL");
    }
    let decoded = percent_decode(raw).ok_or("the path is not UTF-8")?;
    if decoded.contains('\\') || decoded.contains('\0') {
        return Err("the path holds a '\\' or NUL");
    }
    // Decoding twice catches `%252e%252e`, which a proxy in front might decode once more.
    let twice = percent_decode(&decoded).unwrap_or_default();
    for p in [&decoded, &twice] {
        if p.split('/').any(|seg| seg == ".." || seg == ".") {
            return Err("the path has a '.' or '..' segment");
        }
    }
    Ok(decoded)
}

/// The decoded `(key, value)` pairs of a query string (`+` is a space).
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let d = |s: &str| percent_decode(&s.replace('+', " ")).unwrap_or_default();
        (d(k), d(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_of_192_bits() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 48);
        assert!(
            a.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn token_comparison_is_exact() {
        let t = b"0123abcd";
        assert!(token_matches(b"0123abcd", t));
        assert!(!token_matches(b"0123ABCD", t), "wrong case");
        assert!(!token_matches(b"0123abc", t));
        assert!(!token_matches(b"0123abcde", t));
        assert!(!token_matches(b"", t));
    }

    #[test]
    fn headers() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer"), None);
        assert_eq!(
            cookie(b"a=1; sysmon_token_80=xyz; b=2", "sysmon_token_80"),
            Some(&b"xyz"[..])
        );
        assert_eq!(cookie(b"sysmon_token_81=xyz", "sysmon_token_80"), None);
    }

    #[test]
    fn paths_with_dot_segments_are_refused_raw_or_encoded() {
        for p in [
            "/../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/%2E%2E/etc/passwd",
            "/.%2e/etc/passwd",
            "/assets/../../etc/passwd",
            "/assets/%252e%252e/x",
            "/./metrics",
            "/a%2fb",
            "/a%5c..",
            "/a\\b",
            "/x%00",
            "relative",
        ] {
            assert!(clean_path(p).is_err(), "{p}");
        }
        assert_eq!(clean_path("/metrics").unwrap(), "/metrics");
        assert_eq!(clean_path("/assets/app%20x.js").unwrap(), "/assets/app x.js");
        assert_eq!(clean_path("/").unwrap(), "/");
        assert_eq!(clean_path("/a..b/c").unwrap(), "/a..b/c", "dots inside a name are fine");
    }

    #[test]
    fn query_is_decoded() {
        let q: Vec<(String, String)> = query_pairs("token=ab&collect%5B%5D=processes&x&y=a+b").collect();
        assert_eq!(
            q,
            [
                ("token".into(), "ab".into()),
                ("collect[]".into(), "processes".into()),
                ("x".into(), "".into()),
                ("y".into(), "a b".into())
            ]
        );
        assert_eq!(percent_decode("%zz%4"), Some("%zz%4".into()));
    }
}
