//! What `record_metrics` asks for, and the checks that turn it into a [`Config`]: every bound
//! of every parameter is checked here, so a request is refused the same way from SQL, a
//! bench or a test.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use sysmon_kernel::host;
use sysmon_kernel::interval::describe;
use sysmon_kernel::procfs::syscalls::{fs_kind, writable};
use sysmon_live::LiveState;
use sysmon_store::destination::{self, Destination};
use sysmon_store::faults::Hooks;
use sysmon_store::layout;
use sysmon_tables::recorded::{self as tables, RecordableTable};
use sysmon_tables::schema::Cadence;

/// The shortest and longest `interval` (and `process_interval`).
pub const INTERVAL_MIN: Duration = Duration::from_millis(10);
pub const INTERVAL_MAX: Duration = Duration::from_secs(86_400);
/// The default and the bounds of `flush_interval`.
pub const FLUSH_DEFAULT: Duration = Duration::from_secs(10);
pub const FLUSH_MIN: Duration = Duration::from_millis(100);
pub const FLUSH_MAX: Duration = Duration::from_secs(86_400);
/// The default and the largest `publish_interval` (how often the write-ahead log's rows become
/// visible Parquet files; at least `flush_interval`, the default never below it). One minute:
/// plain `read_parquet` over the folder then sees a sample within a minute (issue 20), for a
/// writer cost per sample measured in `docs/recorder.md` ("Freshness"); `read_recording` reads
/// the log too and does not wait for it.
pub const PUBLISH_DEFAULT: Duration = Duration::from_secs(60);
pub const PUBLISH_MAX: Duration = Duration::from_secs(86_400);
/// The default `process_interval` (never below `interval`).
pub const PROCESS_DEFAULT: Duration = Duration::from_secs(60);
/// The smallest `max_bytes` per recorded table: every publish writes one Parquet file per table
/// (kilobytes of footer on their own), so a smaller cap deletes the newest files as soon as
/// they are written and keeps next to nothing.
pub const MAX_BYTES_MIN_PER_TABLE: u64 = 1 << 20;
/// The shortest and longest `retention` (about 100 years).
pub const RETENTION_MIN: Duration = Duration::from_secs(60);
pub const RETENTION_MAX: Duration = Duration::from_secs(36_500 * 86_400);

/// The default and bounds of `upload_interval` (S3 destinations): 5 minutes is about 100
/// PUT requests per hour for the eight default tables (one object per table per upload).
pub const UPLOAD_INTERVAL_DEFAULT: Duration = Duration::from_secs(300);
pub const UPLOAD_INTERVAL_MIN: Duration = Duration::from_secs(1);
pub const UPLOAD_INTERVAL_MAX: Duration = Duration::from_secs(86_400);
/// The default `spool_max_bytes`: what waits for upload at most (rows beyond are dropped and
/// counted in `rows_dropped`).
pub const SPOOL_MAX_BYTES_DEFAULT: u64 = 1 << 30;

/// The parameters of an S3 destination, before they are checked (all absent for a local one).
#[derive(Clone, Debug, Default)]
pub struct ShipRequest {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub spool: Option<String>,
    pub upload_interval: Option<Duration>,
    pub spool_max_bytes: Option<i64>,
}

impl Remote {
    /// The bucket, prefix and client settings (what the view reads back too).
    pub fn location(&self) -> sysmon_store::s3::S3Location {
        sysmon_store::s3::S3Location {
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            shown: self.shown.clone(),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
        }
    }
}

impl ShipRequest {
    fn given(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.endpoint.is_some() {
            v.push("endpoint");
        }
        if self.region.is_some() {
            v.push("region");
        }
        if self.spool.is_some() {
            v.push("spool");
        }
        if self.upload_interval.is_some() {
            v.push("upload_interval");
        }
        if self.spool_max_bytes.is_some() {
            v.push("spool_max_bytes");
        }
        v
    }
}

/// A checked S3 destination: the recorder writes its spool (`Config::dir`) and the shipper
/// uploads it here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// `s3://bucket/prefix`, as `recordings()` shows it.
    pub shown: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub upload_interval: Duration,
    pub spool_max_bytes: u64,
}

/// What `record_metrics` asks for, before it is checked.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub dir: String,
    pub interval: Duration,
    pub tables: Option<Vec<String>>,
    pub process_interval: Option<Duration>,
    pub flush_interval: Option<Duration>,
    pub publish_interval: Option<Duration>,
    pub retention: Option<Duration>,
    pub max_bytes: Option<i64>,
    /// S3 destinations only.
    pub ship: ShipRequest,
}

