//! The token (drawn, or kept in a token file) and the request checks that need no I/O: the
//! token, the request path, the query string.
//!
//! * The token is 192 random bits from the kernel (`getrandom(2)`), written as 48 lowercase
//!   hex digits, drawn anew at each start, or, with `token_file`, read from that file, which the
//!   first start creates (see [`token_from_file`]), so a Prometheus `credentials_file` pointing
//!   at it, and links to the dashboard, survive restarts. A request carries it as `?token=` in the URL (the server then sets it as a
//!   cookie, `HttpOnly; SameSite=Strict`, so the dashboard's own requests carry it), as that
//!   cookie, or as `Authorization: Bearer <token>` (what a Prometheus scrape config sends). It
//!   is compared in constant time, and exactly: hex digits in the wrong case are refused.
//! * A path is refused when any of its segments is `.` or `..`, raw or percent-encoded
//!   (`%2e%2e`, `%2E.`), or when it holds an encoded `/` or `\`, a backslash or a NUL: the routes
//!   are fixed names, so nothing legitimate needs them.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sysmon_store::destination::Destination;

/// What a token file may hold: [`TOKEN_MIN`] to [`TOKEN_MAX`] characters of [`TOKEN_CHARS`]
/// (characters that need no escaping in a URL, a cookie or a bearer header), surrounded by
/// whitespace at most (a trailing newline; Prometheus' `credentials_file` trims it too).
pub const TOKEN_MIN: usize = 32;
pub const TOKEN_MAX: usize = 512;
pub const TOKEN_CHARS: &str = "A-Z a-z 0-9 - . _ ~";
/// The largest token file read (a token and its whitespace).
const TOKEN_FILE_MAX: u64 = 4096;

/// Whether `c` may be part of a token (RFC 3986's unreserved characters).
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// Why `token` (a token file's text, trimmed) is not a token, or `Ok`.
pub fn check_token(token: &str) -> Result<(), String> {
    let what = format!(
        "a token is {TOKEN_MIN} to {TOKEN_MAX} characters of {TOKEN_CHARS} (serve_metrics writes 48 hex digits)"
    );
    // The offending character is not shown: the text may be someone's secret.
    if token.chars().any(|c| !token_char(c)) {
        return Err(format!(
            "it holds a character outside {TOKEN_CHARS} (or inner whitespace): {what}"
        ));
    }
    if !(TOKEN_MIN..=TOKEN_MAX).contains(&token.len()) {
        return Err(format!("it holds {} characters: {what}", token.len()));
    }
    Ok(())
}

/// `token_file` as given, made absolute (`~` expanded, `.` and `..` removed); nothing read
/// (the lockdown is checked on this path before anything opens it).
pub fn token_file_path(raw: &str) -> Result<PathBuf, String> {
    let accepts =
        "the path of a file that holds the token, or where serve_metrics creates it, such as '/etc/sysmon/serve.token'";
    if raw.trim().is_empty() {
        return Err(format!("token_file must be {accepts}; got ''"));
    }
    let url = raw.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    if url.is_some_and(|scheme| scheme != "file") {
        return Err(format!("token_file must be {accepts}, a local file; got '{raw}'"));
    }
    let local = match Destination::parse(raw).map_err(|e| format!("token_file: {e}"))? {
        Destination::Local(p) => p,
        Destination::S3 { .. } => return Err(format!("token_file must be {accepts}, a local file; got '{raw}'")),
    };
    if raw.ends_with('/') {
        return Err(format!("token_file must be {accepts}; got the directory '{raw}'"));
    }
    Ok(sysmon_kernel::access::lexical(Path::new(&local)))
}

/// When `path` exists, it is a valid token file (see [`token_from_file`]); when it does not,
/// its directory exists. Creates nothing (DESCRIBE and PREPARE bind too).
pub fn check_token_file(path: &Path) -> Result<(), String> {
    if read_token_file(path)?.is_none() {
        parent_dir(path)?;
    }
    Ok(())
}

