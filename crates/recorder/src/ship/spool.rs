//! The shipper's local steps, in the spool: recovery after a crash, **take** (finished files
//! out of the writer's way, under the handoff lock), **seal** (one part per folder, its inputs
//! named in its footer) and the bound on the spool's size (steps 1 and 2 of [`super`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use arrow_schema::SchemaRef;

use super::*;

pub(super) struct TableInfo {
    pub(super) name: &'static str,
    pub(super) decl: &'static TableDecl,
    pub(super) schema: SchemaRef,
    pub(super) meta: FileMeta,
}

/// The spool's folders and the bucket's keys for one recorder.
pub(super) struct Spool {
    pub(super) root: PathBuf,
    pub(super) host: String,
    pub(super) remote: Remote,
    pub(super) tables: Vec<TableInfo>,
    pub(super) hooks: Hooks,
    pub(super) last_nonce: u64,
}

/// A sealed file waiting for upload.
#[derive(Clone, Debug)]
pub(super) struct Sealed {
    pub(super) table: usize,
    pub(super) day: i64,
    pub(super) path: PathBuf,
    pub(super) name: ObjName,
}

pub(super) fn file_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = e?;
                if e.file_type()?.is_file()
                    && let Some(n) = e.file_name().to_str()
                {
                    out.push(n.to_string());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort();
    Ok(out)
}

/// Bytes of the files below `dir` (a spool: what is not yet in the bucket).
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => total += dir_bytes(&e.path()),
                // A partition's `.lock` holds its writer's stamp, not rows waiting for upload.
                Ok(t) if t.is_file() && e.file_name() != sysmon_store::layout::LOCK_FILE => {
                    total += e.metadata().map(|m| m.len()).unwrap_or(0)
                }
                _ => {}
            }
        }
    }
    total
}

impl Spool {
    pub(super) fn new(config: &Config, remote: Remote, hooks: Hooks) -> Spool {
        let tables = config
            .tables
            .iter()
            .map(|t| TableInfo {
                name: t.name(),
                decl: t.decl(),
                schema: sysmon_tables::columns::arrow_schema(t.decl()),
                meta: FileMeta {
                    table: t.name(),
                    host: config.host.clone(),
                    interval_seconds: config.interval_of(t.cadence).as_secs_f64(),
                },
            })
            .collect();
        Spool {
            root: config.dir.clone(),
            host: config.host.clone(),
            remote,
            tables,
            hooks,
            last_nonce: 0,
        }
    }

    pub(super) fn host_dir(&self, area: Option<&str>, ti: usize) -> PathBuf {
        let base = match area {
            Some(a) => self.root.join(a),
            None => self.root.clone(),
        };
        layout::host_dir(&base, self.tables[ti].name, &self.host)
    }

    pub(super) fn key(&self, ti: usize, day: i64, name: &str) -> String {
        object_key(&self.remote.prefix, self.tables[ti].name, &self.host, day, name)
    }

    /// After a crash: temporary files of `.ship` deleted, the inputs of sealed parts deleted
    /// from `.take`, the compaction work folder emptied.
    pub(super) fn recover(&self) -> io::Result<()> {
        let _ = fs::remove_dir_all(self.root.join(WORK));
        for ti in 0..self.tables.len() {
            let ship = self.host_dir(Some(SHIP), ti);
            let take = self.host_dir(Some(TAKE), ti);
            for (day, day_dir) in layout::list_days(&ship)? {
                for n in file_names(&day_dir)? {
                    if n.starts_with('.') && n.ends_with(layout::TEMP_SUFFIX) {
                        fs::remove_file(day_dir.join(&n))?;
                        continue;
                    }
                    if ObjName::parse(&n).is_none_or(|o| o.day_object) {
                        continue;
                    }
                    let Ok(kv) = store::read_kv(&day_dir.join(&n)) else {
                        continue;
                    };
                    let take_day = layout::date_dir(&take, day);
                    for input in store::kv_get(&kv, keys::MERGED_FROM).unwrap_or("").split(',') {
                        if layout::FileName::parse(input).is_some() {
                            match fs::remove_file(take_day.join(input)) {
                                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                                _ => {}
                            }
                        }
                    }
                }
                sync_dir(&day_dir)?;
            }
        }
        Ok(())
    }

