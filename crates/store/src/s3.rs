//! An S3 bucket and prefix with its client settings, shared by what writes a recording there
//! (the recorder's shipper, [`super::ship`]) and what reads it back (the dashboard's history
//! and the report, `sysmon_serve::view::bucket`): the checks of `endpoint` and `region`, the client
//! ([`build_store`]) and the redaction of secrets from every error ([`redact`]).

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ClientOptions, ObjectStore, RetryConfig};

use super::aws_profile::{self, Profile};
use super::destination::Destination;

/// One request may take at most this long (object_store retries inside it twice).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a recording lies in S3, and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// `s3://bucket/prefix`, as shown to users (never with credentials).
    pub shown: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

impl S3Location {
    /// Checks `endpoint` and `region` for the S3 destination `dest`; `None` when `dest` is a
    /// local directory.
    pub fn check(
        dest: &Destination,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<Option<S3Location>, String> {
        let Destination::S3 { bucket, prefix } = dest else {
            return Ok(None);
        };
        let endpoint = match endpoint {
            None => None,
            Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
                Some(e.trim_end_matches('/').to_string())
            }
            Some(e) => {
                return Err(format!(
                    "endpoint must be an http:// or https:// URL, such as 'https://s3.eu-west-1.amazonaws.com' or 'http://127.0.0.1:9000'; got '{e}'"
                ));
            }
        };
        let region = match region {
            Some(r) if r.trim().is_empty() => {
                return Err("region must be a region name, such as 'us-east-1'; got an empty string".into());
            }
            r => r.map(String::from),
        };
        Ok(Some(S3Location {
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            shown: dest.shown(),
            endpoint,
            region,
        }))
    }

    /// `rel` under the prefix.
    pub fn key(&self, rel: &str) -> String {
        match (self.prefix.is_empty(), rel.is_empty()) {
            (true, _) => rel.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{rel}", self.prefix),
        }
    }
}

/// The endpoint variables the AWS SDKs and CLI read, the service-specific one first.
pub const ENDPOINT_VARS: [&str; 3] = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"];

/// Builds the S3 client: sysmon's time-outs and retries, then the standard AWS environment
/// (every `AWS_*` variable object_store knows, as `AmazonS3Builder::from_env` reads them:
/// credentials, `AWS_REGION`, `AWS_ENDPOINT_URL[_S3]`, `AWS_ALLOW_HTTP`, ...), then what the
/// selected profile of `~/.aws` gives that no variable does ([`aws_profile`]), then the named
/// parameters. Opens no connection. An `http://` endpoint is refused up front, with what to
/// do, unless `endpoint := 'http://...'` names it or `AWS_ALLOW_HTTP` allows it (the client
/// would otherwise fail at the first request with a bare "builder error").
pub fn build_store(r: &S3Location) -> Result<Arc<dyn ObjectStore>, String> {
    // reqwest is built without a TLS provider of its own: rustls with ring (no aws-lc-sys).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let profile = aws_profile::current().map_err(|e| format!("{}: {e}", r.shown))?;
    check_endpoint(r, profile.as_ref(), |k| std::env::var(k).ok())?;
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    };
    // The client options first: `with_client_options` replaces every client option, so the
    // environment's (`AWS_ALLOW_HTTP` among them) must come after it.
    let mut b = AmazonS3Builder::new().with_retry(retry).with_client_options(
        ClientOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(Duration::from_secs(5)),
    );
    for (key, value) in std::env::vars() {
        if key.starts_with("AWS_")
            && let Ok(k) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
        {
            b = b.with_config(k, value);
        }
    }
    if let Some(p) = &profile {
        b = with_profile(b, p, r, |k| std::env::var(k).ok());
    }
    b = b.with_bucket_name(&r.bucket);
    if let Some(region) = &r.region {
        b = b.with_region(region);
    }
    if let Some(e) = &r.endpoint {
        b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
    }
    b.build()
        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        .map_err(|e| redact(&format!("cannot set up the S3 client for {}: {e}", r.shown)))
}

/// What `profile` gives that neither the variables (`var`) nor the parameters do: its keys
/// (only when `AWS_ACCESS_KEY_ID` is not set, so a pair is never mixed), its region, its
/// endpoint.
fn with_profile(
    mut b: AmazonS3Builder,
    p: &Profile,
    r: &S3Location,
    var: impl Fn(&str) -> Option<String>,
) -> AmazonS3Builder {
    let set = |k: &str| var(k).is_some_and(|v| !v.trim().is_empty());
    if !set("AWS_ACCESS_KEY_ID")
        && let (Some(id), Some(secret)) = (&p.access_key_id, &p.secret_access_key)
    {
        b = b.with_access_key_id(id).with_secret_access_key(secret);
        if let Some(t) = &p.session_token {
            b = b.with_token(t);
        }
    }
    if r.region.is_none()
        && !set("AWS_REGION")
        && !set("AWS_DEFAULT_REGION")
        && let Some(region) = &p.region
    {
        b = b.with_region(region);
    }
    if r.endpoint.is_none()
        && !ENDPOINT_VARS.iter().any(|v| set(v))
        && let Some(e) = &p.endpoint_url
    {
        b = b.with_endpoint(e.trim_end_matches('/'));
    }
    b
}

