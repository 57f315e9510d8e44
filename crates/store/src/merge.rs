//! Keeping the number of files small: merging, and recovering from a crash mid-merge.
//!
//! # Design
//!
//! A flush writes a level-0 file. After each flush, when a day folder holds [`FANIN`] files of
//! one level, they are merged into one file of the next level (an LSM-style cascade), and when
//! the recorder moves on to a new UTC day, the finished day is merged into one file of level
//! [`DAY_LEVEL`]. So a day being recorded has at most `FANIN - 1` files per level (a few dozen
//! at most), and a finished day has one file, with row groups of [`super::store::ROW_GROUP_ROWS`].
//! Merging streams the inputs through one row group of memory, sorting them by series in
//! chunks of [`sysmon_tables::columns::SORT_ROWS`] rows (see `docs/recorder.md`, "Merging").
//!
//! # Crash safety
//!
//! Renaming several files is never atomic, so a merge runs in an order that a crash at any
//! point leaves recoverable, and the next recorder of the partition recovers before anything
//! else ([`recover`]):
//!
//! 1. the merged file is written under a temporary name and fsync'ed: a crash here leaves a
//!    temporary file, which recovery deletes; the inputs are intact;
//! 2. it is renamed to its final name and the folder fsync'ed; its metadata
//!    ([`super::store::keys::MERGED_FROM`]) names its inputs;
//! 3. the inputs are deleted and the folder fsync'ed. A crash between 2 and 3 leaves inputs
//!    whose rows are also in the merged file; recovery deletes every input a merged file names.
//!
//! No row is ever lost. Between steps 2 and 3 (microseconds, or after a crash there until the
//! next recorder of the partition starts) a reader can see the inputs' rows twice; the test
//! `test_kill_during_merge` kills the process exactly there and checks that the next recorder
//! leaves every row exactly once.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use arrow_schema::SchemaRef;

use super::faults::Hooks;
use super::layout::{self, Entry, FileName, sync_dir};
use super::store::{self, FileMeta, keys};
use sysmon_tables::schema::TableDecl;

/// Files of one level merged together.
pub const FANIN: usize = 10;
/// The level of a finished day's single file.
pub const DAY_LEVEL: u32 = 9;

/// What merging wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    pub files: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for Merged {
    fn add_assign(&mut self, o: Merged) {
        self.files += o.files;
        self.bytes += o.bytes;
    }
}

/// Deletes temporary files and inputs of completed merges below one `<table>/host=<host>`
/// folder. Run before anything else writes there.
pub fn recover(host_dir: &Path) -> io::Result<u64> {
    let mut removed = 0;
    for (_, day) in layout::open_days(host_dir)? {
        let day_dir = day.path();
        for t in layout::list_temps(&day_dir)? {
            fs::remove_file(&t)?;
            removed += 1;
        }
        let files = layout::list_files(&day_dir)?;
        for f in files.iter().filter(|f| f.name.level > 0) {
            let kv = match store::read_kv(&f.path) {
                Ok(kv) => kv,
                Err(_) => continue,
            };
            let Some(inputs) = store::kv_get(&kv, keys::MERGED_FROM) else {
                continue;
            };
            for name in inputs.split(',').filter(|n| !n.is_empty()) {
                // Only names of our own files in this very folder.
                if FileName::parse(name).is_none() || name.contains('/') {
                    continue;
                }
                match fs::remove_file(day_dir.join(name)) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        sync_dir(&day_dir)?;
    }
    Ok(removed)
}

/// A file is merged only if it was written with the current schema of its table.
fn compatible(e: &Entry, decl: &TableDecl) -> bool {
    match store::read_kv(&e.path) {
        Ok(kv) => {
            store::kv_get(&kv, keys::SCHEMA_VERSION) == Some(&store::SCHEMA_VERSION.to_string())
                && store::kv_get(&kv, keys::TABLE) == decl.recorded.map(|r| r.name)
        }
        Err(_) => false,
    }
}

/// Merges `inputs` (files of one day folder, oldest first) into one file of `level`.
pub fn merge(
    hooks: &Hooks,
    day_dir: &Path,
    decl: &TableDecl,
    schema: &SchemaRef,
    meta: &FileMeta,
    inputs: &[Entry],
    level: u32,
) -> io::Result<Merged> {
    if inputs.len() < 2 {
        return Ok(Merged::default());
    }
    let first_us = inputs.iter().map(|e| e.name.first_us).min().unwrap_or(0);
    let last_us = inputs.iter().map(|e| e.name.last_us).max().unwrap_or(0);
    let mut name = FileName {
        level,
        first_us,
        last_us,
        dup: 0,
    };
    while day_dir.join(name.render()).exists() || inputs.iter().any(|e| e.name == name) {
        name.dup += 1;
    }
    let final_name = name.render();
    let input_names: Vec<String> = inputs.iter().map(|e| e.name.render()).collect();
    let paths: Vec<PathBuf> = inputs.iter().map(|e| e.path.clone()).collect();
    let kv = store::metadata_kv(meta, level, &input_names);
    let (bytes, _rows) = store::merge_files(hooks, day_dir, &final_name, decl, schema, &paths, kv)?;
    hooks.merge_pause("after_rename");
    for p in &paths {
        match fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    sync_dir(day_dir)?;
    Ok(Merged { files: 1, bytes })
}

/// Merges full levels of a day folder being recorded.
pub fn compact(
    hooks: &Hooks,
    day_dir: &Path,
    decl: &TableDecl,
    schema: &SchemaRef,
    meta: &FileMeta,
    fanin: usize,
) -> io::Result<Merged> {
    let mut total = Merged::default();
    // The folder is listed once, and again only after a merge changed it (this runs after
    // every flush of every table).
    let mut listed = layout::list_names(day_dir)?;
    for level in 0..DAY_LEVEL - 1 {
        if listed.iter().filter(|e| e.name.level == level).count() < fanin {
            continue;
        }
        let inputs: Vec<Entry> = listed
            .iter()
            .filter(|e| e.name.level == level && compatible(e, decl))
            .cloned()
            .collect();
        if inputs.len() >= fanin {
            total += merge(hooks, day_dir, decl, schema, meta, &inputs, level + 1)?;
            listed = layout::list_names(day_dir)?;
        }
    }
    Ok(total)
}

/// Merges every file of a finished day folder into one.
pub fn close_day(
    hooks: &Hooks,
    day_dir: &Path,
    decl: &TableDecl,
    schema: &SchemaRef,
    meta: &FileMeta,
) -> io::Result<Merged> {
    let files = layout::list_names(day_dir)?;
    if files.len() < 2 {
        return Ok(Merged::default());
    }
    let inputs: Vec<Entry> = files.into_iter().filter(|e| compatible(e, decl)).collect();
    merge(hooks, day_dir, decl, schema, meta, &inputs, DAY_LEVEL)
}
