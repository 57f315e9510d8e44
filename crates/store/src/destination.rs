//! Where a recording goes: a local directory, or an S3 bucket through a local spool.
//!
//! `record_metrics`'s first argument is a destination: a plain path or `file://<path>` records
//! into that directory; `s3://<bucket>[/<prefix>]` records into a local spool folder that the
//! shipper ([`super::ship`]) uploads to the bucket. Any other `scheme://` is refused with the
//! list of what is accepted: nothing containing `://` is ever taken for a relative path.

use std::path::{Path, PathBuf};

/// What the first argument names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A local directory (as given, not yet resolved).
    Local(String),
    /// An S3 bucket and a key prefix (no leading or trailing `/`; may be empty).
    S3 { bucket: String, prefix: String },
}

/// What a destination may be, for errors.
pub const ACCEPTED: &str =
    "a local directory path (such as '/var/lib/sysmon'), file://<absolute path>, or s3://<bucket>[/<prefix>]";

impl Destination {
    /// Parses the first argument of `record_metrics`.
    pub fn parse(raw: &str) -> Result<Destination, String> {
        Destination::parse_with_home(raw, std::env::var("HOME").ok())
    }

    /// [`Destination::parse`] with `home` as the home directory: a local path `~` or `~/...`
    /// is the home directory or below it, as a shell and DuckDB's own file functions expand
    /// it (`'~/x'` used to become a folder named `~` in the working directory); `~user/...`
    /// is refused, since it names another user's home.
    pub fn parse_with_home(raw: &str, home: Option<String>) -> Result<Destination, String> {
        let Some((scheme, rest)) = raw.split_once("://") else {
            return expand_home(raw, home).map(Destination::Local);
        };
        let valid_scheme = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !valid_scheme {
            return Err(format!(
                "destination '{raw}' contains '://' but does not start with a scheme; accepted: {ACCEPTED}"
            ));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(format!(
                        "destination '{raw}': a file:// URL needs an absolute path, such as file:///var/lib/sysmon; accepted: {ACCEPTED}"
                    ));
                }
                Ok(Destination::Local(rest.to_string()))
            }
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                check_bucket(bucket).map_err(|e| format!("destination '{raw}': {e}"))?;
                let prefix = prefix.trim_matches('/');
                if prefix.split('/').any(|p| p.is_empty() || p == "." || p == "..") && !prefix.is_empty() {
                    return Err(format!(
                        "destination '{raw}': the prefix must not contain empty, '.' or '..' parts"
                    ));
                }
                Ok(Destination::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.to_string(),
                })
            }
            other => Err(format!(
                "destination scheme '{other}://' is not supported; accepted: {ACCEPTED}"
            )),
        }
    }

    /// The destination as shown in `recordings()` (never with credentials: a URL of this
    /// form has none).
    pub fn shown(&self) -> String {
        match self {
            Destination::Local(p) => p.clone(),
            Destination::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Destination::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// S3 bucket naming rules (3 to 63 of `a-z`, `0-9`, `.`, `-`, starting and ending with a
/// letter or digit).
fn check_bucket(b: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric());
    match ok {
        true => Ok(()),
        false => Err(format!(
            "'{b}' is not a valid bucket name (3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit)"
        )),
    }
}

/// FNV-1a, 64 bits: a stable short name for a destination's default spool.
pub fn fnv64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The default spool of a destination: `$XDG_CACHE_HOME/sysmon/spool/<hash>` (or
/// `~/.cache/...`), `<hash>` naming the destination and endpoint, so the next recorder of this
/// host for the same bucket finds what is left to upload. `None` when neither variable is set.
pub fn default_spool(shown: &str, endpoint: Option<&str>, var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let cache = var("XDG_CACHE_HOME")
        .filter(|v| Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            var("HOME")
                .filter(|v| Path::new(v).is_absolute())
                .map(|h| Path::new(&h).join(".cache"))
        })?;
    let key = format!("{shown}\n{}", endpoint.unwrap_or(""));
    Some(cache.join("sysmon").join("spool").join(format!("{:016x}", fnv64(&key))))
}

/// `raw` with a leading `~` (alone or before `/`) replaced by `home`.
fn expand_home(raw: &str, home: Option<String>) -> Result<String, String> {
    let Some(rest) = raw.strip_prefix('~') else {
        return Ok(raw.to_string());
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Err(format!(
            "destination '{raw}': '~user' paths are not expanded; write the full path, such as '/home/user/sysmon'"
        ));
    }
    match home.filter(|h| h.starts_with('/')) {
        Some(h) => Ok(format!("{}{rest}", h.trim_end_matches('/'))),
        None => Err(format!(
            "destination '{raw}' starts with '~' but HOME is not set to an absolute path; write the full path"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        assert_eq!(Destination::parse("/a/b"), Ok(Destination::Local("/a/b".into())));
        assert_eq!(Destination::parse("rel/dir"), Ok(Destination::Local("rel/dir".into())));
        assert_eq!(Destination::parse("file:///a/b"), Ok(Destination::Local("/a/b".into())));
        let home = || Some("/home/u/".to_string());
        for (raw, local) in [
            ("~", "/home/u"),
            ("~/x/y", "/home/u/x/y"),
            ("a/~/b", "a/~/b"),
            ("~x", ""),
        ] {
            let got = Destination::parse_with_home(raw, home());
            match local {
                "" => assert!(got.unwrap_err().contains("'~user' paths are not expanded"), "{raw}"),
                l => assert_eq!(got, Ok(Destination::Local(l.into())), "{raw}"),
            }
        }
        assert!(
            Destination::parse_with_home("~/x", None)
                .unwrap_err()
                .contains("HOME is not set")
        );
        assert_eq!(
            Destination::parse("s3://my-bucket/fleet/x/"),
            Ok(Destination::S3 {
                bucket: "my-bucket".into(),
                prefix: "fleet/x".into()
            })
        );
        assert_eq!(
            Destination::parse("S3://abc"),
            Ok(Destination::S3 {
                bucket: "abc".into(),
                prefix: "".into()
            })
        );
        assert_eq!(Destination::parse("s3://abc/p").unwrap().shown(), "s3://abc/p");
        assert_eq!(Destination::parse("s3://abc").unwrap().shown(), "s3://abc");
    }

    #[test]
    fn other_schemes_and_bad_urls_are_refused() {
        for bad in ["gs://b/x", "az://c/x", "http://h/x", "https://h/x", "hdfs://x"] {
            let e = Destination::parse(bad).unwrap_err();
            assert!(e.contains("is not supported") && e.contains("s3://<bucket>"), "{e}");
        }
        for bad in ["x/y://z", "://x", "1s3://b"] {
            let e = Destination::parse(bad).unwrap_err();
            assert!(e.contains("does not start with a scheme"), "{e}");
        }
        assert!(Destination::parse("file://rel").unwrap_err().contains("absolute path"));
        assert!(
            Destination::parse("s3://")
                .unwrap_err()
                .contains("not a valid bucket name")
        );
        assert!(
            Destination::parse("s3://UPPER/x")
                .unwrap_err()
                .contains("not a valid bucket name")
        );
        assert!(
            Destination::parse("s3://ab")
                .unwrap_err()
                .contains("not a valid bucket name")
        );
        assert!(Destination::parse("s3://bucket/a//b").unwrap_err().contains("prefix"));
        assert!(Destination::parse("s3://bucket/a/../b").unwrap_err().contains("prefix"));
    }

    #[test]
    fn default_spool_is_stable_and_per_destination() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        let a = default_spool("s3://b/p", None, env).unwrap();
        assert!(a.starts_with("/home/u/.cache/sysmon/spool/"), "{}", a.display());
        assert_eq!(a, default_spool("s3://b/p", None, env).unwrap());
        assert_ne!(a, default_spool("s3://b/q", None, env).unwrap());
        assert_ne!(
            a,
            default_spool("s3://b/p", Some("http://127.0.0.1:9000"), env).unwrap()
        );
        let xdg = |k: &str| match k {
            "XDG_CACHE_HOME" => Some("/c".to_string()),
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert!(
            default_spool("s3://b/p", None, xdg)
                .unwrap()
                .starts_with("/c/sysmon/spool")
        );
        assert_eq!(default_spool("s3://b/p", None, |_| None), None);
        assert_eq!(default_spool("s3://b/p", None, |_| Some("relative".into())), None);
    }
}
