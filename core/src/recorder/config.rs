//! What `record_metrics` asks for, and the checks that turn it into a [`Config`]: every bound
//! of every parameter is checked here, so a request is refused the same way from SQL, a
//! bench or a test.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use super::layout;
use super::tables::{self, RecordableTable};
use crate::host;
use crate::interval::describe;
use crate::live::LiveState;
use crate::procfs::syscalls::{fs_kind, writable};
use crate::schema::Cadence;

/// The shortest and longest `interval` (and `process_interval`).
pub const INTERVAL_MIN: Duration = Duration::from_millis(10);
pub const INTERVAL_MAX: Duration = Duration::from_secs(86_400);
/// The default and the bounds of `flush_interval`.
pub const FLUSH_DEFAULT: Duration = Duration::from_secs(10);
pub const FLUSH_MIN: Duration = Duration::from_millis(100);
pub const FLUSH_MAX: Duration = Duration::from_secs(86_400);
/// The default and the largest `publish_interval` (how often the write-ahead log's rows become
/// visible Parquet files; at least `flush_interval`, the default never below it). 5 minutes:
/// the fleet shipper's upload cadence, and where the writer's cost curve flattens
/// (`docs/recorder.md`).
pub const PUBLISH_DEFAULT: Duration = Duration::from_secs(300);
pub const PUBLISH_MAX: Duration = Duration::from_secs(86_400);
/// The default `process_interval` (never below `interval`).
pub const PROCESS_DEFAULT: Duration = Duration::from_secs(60);
/// The smallest `max_bytes` per recorded table: every flush writes one Parquet file per table
/// (kilobytes of footer on their own), so a smaller cap deletes the newest files as soon as
/// they are written and keeps next to nothing.
pub const MAX_BYTES_MIN_PER_TABLE: u64 = 1 << 20;
/// The shortest and longest `retention` (about 100 years).
pub const RETENTION_MIN: Duration = Duration::from_secs(60);
pub const RETENTION_MAX: Duration = Duration::from_secs(36_500 * 86_400);

/// What `record_metrics` asks for, before it is checked.
#[derive(Clone, Debug)]
pub struct Request {
    pub dir: String,
    pub interval: Duration,
    pub tables: Option<Vec<String>>,
    pub process_interval: Option<Duration>,
    pub flush_interval: Option<Duration>,
    pub publish_interval: Option<Duration>,
    pub retention: Option<Duration>,
    pub max_bytes: Option<i64>,
}

/// A checked request.
#[derive(Clone, Debug)]
pub struct Config {
    /// Absolute, normalized.
    pub dir: PathBuf,
    pub interval: Duration,
    pub process_interval: Duration,
    pub flush_interval: Duration,
    pub publish_interval: Duration,
    pub tables: Vec<RecordableTable>,
    pub retention: Option<Duration>,
    pub max_bytes: Option<u64>,
    /// The `host=` partition value.
    pub host: String,
    /// When the request was checked (in bind): a recorder started after this by another
    /// `record_metrics` of the same statement is named as such in the error (see
    /// [`super::registry::Recorders::refuse_running_on`]).
    pub checked_at: Instant,
}

impl Config {
    pub fn table_names(&self) -> Vec<String> {
        self.tables.iter().map(|t| t.name().to_string()).collect()
    }

    pub fn host_dirs(&self) -> Vec<PathBuf> {
        self.tables
            .iter()
            .map(|t| layout::host_dir(&self.dir, t.name(), &self.host))
            .collect()
    }

    /// How often `cadence`'s tables are sampled.
    pub fn interval_of(&self, cadence: Cadence) -> Duration {
        match cadence {
            Cadence::Host => self.interval,
            Cadence::Process => self.process_interval,
        }
    }
}

/// The error for an INTERVAL parameter outside `min..=max` (the binding phrases NULL and month
/// parts the same way).
pub fn interval_accepts(name: &str, min: Duration, max: Duration) -> String {
    format!(
        "{name} must be an INTERVAL from {} to {}, such as INTERVAL '2 seconds'",
        describe(min),
        describe(max)
    )
}

fn within(name: &str, d: Duration, min: Duration, max: Duration) -> Result<Duration, String> {
    if (min..=max).contains(&d) {
        Ok(d)
    } else {
        Err(format!("{}; got {}", interval_accepts(name, min, max), describe(d)))
    }
}