/// Refuses a plain-HTTP endpoint taken from the environment (a variable, or the profile's
/// `endpoint_url`) unless `AWS_ALLOW_HTTP` is true (`var` looks a variable up); an
/// `endpoint :=` parameter of `http://` allows itself.
pub fn check_endpoint(
    r: &S3Location,
    profile: Option<&Profile>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    if r.endpoint.is_some() {
        return Ok(());
    }
    let from_var = ENDPOINT_VARS
        .iter()
        .find_map(|&v| var(v).filter(|u| !u.trim().is_empty()).map(|u| (v.to_string(), u)));
    let from_profile = || {
        let p = profile?;
        let url = p.endpoint_url.clone()?;
        Some((format!("endpoint_url of profile '{}' in {}", p.name, p.source), url))
    };
    let Some((name, url)) = from_var.or_else(from_profile) else {
        return Ok(());
    };
    let allowed =
        var("AWS_ALLOW_HTTP").is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
    if url.trim_start().to_ascii_lowercase().starts_with("http://") && !allowed {
        return Err(format!(
            "{}: the S3 endpoint '{url}' from {name} is plain http://, which is refused: set AWS_ALLOW_HTTP=true, or pass endpoint := '{url}'",
            r.shown
        ));
    }
    Ok(())
}

/// `msg` with the values of the secret AWS variables replaced by `***` (object_store's
/// errors never contain them, but a server's error body or a future version might).
pub fn redact(msg: &str) -> String {
    let mut secrets: Vec<String> = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .collect();
    if let Ok(Some(p)) = aws_profile::current() {
        secrets.extend(p.secret_access_key);
        secrets.extend(p.session_token);
    }
    let mut out = msg.to_string();
    for v in secrets.iter().filter(|v| v.len() >= 4) {
        out = out.replace(v.as_str(), "***");
    }
    out
}

/// `"<what> '<key>' failed: <e>"`, redacted.
pub fn store_err(what: &str, key: &str, e: impl std::fmt::Display) -> String {
    redact(&format!("{what} '{key}' failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(endpoint: Option<&str>) -> S3Location {
        let dest = Destination::parse("s3://bucket/p").unwrap();
        S3Location::check(&dest, endpoint, None).unwrap().unwrap()
    }

    #[test]
    fn an_http_endpoint_from_the_environment_needs_aws_allow_http() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let e = check_endpoint(
            &location(None),
            None,
            env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")]),
        )
        .unwrap_err();
        assert!(
            e.contains("AWS_ENDPOINT_URL")
                && e.contains("AWS_ALLOW_HTTP=true")
                && e.contains("endpoint := 'http://127.0.0.1:9000'"),
            "{e}"
        );
        // The service-specific variable is the one named, as the AWS SDKs prefer it.
        let e = check_endpoint(
            &location(None),
            None,
            env(&[("AWS_ENDPOINT_URL", "https://x"), ("AWS_ENDPOINT_URL_S3", "http://y:1")]),
        )
        .unwrap_err();
        assert!(e.contains("AWS_ENDPOINT_URL_S3"), "{e}");
        for ok in [
            env(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
                ("AWS_ALLOW_HTTP", "true"),
            ]),
            env(&[("AWS_ENDPOINT_URL", "https://s3.example")]),
            env(&[]),
        ] {
            assert!(check_endpoint(&location(None), None, ok).is_ok());
        }
        // endpoint := 'http://...' is the user's own choice of plain HTTP.
        let given = location(Some("http://127.0.0.1:9000"));
        assert!(check_endpoint(&given, None, env(&[("AWS_ENDPOINT_URL", "http://other:1")])).is_ok());
        // A profile's endpoint_url is held to the same rule, and named in the message.
        let p = Profile {
            name: "ci".into(),
            endpoint_url: Some("http://127.0.0.1:9000".into()),
            source: "/home/u/.aws/config".into(),
            ..Profile::default()
        };
        let e = check_endpoint(&location(None), Some(&p), env(&[])).unwrap_err();
        assert!(e.contains("endpoint_url of profile 'ci' in /home/u/.aws/config"), "{e}");
        assert!(check_endpoint(&location(None), Some(&p), env(&[("AWS_ALLOW_HTTP", "true")])).is_ok());
    }

    #[test]
    fn locations_check_endpoint_and_region() {
        let dest = Destination::parse("s3://b-1/p/q").unwrap();
        let l = S3Location::check(&dest, Some("http://127.0.0.1:9000/"), Some("eu-west-1"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str(), l.shown.as_str()),
            ("b-1", "p/q", "s3://b-1/p/q")
        );
        assert_eq!(l.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            (l.key("metrics"), l.key("")),
            ("p/q/metrics".to_string(), "p/q".to_string())
        );
        let bare = S3Location::check(&Destination::parse("s3://b-1").unwrap(), None, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (bare.key("metrics"), bare.key("")),
            ("metrics".to_string(), String::new())
        );
        assert!(
            S3Location::check(&dest, Some("ftp://x"), None)
                .unwrap_err()
                .starts_with("endpoint must be an http:// or https:// URL")
        );
        assert!(
            S3Location::check(&dest, None, Some(" "))
                .unwrap_err()
                .starts_with("region must be")
        );
        assert_eq!(
            S3Location::check(&Destination::parse("/x").unwrap(), None, None),
            Ok(None)
        );
    }
}
