//! The AWS CLI's shared files, read as the CLI reads them, for what object_store leaves out: a
//! profile's keys, region and endpoint.
//!
//! * The profile: `AWS_PROFILE` (else `AWS_DEFAULT_PROFILE`, else `default`).
//! * `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`), section `[<name>]`, and
//!   `AWS_CONFIG_FILE` (else `~/.aws/config`), section `[profile <name>]` (`[default]` for the
//!   default profile); a key in the credentials file wins over the same key in the config file.
//! * Keys read: `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`, `region`,
//!   `endpoint_url`.
//!
//! What the environment says wins over a profile, as with the CLI ([`super::s3::build_store`]
//! applies a profile's value only where no variable gives one). A profile named by
//! `AWS_PROFILE` that neither file has is an error, as it is for the CLI; the default profile
//! may be absent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What one profile says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Where it was found, for messages: `~/.aws/config` or the file's path.
    pub source: String,
}

/// The process's profile: the variables and the files the real environment names.
pub fn current() -> Result<Option<Profile>, String> {
    load(|k| std::env::var(k).ok(), |p| std::fs::read_to_string(p).ok())
}

/// The profile `var` (a variable look-up) selects, read with `read` (a file's text, `None`
/// when it cannot be read); `None` when the default profile is selected and no file has it.
pub fn load(
    var: impl Fn(&str) -> Option<String>,
    read: impl Fn(&Path) -> Option<String>,
) -> Result<Option<Profile>, String> {
    let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    let named = var("AWS_PROFILE").or_else(|| var("AWS_DEFAULT_PROFILE"));
    let name = named.clone().unwrap_or_else(|| "default".into());
    let home = var("HOME").map(PathBuf::from);
    let file = |over: &str, default: &str| {
        var(over)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    let config = file("AWS_CONFIG_FILE", ".aws/config");
    let cred_section = credentials
        .as_deref()
        .and_then(&read)
        .and_then(|t| sections(&t).remove(&name));
    let config_section = config.as_deref().and_then(&read).and_then(|t| {
        let mut s = sections(&t);
        s.remove(&format!("profile {name}"))
            .or_else(|| (name == "default").then(|| s.remove("default")).flatten())
    });
    if cred_section.is_none() && config_section.is_none() {
        return match named {
            Some(n) => Err(format!(
                "AWS_PROFILE '{n}' is not a profile of {} or {}: name a profile those files have, or unset AWS_PROFILE",
                shown(credentials.as_deref(), "~/.aws/credentials"),
                shown(config.as_deref(), "~/.aws/config")
            )),
            None => Ok(None),
        };
    }
    let source = match (&cred_section, &config_section) {
        (Some(_), _) => shown(credentials.as_deref(), "~/.aws/credentials"),
        _ => shown(config.as_deref(), "~/.aws/config"),
    };
    let get = |key: &str| {
        cred_section
            .as_ref()
            .and_then(|s| s.get(key))
            .or_else(|| config_section.as_ref().and_then(|s| s.get(key)))
            .cloned()
    };
    Ok(Some(Profile {
        access_key_id: get("aws_access_key_id"),
        secret_access_key: get("aws_secret_access_key"),
        session_token: get("aws_session_token"),
        region: get("region"),
        endpoint_url: get("endpoint_url"),
        name,
        source,
    }))
}

fn shown(path: Option<&Path>, default: &str) -> String {
    path.map_or_else(|| default.to_string(), |p| p.display().to_string())
}

/// The sections of an INI file as the AWS CLI writes them: `[name]` headers, `key = value`
/// lines, `#` and `;` comments; keys lower-cased. Indented lines (nested settings such as
/// `s3 =` blocks) are left out.
fn sections(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if let (Some(section), Some((k, v))) = (&current, line.split_once('='))
            && let Some(s) = out.get_mut(section)
        {
            s.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = defaultsecret\n\n# a comment\n[ci]\naws_access_key_id=AKIACI\naws_secret_access_key=cisecret\naws_session_token = citoken\n";
    const CONFIG: &str = "[default]\nregion = eu-west-1\n\n[profile ci]\nregion = us-west-2\nendpoint_url = http://127.0.0.1:9000\ns3 =\n  addressing_style = path\naws_access_key_id = IGNORED\n";

    fn files(path: &Path) -> Option<String> {
        match path.to_str()? {
            "/home/u/.aws/credentials" => Some(CREDENTIALS.into()),
            "/home/u/.aws/config" => Some(CONFIG.into()),
            _ => None,
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn a_named_profile_reads_both_files_credentials_first() {
        let p = load(env(&[("HOME", "/home/u"), ("AWS_PROFILE", "ci")]), files)
            .unwrap()
            .unwrap();
        assert_eq!(p.name, "ci");
        assert_eq!(p.access_key_id.as_deref(), Some("AKIACI"), "the credentials file wins");
        assert_eq!(p.secret_access_key.as_deref(), Some("cisecret"));
        assert_eq!(p.session_token.as_deref(), Some("citoken"));
        assert_eq!(p.region.as_deref(), Some("us-west-2"));
        assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(p.source, "/home/u/.aws/credentials");
    }

    #[test]
    fn the_default_profile_uses_the_plain_default_section_of_config() {
        let p = load(env(&[("HOME", "/home/u")]), files).unwrap().unwrap();
        assert_eq!(p.name, "default");
        assert_eq!(p.access_key_id.as_deref(), Some("AKIADEFAULT"));
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        assert_eq!(p.endpoint_url, None);
    }

    #[test]
    fn files_named_by_variables_and_missing_profiles() {
        let read = |p: &Path| (p == Path::new("/etc/c")).then(|| "[x]\naws_access_key_id = K\n".to_string());
        let p = load(
            env(&[("AWS_SHARED_CREDENTIALS_FILE", "/etc/c"), ("AWS_DEFAULT_PROFILE", "x")]),
            read,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.access_key_id.as_deref(), Some("K"));
        // No file, default profile: nothing to add, no error.
        assert_eq!(load(env(&[("HOME", "/nowhere")]), |_| None).unwrap(), None);
        // A profile named on purpose that no file has is an error, as for the CLI.
        let e = load(env(&[("HOME", "/home/u"), ("AWS_PROFILE", "prod")]), files).unwrap_err();
        assert!(
            e.contains("AWS_PROFILE 'prod'") && e.contains("/home/u/.aws/config"),
            "{e}"
        );
    }
}