    /// Step 1: moves every finished file of the spool into `.take` (the caller holds the
    /// writer's handoff lock).
    pub(super) fn take(&self) -> io::Result<()> {
        for ti in 0..self.tables.len() {
            let src = self.host_dir(None, ti);
            let dst = self.host_dir(Some(TAKE), ti);
            for (day, day_dir) in layout::list_days(&src)? {
                let files = layout::list_names(&day_dir)?;
                if files.is_empty() {
                    continue;
                }
                let to = layout::date_dir(&dst, day);
                fs::create_dir_all(&to)?;
                for f in &files {
                    fs::rename(&f.path, to.join(f.name.render()))?;
                }
                sync_dir(&to)?;
                sync_dir(&day_dir)?;
            }
        }
        Ok(())
    }

    /// Step 2: each `.take` day folder becomes one sealed part in `.ship`.
    pub(super) fn seal(&mut self) -> io::Result<()> {
        for ti in 0..self.tables.len() {
            let take = self.host_dir(Some(TAKE), ti);
            for (day, day_dir) in layout::list_days(&take)? {
                let files = layout::list_files(&day_dir)?;
                if files.is_empty() {
                    let _ = fs::remove_dir(&day_dir);
                    continue;
                }
                let name = ObjName {
                    day_object: false,
                    first_us: files.iter().map(|f| f.name.first_us).min().unwrap_or(0),
                    last_us: files.iter().map(|f| f.name.last_us).max().unwrap_or(0),
                    nonce: nonce(&mut self.last_nonce),
                };
                let inputs: Vec<String> = files.iter().map(|f| f.name.render()).collect();
                let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
                let t = &self.tables[ti];
                let kv = store::metadata_kv(&t.meta, PART_LEVEL, &inputs);
                let ship_day = layout::date_dir(&self.host_dir(Some(SHIP), ti), day);
                fs::create_dir_all(&ship_day)?;
                store::merge_files(&self.hooks, &ship_day, &name.render(), t.decl, &t.schema, &paths, kv)?;
                for p in &paths {
                    fs::remove_file(p)?;
                }
                sync_dir(&day_dir)?;
                let _ = fs::remove_dir(&day_dir);
            }
        }
        Ok(())
    }

    /// The sealed files, oldest first (parts before day objects of the same range).
    pub(super) fn sealed(&self) -> io::Result<Vec<Sealed>> {
        let mut out = Vec::new();
        for ti in 0..self.tables.len() {
            for (day, day_dir) in layout::list_days(&self.host_dir(Some(SHIP), ti))? {
                for n in file_names(&day_dir)? {
                    if let Some(name) = ObjName::parse(&n) {
                        out.push(Sealed {
                            table: ti,
                            day,
                            path: day_dir.join(&n),
                            name,
                        });
                    }
                }
            }
        }
        out.sort_by_key(|s| (s.name.first_us, s.name.day_object, s.table, s.name.nonce));
        Ok(out)
    }

    /// Whether the spool still holds files of `day` for table `ti` (not yet in the bucket).
    pub(super) fn holds_day(&self, ti: usize, day: i64) -> bool {
        [None, Some(TAKE), Some(SHIP)].iter().any(|area| {
            let d = layout::date_dir(&self.host_dir(*area, ti), day);
            file_names(&d).map(|n| !n.is_empty()).unwrap_or(false)
        })
    }

    /// Step 3 bound: drops the oldest sealed parts while the spool exceeds its cap; returns the
    /// rows dropped.
    pub(super) fn bound(&self) -> io::Result<u64> {
        let mut total = dir_bytes(&self.root);
        let mut dropped = 0;
        if total <= self.remote.spool_max_bytes {
            return Ok(0);
        }
        for s in self.sealed()? {
            if total <= self.remote.spool_max_bytes {
                break;
            }
            let bytes = fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0);
            // A day object's rows are still in the parts it covers: dropping it loses nothing.
            if !s.name.day_object {
                dropped += store::row_count(&s.path).unwrap_or(0);
            }
            fs::remove_file(&s.path)?;
            total = total.saturating_sub(bytes);
        }
        Ok(dropped)
    }
}
