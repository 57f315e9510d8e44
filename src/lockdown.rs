//! DuckDB's security settings, as seen by the recorder.
//!
//! The recorder writes with `std::fs`, which bypasses DuckDB's own file system checks, so
//! `record_metrics` reads the settings itself, in bind, through the bind's client context:
//! when `enable_external_access` is false it refuses a directory that is not inside
//! `allowed_directories` (or listed in `allowed_paths`).
//!
//! The two C API functions this needs (`duckdb_table_function_get_client_context`,
//! `duckdb_client_context_get_config_option`, with `duckdb_destroy_client_context`) became
//! stable in DuckDB v1.5.6 (unstable since v1.4.0 and v1.5.0). sysmon is built against the
//! stable v1.2.0 surface, so in older DuckDB their slots in the function table are absent or
//! hold other functions: they are called only when `duckdb_library_version()` is at least
//! v1.5.6. In older DuckDB the recorder cannot see a lockdown (documented in docs/security.md).
//! No connection of sysmon's own is ever opened for this (a kept connection would hold a
//! file-backed database open).

use std::ffi::CStr;
use std::path::Path;

use duckdb::vtab::{BindInfo, Value};
use sysmon_core::process::process;
use sysmon_kernel::access::{self, Allowed, HostPath};
use sysmon_kernel::procfs::Roots;
use sysmon_recorder::Config;

/// The first DuckDB version whose stable C API lets an extension read its settings.
pub const SETTINGS_API_SINCE: (u32, u32, u32) = (1, 5, 6);

/// `duckdb_library_version()` as (major, minor, patch); `None` if unreadable.
pub fn running_version() -> Option<(u32, u32, u32)> {
    // SAFETY: duckdb_library_version is in every C API version and returns a static string.
    let raw = unsafe { duckdb::ffi::duckdb_library_version() };
    if raw.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated static string owned by DuckDB.
    let text = unsafe { CStr::from_ptr(raw) }.to_string_lossy();
    parse_version(&text)
}

/// `v1.5.6`, `1.5.6-dev12` → (1, 5, 6).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let t = text.trim().trim_start_matches('v');
    let mut it = t.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

/// Whether the running DuckDB can tell sysmon its settings (the library's version, read once:
/// it cannot change while the extension is loaded, and every table function's bind asks).
pub fn settings_visible() -> bool {
    static VISIBLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VISIBLE.get_or_init(|| running_version().is_some_and(|v| v >= SETTINGS_API_SINCE))
}

fn strings(v: Option<Value>) -> Vec<String> {
    v.and_then(|v| v.to_list())
        .map(|items| items.iter().filter(|i| !i.is_null()).map(|i| i.to_string()).collect())
        .unwrap_or_default()
}

/// Refuses a remote destination (network access) when `enable_external_access` is false;
/// `doing` is what it would be used for ("recording into object storage").
pub fn check_remote(bind: &BindInfo, destination: &str, doing: &str) -> Result<(), String> {
    match lockdown(bind) {
        None => Ok(()),
        Some(_) => Err(format!(
            "DuckDB's configuration denies access to '{destination}': enable_external_access is false, and {doing} is network access; use a local directory inside allowed_directories instead"
        )),
    }
}

/// Refuses `dir` when DuckDB's configuration denies external access to it.
pub fn check_dir(bind: &BindInfo, dir: &Path) -> Result<(), String> {
    if !settings_visible() {
        return Ok(());
    }
    let Some(enabled) = bind.get_config_option("enable_external_access") else {
        return Ok(());
    };
    if enabled.is_null() || enabled.to_bool() {
        return Ok(());
    }
    let dirs = strings(bind.get_config_option("allowed_directories"));
    let paths = strings(bind.get_config_option("allowed_paths"));
    if allowed(dir, &dirs, &paths) {
        return Ok(());
    }
    Err(format!(
        "DuckDB's configuration denies access to '{}': enable_external_access is false, and the directory is not inside allowed_directories ({}) nor listed in allowed_paths ({})",
        dir.display(),
        if dirs.is_empty() {
            "none".to_string()
        } else {
            dirs.join(", ")
        },
        if paths.is_empty() {
            "none".to_string()
        } else {
            paths.join(", ")
        },
    ))
}