fn push_lexically<'a>(mut out: PathBuf, parts: impl IntoIterator<Item = Component<'a>>) -> PathBuf {
    for c in parts {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Where `path` really is: the longest part of it that exists, with every symbolic link in it
/// resolved (`realpath`), and the rest, which does not exist yet, appended. A directory is
/// checked against the lockdown and held by the recorder at this path, so a link cannot lead
/// it outside `allowed_directories`. A link whose target is missing is an error naming it.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let parts: Vec<Component> = joined.components().collect();
    for n in (1..=parts.len()).rev() {
        let prefix: PathBuf = parts[..n].iter().collect();
        match std::fs::canonicalize(&prefix) {
            Ok(real) => return Ok(push_lexically(real, parts[n..].iter().copied())),
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
                if let Ok(target) = std::fs::read_link(&prefix) {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!(
                            "'{}' is a symbolic link to '{}', which does not exist",
                            prefix.display(),
                            target.display()
                        ),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(push_lexically(PathBuf::new(), parts))
}

/// Kernel file systems that hold no files of their own (`statfs` type numbers), by name.
const PSEUDO_FILE_SYSTEMS: &[(u64, &str)] = &[
    (0x9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x6367_7270, "cgroup2"),
    (0x0027_e0eb, "cgroup"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0xcafe_4a11, "bpf"),
    (0x6165_676c, "pstore"),
    (0xde5e_81e4, "efivarfs"),
    (0x6265_6570, "configfs"),
    (0x1cd1, "devpts"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x1980_0202, "mqueue"),
    (0x6573_5543, "fusectl"),
];

/// What is wrong with the file system holding the existing directory `p`, if anything.
fn filesystem_problem(p: &Path) -> Option<String> {
    let (magic, read_only) = fs_kind(p).ok()?;
    if let Some((_, name)) = PSEUDO_FILE_SYSTEMS.iter().find(|(m, _)| *m == magic) {
        return Some(format!(
            "'{}' is on a {name} file system, a view of the kernel that cannot hold files; choose a directory on a disk",
            p.display()
        ));
    }
    read_only.then(|| format!("'{}' is on a file system mounted read-only", p.display()))
}

/// Checks `dir`: a writable directory, or creatable below a writable one, on a file system
/// that can hold files. Returns it resolved (see [`resolve`]).
fn check_dir(raw: &str) -> Result<PathBuf, String> {
    if raw.trim().is_empty() {
        return Err("dir must be a directory path, such as '/var/lib/sysmon'; got an empty string".into());
    }
    let dir = resolve(Path::new(raw)).map_err(|e| format!("dir '{raw}': cannot resolve: {e}"))?;
    let shown = dir.display().to_string();
    match std::fs::metadata(&dir) {
        Ok(m) if !m.is_dir() => return Err(format!("dir '{shown}' is a file, not a directory")),
        Ok(_) => {
            if let Some(why) = filesystem_problem(&dir) {
                return Err(format!("dir '{shown}' cannot hold a recording: {why}"));
            }
            if !writable(&dir) {
                return Err(format!("dir '{shown}' is not writable by this process"));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => {
            // It will be created: its nearest existing ancestor must be a writable directory.
            let mut a = dir.parent();
            while let Some(p) = a {
                match std::fs::metadata(p) {
                    Ok(m) if m.is_dir() => {
                        if let Some(why) = filesystem_problem(p) {
                            return Err(format!("dir '{shown}' cannot be created: {why}"));
                        }
                        if !writable(p) {
                            return Err(format!(
                                "dir '{shown}' cannot be created: '{}' is not writable by this process",
                                p.display()
                            ));
                        }
                        break;
                    }
                    Ok(_) => {
                        return Err(format!(
                            "dir '{shown}' cannot be created: '{}' is not a writable directory",
                            p.display()
                        ));
                    }
                    Err(_) => a = p.parent(),
                }
            }
        }
        Err(e) => return Err(format!("dir '{shown}': {e}")),
    }
    Ok(dir)
}

/// Checks a request without acting (safe in bind): every error names the parameter and what
/// it accepts. A recorder of `state` already writing the directory is refused too.
pub fn check(state: &LiveState, req: &Request) -> Result<Config, String> {
    let dir = check_dir(&req.dir)?;
    let interval = within("interval", req.interval, INTERVAL_MIN, INTERVAL_MAX)?;
    let tables = match &req.tables {
        Some(names) => tables::resolve(names)?,
        None => tables::defaults(state),
    };
    let process_interval = match req.process_interval {
        Some(d) => within("process_interval", d, INTERVAL_MIN, INTERVAL_MAX)?,
        None => PROCESS_DEFAULT.max(interval),
    };
    if process_interval < interval {
        return Err(format!(
            "process_interval must be at least interval ({}); got {}",
            describe(interval),
            describe(process_interval)
        ));
    }
    let flush_interval = match req.flush_interval {
        Some(d) => within("flush_interval", d, FLUSH_MIN, FLUSH_MAX)?,
        None => FLUSH_DEFAULT,
    };
    let publish_interval = match req.publish_interval {
        Some(d) => within("publish_interval", d, FLUSH_MIN, PUBLISH_MAX)?,
        None => PUBLISH_DEFAULT.max(flush_interval),
    };
    if publish_interval < flush_interval {
        return Err(format!(
            "publish_interval must be at least flush_interval ({}); got {}",
            describe(flush_interval),
            describe(publish_interval)
        ));
    }
    let retention = match req.retention {
        Some(d) => Some(within("retention", d, RETENTION_MIN, RETENTION_MAX)?),
        None => None,
    };
    let max_bytes = match req.max_bytes {
        None => None,
        Some(b) => {
            let b = u64::try_from(b)
                .ok()
                .filter(|&b| b > 0)
                .ok_or_else(|| format!("max_bytes must be a positive number of bytes; got {b}"))?;
            let floor = MAX_BYTES_MIN_PER_TABLE * tables.len() as u64;
            if b < floor {
                return Err(format!(
                    "max_bytes must be at least {floor} bytes ({} MiB per recorded table, {} table{}): each flush writes one Parquet file per table, and a smaller cap would delete the newest files as soon as they are written; got {b}",
                    MAX_BYTES_MIN_PER_TABLE >> 20,
                    tables.len(),
                    if tables.len() == 1 { "" } else { "s" }
                ));
            }
            Some(b)
        }
    };
    state.recorders.refuse_running_on(&dir, Instant::now())?;
    Ok(Config {
        dir,
        interval,
        process_interval,
        flush_interval,
        publish_interval,
        tables,
        retention,
        max_bytes,
        host: layout::host_partition(&host::hostname()),
        checked_at: Instant::now(),
    })
}
