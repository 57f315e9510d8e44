//! Where the recorder's files are, and what their names say.
//!
//! ```text
//! <dir>/<table>/host=<host>/.lock                               flock'ed by the one writer of this partition
//! <dir>/<table>/host=<host>/date=<YYYY-MM-DD>/L<level>-<first_us>-<last_us>.parquet
//! <dir>/<table>/host=<host>/date=<YYYY-MM-DD>/.L<level>-<first_us>-<last_us>.parquet.tmp
//! ```
//!
//! * `host` and `date` are hive partition keys (`hive_partitioning := true`); the date is the
//!   UTC day of the rows' `ts`, so a file never spans two days.
//! * `level` is 0 for a file written by a publish (the rows of the write-ahead log), and higher for merged files (see
//!   [`super::merge`]); `first_us`/`last_us` are the smallest and largest `ts` inside, in
//!   microseconds since the epoch, so retention and merging need no footer reads.
//! * A file being written has a temporary name starting with `.` and ending in `.tmp`, which
//!   no `*.parquet` glob matches; it gets its final name by one `rename`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::handle::{Dir, open_child};

/// The suffix of complete files.
pub const PARQUET_SUFFIX: &str = ".parquet";
/// The suffix of files being written.
pub const TEMP_SUFFIX: &str = ".tmp";
/// The lock file in each `<table>/host=<host>/` folder.
pub const LOCK_FILE: &str = ".lock";

/// A host name made safe as a path component and a hive partition value: characters other
/// than ASCII letters, digits, `-`, `.` and `_` become `_`.
pub fn host_partition(hostname: &str) -> String {
    let s: String = hostname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        "unknown".to_string()
    } else {
        s
    }
}

/// Days since 1970-01-01 as (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The UTC day number (days since the epoch) of a timestamp in microseconds.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

/// `YYYY-MM-DD` of a UTC day number.
pub fn date_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The folder of one table of one host: `<dir>/<table>/host=<host>`.
pub fn host_dir(dir: &Path, table: &str, host: &str) -> PathBuf {
    dir.join(table).join(format!("host={host}"))
}

/// The folder of one day: `<host_dir>/date=<YYYY-MM-DD>`.
pub fn date_dir(host_dir: &Path, day: i64) -> PathBuf {
    host_dir.join(format!("date={}", date_string(day)))
}

/// What a complete file's name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName {
    pub level: u32,
    pub first_us: i64,
    pub last_us: i64,
    /// Set when a name was taken and a counter was added: `L0-1-2~3.parquet`.
    pub dup: u32,
}

impl FileName {
    pub fn render(&self) -> String {
        let base = format!("L{}-{}-{}", self.level, self.first_us, self.last_us);
        if self.dup == 0 {
            format!("{base}{PARQUET_SUFFIX}")
        } else {
            format!("{base}~{}{PARQUET_SUFFIX}", self.dup)
        }
    }

    /// Parses a complete file's name; `None` for anything else (other writers' files are
    /// left alone).
    pub fn parse(name: &str) -> Option<FileName> {
        let stem = name.strip_suffix(PARQUET_SUFFIX)?.strip_prefix('L')?;
        let (stem, dup) = match stem.split_once('~') {
            Some((s, d)) => (s, d.parse().ok()?),
            None => (stem, 0),
        };
        let mut parts = stem.splitn(3, '-');
        let level = parts.next()?.parse().ok()?;
        let first_us = parts.next()?.parse().ok()?;
        let last_us = parts.next()?.parse().ok()?;
        Some(FileName {
            level,
            first_us,
            last_us,
            dup,
        })
    }
}

/// The temporary name a file is written under before it is renamed to `final_name`.
pub fn temp_name(final_name: &str) -> String {
    format!(".{final_name}{TEMP_SUFFIX}")
}

/// A complete file of ours in a date folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub name: FileName,
    pub bytes: u64,
}