/// The directory `path` would be created in, when it is one.
fn parent_dir(path: &Path) -> Result<&Path, String> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(dir),
        Ok(_) => Err(format!(
            "token_file '{}' cannot be created: '{}' is not a directory",
            path.display(),
            dir.display()
        )),
        Err(e) => Err(format!(
            "token_file '{}' does not exist and cannot be created: its directory '{}' cannot be read ({e}); create the directory first",
            path.display(),
            dir.display()
        )),
    }
}

/// The token kept in `path`: read when the file exists; otherwise drawn and written there, the
/// file created with mode 0600 (readable by this process's user only) and its whole content at
/// once (written to a new file of that mode, then linked to `path`, which fails rather than
/// replace a file another process made meanwhile: then that one is read).
///
/// Refused: a symbolic link (its target could be changed by whoever may write the directory it
/// is in), anything but a regular file, a file that its group or others may read or write
/// (`mode & 0o077`: as `ssh` refuses a private key), an empty file, one that is not a token
/// ([`check_token`]).
pub fn token_from_file(path: &Path) -> Result<String, String> {
    if let Some(token) = read_token_file(path)? {
        return Ok(token);
    }
    let shown = path.display();
    let dir = parent_dir(path)?;
    let token = new_token().map_err(|e| format!("cannot draw a random token: {e}"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), &token[..8]));
    let cannot = |e: io::Error| format!("token_file '{shown}' cannot be created: {e}");
    write_new(&tmp, &token).map_err(cannot)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            // The new name made durable (best effort: a lost link only means a new token).
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(token)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_token_file(path)?
            .ok_or_else(|| format!("token_file '{shown}' was created by another process and removed again; try again")),
        // A file system without hard links: create it in place (O_EXCL still never replaces).
        Err(_) => {
            write_new(path, &token).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => {
                    format!("token_file '{shown}' was created by another process meanwhile; try again")
                }
                _ => cannot(e),
            })?;
            Ok(token)
        }
    }
}

