//! Deleting the oldest files: by age (`retention`) and by total size (`max_bytes`).
//!
//! Only the `<table>/host=<this host>` folders of the recorder's own tables are looked at:
//! several hosts may share a directory, and each recorder cleans up only after itself. A file
//! is deleted whole, oldest first (by its newest row, from its name): by age when its newest
//! row is older than `retention`; by size while the total exceeds `max_bytes`. Date folders
//! left empty are removed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::handle::Dir;
use super::layout::{self, Entry};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    pub files: u64,
    pub bytes: u64,
}

/// Applies the limits at time `now_us` to the files below `host_dirs`.
pub fn apply(
    host_dirs: &[PathBuf],
    now_us: i64,
    retention: Option<Duration>,
    max_bytes: Option<u64>,
) -> io::Result<Deleted> {
    let mut deleted = Deleted::default();
    if retention.is_none() && max_bytes.is_none() {
        return Ok(deleted);
    }
    let mut files: Vec<Entry> = Vec::new();
    // Each date folder is held open while its files are deleted: a link swapped in for it
    // cannot lead the deletions elsewhere (see `super::handle`).
    let mut day_dirs: Vec<(PathBuf, i64, Dir)> = Vec::new();
    for h in host_dirs {
        for (day, d) in layout::open_days(h)? {
            files.extend(layout::list_files(&d.path())?);
            day_dirs.push((h.clone(), day, d));
        }
    }
    files.sort_by_key(|e| (e.name.last_us, e.name.first_us));
    let remove = |e: &Entry, deleted: &mut Deleted| -> io::Result<()> {
        match fs::remove_file(&e.path) {
            Ok(()) => {
                deleted.files += 1;
                deleted.bytes += e.bytes;
                Ok(())
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        }
    };
    let mut kept = Vec::with_capacity(files.len());
    for e in files {
        let expired = retention.is_some_and(|r| {
            let cutoff = now_us.saturating_sub(i64::try_from(r.as_micros()).unwrap_or(i64::MAX));
            e.name.last_us < cutoff
        });
        if expired {
            remove(&e, &mut deleted)?;
        } else {
            kept.push(e);
        }
    }
    if let Some(max) = max_bytes {
        let mut total: u64 = kept.iter().map(|e| e.bytes).sum();
        for e in &kept {
            if total <= max {
                break;
            }
            remove(e, &mut deleted)?;
            total = total.saturating_sub(e.bytes);
        }
    }
    for (host, day, d) in day_dirs {
        remove_if_empty(&host, day, &d);
    }
    Ok(deleted)
}

/// Removes a date folder that holds nothing (a temp file or a foreign file keeps it), if it
/// is still the one at its name below `host`.
fn remove_if_empty(host: &Path, day: i64, d: &Dir) {
    if !fs::read_dir(d.path()).map(|mut r| r.next().is_none()).unwrap_or(false) {
        return;
    }
    let at_name = layout::date_dir(host, day);
    if Dir::open(&at_name).ok().and_then(|o| o.id().ok()) == d.id().ok() {
        let _ = fs::remove_dir(at_name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{FileName, MICROS_PER_DAY, date_dir, host_dir};

    fn touch(dir: &Path, first: i64, last: i64, size: usize) -> PathBuf {
        let d = date_dir(dir, layout::day_of(first));
        fs::create_dir_all(&d).unwrap();
        let p = d.join(
            FileName {
                level: 0,
                first_us: first,
                last_us: last,
                dup: 0,
            }
            .render(),
        );
        fs::write(&p, vec![0u8; size]).unwrap();
        p
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sysmon-retention-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn deletes_by_age_only_this_hosts_files() {
        let root = tmp("age");
        let mine = host_dir(&root, "metrics", "me");
        let other = host_dir(&root, "metrics", "other");
        let day = 20_000 * MICROS_PER_DAY;
        let old = touch(&mine, day, day + 1000, 10);
        let new = touch(&mine, day + 3 * MICROS_PER_DAY, day + 3 * MICROS_PER_DAY + 5, 10);
        let foreign = touch(&other, day, day + 1000, 10);
        let now = day + 3 * MICROS_PER_DAY + 10;
        let d = apply(
            std::slice::from_ref(&mine),
            now,
            Some(Duration::from_secs(86_400)),
            None,
        )
        .unwrap();
        assert_eq!(d, Deleted { files: 1, bytes: 10 });
        assert!(!old.exists() && new.exists() && foreign.exists());
        assert!(!old.parent().unwrap().exists(), "the emptied date folder is removed");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn deletes_oldest_until_under_max_bytes() {
        let root = tmp("size");
        let mine = host_dir(&root, "cpus", "me");
        let t = 20_000 * MICROS_PER_DAY;
        let a = touch(&mine, t, t + 10, 100);
        let b = touch(&mine, t + 20, t + 30, 100);
        let c = touch(&mine, t + 40, t + 50, 100);
        let d = apply(std::slice::from_ref(&mine), t + 60, None, Some(250)).unwrap();
        assert_eq!(d.files, 1);
        assert!(!a.exists() && b.exists() && c.exists());
        let d = apply(std::slice::from_ref(&mine), t + 60, None, Some(100)).unwrap();
        assert_eq!(d.files, 1);
        assert!(!b.exists() && c.exists());
        assert_eq!(
            apply(std::slice::from_ref(&mine), t + 60, None, None).unwrap(),
            Deleted::default()
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