/// `fs::read_dir(dir)`, `None` when the folder does not exist (yet, or any more).
fn read_dir_if_exists(dir: &Path) -> io::Result<Option<fs::ReadDir>> {
    match fs::read_dir(dir) {
        Ok(rd) => Ok(Some(rd)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The date folders below a host folder, as (day number, path), oldest first. Anything else
/// (a link among them included) is left out.
pub fn list_days(host_dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    let Some(rd) = read_dir_if_exists(host_dir)? else {
        return Ok(out);
    };
    for entry in rd {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let Some(date) = name.to_str().and_then(|n| n.strip_prefix("date=")) else {
            continue;
        };
        if let Some(day) = parse_date(date) {
            out.push((day, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// `YYYY-MM-DD` as a day number.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // days_from_civil
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let day = era * 146_097 + doe - 719_468;
    (date_string(day) == s).then_some(day)
}

/// The date folders below a host folder, oldest first, each held open (see
/// [`list_days`]; a link swapped in after the listing is refused, never followed).
pub fn open_days(host_dir: &Path) -> io::Result<Vec<(i64, Dir)>> {
    let mut out = Vec::new();
    for (day, path) in list_days(host_dir)? {
        match Dir::open(&path) {
            Ok(d) => out.push((day, d)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The date folder of `day` below `host_dir`, held open, created first when `create`; a link
/// in its place is refused (the error names it below `shown_host`).
pub fn open_date_dir(host_dir: &Path, day: i64, create: bool, shown_host: &Path) -> io::Result<Dir> {
    let name = format!("date={}", date_string(day));
    open_child(host_dir, &name, create, &shown_host.join(&name))
}

/// Our complete files in a date folder, oldest first (by first timestamp, then level). Only
/// regular files: a link with one of our names is left out.
pub fn list_files(date_dir: &Path) -> io::Result<Vec<Entry>> {
    list(date_dir, true)
}

/// [`list_files`] without the sizes (`bytes` is 0): no `stat` per file, for merging, which
/// runs after every flush and needs only the names.
pub fn list_names(date_dir: &Path) -> io::Result<Vec<Entry>> {
    list(date_dir, false)
}

fn list(date_dir: &Path, sizes: bool) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let Some(rd) = read_dir_if_exists(date_dir)? else {
        return Ok(out);
    };
    for entry in rd {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().and_then(FileName::parse) else {
            continue;
        };
        let bytes = if sizes {
            entry.metadata().map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        out.push(Entry {
            path: entry.path(),
            name,
            bytes,
        });
    }
    out.sort_by_key(|e| (e.name.first_us, e.name.last_us, e.name.level, e.name.dup));
    Ok(out)
}

/// Our temporary files in a date folder (left by a crash mid-write).
pub fn list_temps(date_dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Some(rd) = read_dir_if_exists(date_dir)? else {
        return Ok(out);
    };
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(TEMP_SUFFIX))
            && FileName::parse(inner).is_some()
        {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// fsyncs a folder, so that a rename or unlink in it is on disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(19_723), "2024-01-01");
        assert_eq!(date_string(-1), "1969-12-31");
        assert_eq!(date_string(11_016), "2000-02-29");
        for day in [-1, 0, 1, 59, 60, 11_016, 19_723, 20_000, 2_932_896] {
            assert_eq!(parse_date(&date_string(day)), Some(day), "{day}");
        }
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
        assert_eq!(parse_date("x"), None);
        assert_eq!(day_of(MICROS_PER_DAY - 1), 0);
        assert_eq!(day_of(MICROS_PER_DAY), 1);
        assert_eq!(day_of(-1), -1);
    }

    #[test]
    fn names_round_trip() {
        let n = FileName {
            level: 2,
            first_us: 1_700_000_000_000_000,
            last_us: 1_700_000_100_000_000,
            dup: 0,
        };
        assert_eq!(n.render(), "L2-1700000000000000-1700000100000000.parquet");
        assert_eq!(FileName::parse(&n.render()), Some(n.clone()));
        let d = FileName { dup: 3, ..n };
        assert_eq!(FileName::parse(&d.render()), Some(d.clone()));
        assert_eq!(FileName::parse("other.parquet"), None);
        assert_eq!(FileName::parse(&temp_name(&d.render())), None);
        assert!(!temp_name("L0-1-2.parquet").ends_with(PARQUET_SUFFIX));
    }

    #[test]
    fn host_names() {
        assert_eq!(host_partition("web-1.example.com"), "web-1.example.com");
        assert_eq!(host_partition("a/b=c"), "a_b_c");
        assert_eq!(host_partition(""), "unknown");
        assert_eq!(host_partition(".."), "unknown");
    }
}