/// `dir` lies inside one of `dirs` (component-wise) or is one of `paths`. Every path is
/// compared where it really is (`sysmon_kernel::access::resolve`: the existing part with its
/// symbolic links resolved), so a link inside an allowed directory that points outside it does not make its
/// target allowed (DuckDB refuses `read_text` and `COPY` through such a link too).
pub fn allowed(dir: &Path, dirs: &[String], paths: &[String]) -> bool {
    sysmon_kernel::access::Allowed::new(dirs, paths).allows(dir, false)
}

/// The lockdown in force, as DuckDB reports it: its `allowed_directories` and
/// `allowed_paths`. `None` when external access is enabled, or when the running DuckDB cannot
/// tell (before 1.5.6).
pub struct Lockdown {
    pub dirs: Vec<String>,
    pub paths: Vec<String>,
}

pub fn lockdown(bind: &BindInfo) -> Option<Lockdown> {
    if !settings_visible() {
        return None;
    }
    let enabled = bind.get_config_option("enable_external_access")?;
    if enabled.is_null() || enabled.to_bool() {
        return None;
    }
    Some(Lockdown {
        dirs: strings(bind.get_config_option("allowed_directories")),
        paths: strings(bind.get_config_option("allowed_paths")),
    })
}

/// Refuses `function` when the lockdown denies one of the host paths it reads (see
/// `sysmon_kernel::access`), with an error that names the setting and how to allow them.
pub fn check_reads(bind: &BindInfo, function: &str, reads: &[HostPath]) -> Result<(), String> {
    let Some(l) = lockdown(bind) else {
        return Ok(());
    };
    // The roots of `live::process()`, named without creating the state (which reads /proc).
    let denied = access::denied(reads, &Roots::default(), &Allowed::new(&l.dirs, &l.paths));
    match denied.is_empty() {
        true => Ok(()),
        false => Err(access::refusal(function, &denied, &l.dirs, &l.paths)),
    }
}

/// `record_metrics` reads the host paths of every table it records (its directory is checked
/// by [`check_dir`]).
pub fn check_recorded(bind: &BindInfo, config: &Config) -> Result<(), String> {
    let reads: Vec<HostPath> = config
        .tables
        .iter()
        .flat_map(|t| t.entry.host_paths.iter().copied())
        .collect();
    check_reads(bind, "record_metrics", &reads)
}

/// `stop_recording(id)` writes the recorder's last file into its directory: refused when the
/// lockdown denies that directory, as `record_metrics` would be.
pub fn check_stop(bind: &BindInfo, id: i64) -> Result<(), String> {
    if lockdown(bind).is_none() {
        return Ok(());
    }
    let Some(row) = process().recorders.rows().into_iter().find(|r| r.id == id) else {
        return Ok(());
    };
    check_dir(bind, Path::new(&row.dir))
        .map_err(|e| format!("stop_recording({id}) writes the recorder's last file into its directory, and {e}"))
}

/// `serve_metrics` is refused outright under `enable_external_access = false`: serving HTTP is
/// external access (a listening socket that answers anyone who reaches it with the token).
/// Before DuckDB 1.5.6 the setting cannot be seen (see docs/security.md).
pub fn check_serve(bind: &BindInfo) -> Result<(), String> {
    match lockdown(bind) {
        None => Ok(()),
        Some(_) => Err(
            "serve_metrics() is refused: enable_external_access is false, and serving HTTP is external access (a listening socket). Start the server before SET enable_external_access = false, or in a process without the lockdown"
                .into(),
        ),
    }
}