/// Creates `path` (never an existing file, never through a link) with mode 0600 and `token`
/// and a newline in it, flushed to disk.
fn write_new(path: &Path, token: &str) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    // The umask may only have removed bits; set exactly 0600 so the owner can read it back.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let written = f.write_all(format!("{token}\n").as_bytes()).and_then(|_| f.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// The token in `path`, `None` when there is no such file; an error says what is wrong with it.
fn read_token_file(path: &Path) -> Result<Option<String>, String> {
    let shown = path.display();
    // O_NOFOLLOW: a link is refused, not followed; O_NONBLOCK: a FIFO does not block the open.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let f = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(format!(
                "token_file '{shown}' is a symbolic link: give the path of the file itself (a link can be pointed elsewhere by whoever may write its directory)"
            ));
        }
        Err(e) => return Err(format!("token_file '{shown}' cannot be read: {e}")),
    };
    let meta = f
        .metadata()
        .map_err(|e| format!("token_file '{shown}' cannot be read: {e}"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(format!(
            "token_file '{shown}' is {kind}: it must be a regular file that holds the token, or a path where none exists yet (serve_metrics creates it)"
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "token_file '{shown}' has mode {mode:04o}: its group or others may read or change it; it must be readable by its owner only, mode 0600 or 0400 (chmod 600 '{shown}')"
        ));
    }
    if meta.len() > TOKEN_FILE_MAX {
        return Err(format!(
            "token_file '{shown}' holds {} bytes: a token file holds one token (at most {TOKEN_MAX} characters)",
            meta.len()
        ));
    }
    let mut text = String::new();
    f.take(TOKEN_FILE_MAX)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => format!("token_file '{shown}' is not text (UTF-8): it must hold one token"),
            _ => format!("token_file '{shown}' cannot be read: {e}"),
        })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "token_file '{shown}' is empty: write a token into it ({TOKEN_MIN} to {TOKEN_MAX} characters of {TOKEN_CHARS}), or remove it and serve_metrics creates one"
        ));
    }
    check_token(token).map_err(|e| format!("token_file '{shown}' does not hold a token: {e}"))?;
    Ok(Some(token.to_string()))
}

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

    /// A fresh directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sysmon-auth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write_mode(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_token_file_is_created_once_with_mode_0600_then_read() {
        let d = scratch("create");
        let p = d.join("t");
        check_token_file(&p).unwrap();
        assert!(!p.exists(), "the check creates nothing");
        let t = token_from_file(&p).unwrap();
        assert_eq!(t.len(), 48);
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("{t}\n"));
        assert_eq!(token_from_file(&p).unwrap(), t, "read back, not drawn again");
        check_token_file(&p).unwrap();
        // A token written by hand, with or without a newline; 0400 is fine too.
        let own = "my-own_token.0123456789~abcdefghijklmnop";
        write_mode(&p, &format!("{own}\r\n"), 0o400);
        assert_eq!(token_from_file(&p).unwrap(), own);
        write_mode(&p, own, 0o600);
        assert_eq!(token_from_file(&p).unwrap(), own);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_bad_token_file_is_refused_saying_why() {
        let d = scratch("bad");
        let p = d.join("t");
        let err = |p: &Path| {
            let a = check_token_file(p).unwrap_err();
            let b = token_from_file(p).unwrap_err();
            assert_eq!(a, b);
            a
        };
        let good = "0123456789abcdef0123456789abcdef0123456789abcdef";
        write_mode(&p, good, 0o644);
        let e = err(&p);
        assert!(e.contains("has mode 0644") && e.contains("mode 0600 or 0400"), "{e}");
        write_mode(&p, good, 0o640);
        assert!(err(&p).contains("has mode 0640"));
        write_mode(&p, good, 0o602);
        assert!(err(&p).contains("has mode 0602"));
        write_mode(&p, "\n", 0o600);
        assert!(err(&p).contains("is empty"), "{}", err(&p));
        write_mode(&p, "short", 0o600);
        let e = err(&p);
        assert!(e.contains("holds 5 characters") && e.contains("32 to 512"), "{e}");
        write_mode(&p, &format!("{good} {good}"), 0o600);
        let e = err(&p);
        assert!(
            e.contains("a character outside") && !e.contains(good),
            "the text is never shown: {e}"
        );
        write_mode(&p, &"a".repeat(5000), 0o600);
        assert!(err(&p).contains("holds 5000 bytes"));
        std::fs::write(&p, [0xffu8; 40]).unwrap();
        assert!(err(&p).contains("is not text"), "{}", err(&p));
        // A link, even to a good file, is refused, and its target is not read.
        let target = d.join("target");
        write_mode(&target, good, 0o600);
        let link = d.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(err(&link).contains("is a symbolic link"), "{}", err(&link));
        assert!(err(&d).contains("is a directory"));
        let e = err(&d.join("missing/t"));
        assert!(
            e.contains("its directory") && e.contains("create the directory first"),
            "{e}"
        );
        // A FIFO neither blocks nor is read.
        let fifo = d.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path owned by `c`.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(err(&fifo).contains("not a regular file"), "{}", err(&fifo));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn token_file_paths() {
        assert_eq!(token_file_path("/a/./b/../t").unwrap(), PathBuf::from("/a/t"));
        assert!(token_file_path("").unwrap_err().contains("got ''"));
        assert!(token_file_path("s3://bucket/t").unwrap_err().contains("a local file"));
        assert_eq!(token_file_path("file:///a/t").unwrap(), PathBuf::from("/a/t"));
        assert!(token_file_path("/etc/").unwrap_err().contains("the directory"));
        assert!(token_file_path("relative/t").unwrap().is_absolute());
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