/// A checked request.
#[derive(Clone, Debug)]
pub struct Config {
    /// Absolute, normalized: the recording directory, or an S3 destination's spool.
    pub dir: PathBuf,
    /// The S3 destination the spool is uploaded to; `None` for a local recording.
    pub remote: Option<Remote>,
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
    /// [`super::lifecycle::refuse_running_on`]).
    pub checked_at: Instant,
    /// The test hooks this recorder injects into its own writes: the `SYSMON_TEST_*`
    /// variables when [`check`] ran; unit tests set their own (see [`sysmon_store::faults`]).
    pub faults: Hooks,
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

/// The error for an interval parameter outside `min..=max` (the binding phrases NULL, month
/// parts and texts that are no duration the same way), with an example inside the bounds.
pub fn interval_accepts(name: &str, min: Duration, max: Duration) -> String {
    sysmon_kernel::interval::accepts(name, min, max)
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
/// it accepts. Whether another recorder already writes the destination is checked by
/// [`super::lifecycle::check`], which calls this.
pub fn check(state: &LiveState, req: &Request) -> Result<Config, String> {
    let (dir, remote) = match Destination::parse(&req.dir)? {
        Destination::Local(path) => {
            if let Some(p) = req.ship.given().first() {
                return Err(format!(
                    "{p} applies only to an s3:// destination; '{}' is a local directory",
                    req.dir
                ));
            }
            (check_dir(&path)?, None)
        }
        dest @ Destination::S3 { .. } => {
            let (remote, spool) = check_remote(&dest, &req.ship)?;
            if req.retention.is_some() || req.max_bytes.is_some() {
                return Err(format!(
                    "retention and max_bytes apply to local recordings; for {} bound the spool with spool_max_bytes and expire old objects with the bucket's lifecycle rules",
                    remote.shown
                ));
            }
            let spool = check_dir(&spool).map_err(|e| format!("spool: {e}"))?;
            (spool, Some(remote))
        }
    };
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
        // An s3:// recording ships published files: publishing less often than it uploads
        // would leave the uploads empty.
        None => remote
            .as_ref()
            .map_or(PUBLISH_DEFAULT, |r| PUBLISH_DEFAULT.min(r.upload_interval))
            .max(flush_interval),
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
                    "max_bytes must be at least {floor} bytes ({} MiB per recorded table, {} table{}): each publish writes one Parquet file per table, and a smaller cap would delete the newest files as soon as they are written; got {b}",
                    MAX_BYTES_MIN_PER_TABLE >> 20,
                    tables.len(),
                    if tables.len() == 1 { "" } else { "s" }
                ));
            }
            Some(b)
        }
    };
    if let Some(r) = &remote {
        let floor = MAX_BYTES_MIN_PER_TABLE * tables.len() as u64;
        if r.spool_max_bytes < floor {
            return Err(format!(
                "spool_max_bytes must be at least {floor} bytes ({} MiB per recorded table); got {}",
                MAX_BYTES_MIN_PER_TABLE >> 20,
                r.spool_max_bytes
            ));
        }
    }
    Ok(Config {
        dir,
        remote,
        interval,
        process_interval,
        flush_interval,
        publish_interval,
        tables,
        retention,
        max_bytes,
        host: layout::host_partition(&host::hostname()),
        checked_at: Instant::now(),
        faults: Hooks::from_env(|k| std::env::var(k).ok()),
    })
}

/// Checks an S3 destination's parameters; returns it and its spool (not yet checked as a
/// directory).
fn check_remote(dest: &Destination, ship: &ShipRequest) -> Result<(Remote, String), String> {
    let Some(loc) = sysmon_store::s3::S3Location::check(dest, ship.endpoint.as_deref(), ship.region.as_deref())? else {
        return Err("not an s3:// destination".into());
    };
    let sysmon_store::s3::S3Location {
        bucket,
        prefix,
        shown,
        endpoint,
        region,
    } = loc;
    let upload_interval = match ship.upload_interval {
        Some(d) => within("upload_interval", d, UPLOAD_INTERVAL_MIN, UPLOAD_INTERVAL_MAX)?,
        None => UPLOAD_INTERVAL_DEFAULT,
    };
    let spool_max_bytes = match ship.spool_max_bytes {
        None => SPOOL_MAX_BYTES_DEFAULT,
        Some(b) => u64::try_from(b)
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| format!("spool_max_bytes must be a positive number of bytes; got {b}"))?,
    };
    let spool = match &ship.spool {
        Some(s) if s.contains("://") => {
            return Err(format!("spool must be a local directory path; got '{s}'"));
        }
        Some(s) => s.clone(),
        None => destination::default_spool(&shown, endpoint.as_deref(), |k| std::env::var(k).ok())
            .ok_or("spool: neither XDG_CACHE_HOME nor HOME is set to an absolute path, so there is no default spool folder; set spool := '/path'")?
            .display()
            .to_string(),
    };
    Ok((
        Remote {
            bucket,
            prefix,
            shown,
            endpoint,
            region,
            upload_interval,
            spool_max_bytes,
        },
        spool,
    ))
}
