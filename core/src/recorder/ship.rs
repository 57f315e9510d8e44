//! The shipper: uploads a recording's spool to an S3 bucket (issue 9).
//!
//! The recorder writes an S3 destination's rows into a local spool exactly as a local
//! recording (same writer, same crash-safe files); this thread moves them to the bucket. It
//! owns a `current_thread` tokio runtime (object_store is async) and never runs on DuckDB's
//! threads. The design, each step crash-safe (see `docs/recorder.md`, "Recording to object
//! storage"):
//!
//! 1. **take** (every `upload_interval`, and at stop): under [`super::Shared::handoff`], the
//!    lock the writer holds while it changes visible files, every finished visible file of the
//!    spool (`layout::list_files`: the store's notion of a finished file, whatever the writer
//!    does inside) is renamed into `.take/<table>/host=<h>/date=<d>/`.
//! 2. **seal**: each such folder is merged into one part `P-<first_us>-<last_us>-<nonce>.parquet`
//!    in `.ship/...`, whose footer names its inputs (`sysmon.merged_from`); the inputs are then
//!    deleted. A crash between the two: recovery deletes the inputs a part names.
//! 3. **upload**, oldest first: PUT to `<prefix>/<table>/host=<h>/date=<d>/<name>` (the key is
//!    the local name, fixed when the part was sealed, so a re-upload after a crash overwrites),
//!    then the local copy is deleted. One object per table per upload: about 100 PUT per hour
//!    for the eight default tables at the default 5 minutes.
//! 4. **day compaction**: a finished UTC day with several objects in the bucket is downloaded
//!    and merged into one `D-...parquet` whose footer lists the objects it covers
//!    (`sysmon.covers`); after its PUT, the covered objects are deleted. A crash before the PUT
//!    leaves the day object in `.ship` (uploaded at the next start); after it, the next
//!    recorder's upload or compaction deletes the covered objects (a compaction never merges
//!    a day object with objects it covers).
//!
//! Failures (server down, 5xx, throttling, wrong credentials mid-run) go to `last_error` and
//! are retried with exponential backoff ([`Backoff`]); the spool is bounded by
//! `spool_max_bytes` (the oldest parts are dropped, their rows counted in `rows_dropped`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow_schema::SchemaRef;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::config::{Config, Remote};
use super::faults::Hooks;
use super::layout::{self, sync_dir};
pub use super::objects::{COVERS, ObjName, object_key};
use super::s3::{REQUEST_TIMEOUT, build_store, redact, store_err};
use super::store::{self, FileMeta, keys};
use super::{Shared, wall_us};
use crate::schema::{TableDecl, Timestamp};
use crate::sync::lock;

/// How long `stop_recording` waits for the final upload (within its [`super::STOP_TIMEOUT`]).
pub const STOP_UPLOAD_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the start-up probe (a PUT and a DELETE of a marker object) may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Backoff between failed uploads.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(64);
/// The merge level written into parts' footers.
pub const PART_LEVEL: u32 = 8;

/// Folders of the spool the shipper owns (the writer's are `<table>/...`).
pub const TAKE: &str = ".take";
pub const SHIP: &str = ".ship";
pub const WORK: &str = ".day";

/// Exponential backoff: `BACKOFF_MIN`, doubling to `BACKOFF_MAX`; reset on success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    /// The wait after one more failure.
    pub fn fail(&mut self) -> Duration {
        let d = self.next.unwrap_or(BACKOFF_MIN);
        self.next = Some((d * 2).min(BACKOFF_MAX));
        d
    }
    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// A name never given before in this spool: microseconds now, bumped past `last`.
fn nonce(last: &mut u64) -> u64 {
    let n = (wall_us().max(0) as u64).max(*last + 1);
    *last = n;
    n
}


/// What the shipper reports (`recordings()`).
#[derive(Clone, Debug, Default)]
pub struct ShipStatus {
    pub objects_uploaded: u64,
    pub bytes_uploaded: u64,
    /// Bytes in the spool not yet in the bucket (spool files, taken and sealed ones).
    pub backlog_bytes: u64,
    pub last_upload_at: Option<Timestamp>,
    /// The oldest row known not to be in the bucket (µs): the oldest sealed file's first row,
    /// or the writer's last flush before the last take (the rows after it are in the spool or
    /// in memory), or the start.
    pub oldest_unshipped_us: i64,
    /// Rows of parts dropped because the spool exceeded `spool_max_bytes`.
    pub rows_dropped: u64,
    pub cpu_ns: u64,
}

#[derive(Debug, Default)]
struct CtlState {
    finish_by: Option<Instant>,
    done: bool,
}

#[derive(Debug, Default)]
struct Ctl {
    state: Mutex<CtlState>,
    cv: Condvar,
    status: Mutex<ShipStatus>,
}

/// The handle of a running shipper.
#[derive(Debug)]
pub struct Shipper {
    ctl: Arc<Ctl>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Shipper {
    pub fn status(&self) -> ShipStatus {
        lock(&self.ctl.status).clone()
    }

    /// Asks for the final upload (what the spool holds once the writer has finished), to end
    /// by `deadline`; waits for it until then. True when it ended in time.
    pub fn finish(&self, deadline: Instant) -> bool {
        {
            let mut s = lock(&self.ctl.state);
            if s.finish_by.is_none() {
                s.finish_by = Some(deadline);
            }
        }
        self.ctl.cv.notify_all();
        let mut s = lock(&self.ctl.state);
        while !s.done {
            let now = Instant::now();
            // A little past the deadline: the thread bounds each request by it.
            let until = deadline + Duration::from_millis(500);
            if now >= until {
                return false;
            }
            s = match self.ctl.cv.wait_timeout(s, until - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        drop(s);
        if let Some(h) = lock(&self.thread).take() {
            let _ = h.join();
        }
        true
    }
}

struct TableInfo {
    name: &'static str,
    decl: &'static TableDecl,
    schema: SchemaRef,
    meta: FileMeta,
}

/// The spool's folders and the bucket's keys for one recorder.
struct Spool {
    root: PathBuf,
    host: String,
    remote: Remote,
    tables: Vec<TableInfo>,
    hooks: Hooks,
    last_nonce: u64,
}

/// A sealed file waiting for upload.
#[derive(Clone, Debug)]
struct Sealed {
    table: usize,
    day: i64,
    path: PathBuf,
    name: ObjName,
}

fn file_names(dir: &Path) -> io::Result<Vec<String>> {
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
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

impl Spool {
    fn new(config: &Config, remote: Remote, hooks: Hooks) -> Spool {
        let tables = config
            .tables
            .iter()
            .map(|t| TableInfo {
                name: t.name(),
                decl: t.decl(),
                schema: crate::tables::columns::arrow_schema(t.decl()),
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

    fn host_dir(&self, area: Option<&str>, ti: usize) -> PathBuf {
        let base = match area {
            Some(a) => self.root.join(a),
            None => self.root.clone(),
        };
        layout::host_dir(&base, self.tables[ti].name, &self.host)
    }

    fn key(&self, ti: usize, day: i64, name: &str) -> String {
        object_key(&self.remote.prefix, self.tables[ti].name, &self.host, day, name)
    }

    /// After a crash: temporary files of `.ship` deleted, the inputs of sealed parts deleted
    /// from `.take`, the compaction work folder emptied.
    fn recover(&self) -> io::Result<()> {
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
    fn take(&self) -> io::Result<()> {
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
    fn seal(&mut self) -> io::Result<()> {
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
    fn sealed(&self) -> io::Result<Vec<Sealed>> {
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
    fn holds_day(&self, ti: usize, day: i64) -> bool {
        [None, Some(TAKE), Some(SHIP)].iter().any(|area| {
            let d = layout::date_dir(&self.host_dir(*area, ti), day);
            file_names(&d).map(|n| !n.is_empty()).unwrap_or(false)
        })
    }

    /// Step 3 bound: drops the oldest sealed parts while the spool exceeds its cap; returns the
    /// rows dropped.
    fn bound(&self) -> io::Result<u64> {
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

/// The shipper thread's state.
struct Run {
    spool: Spool,
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    ctl: Arc<Ctl>,
    /// (table, day) with uploads, to compact once the day is over.
    days: std::collections::BTreeSet<(usize, i64)>,
    /// See [`ShipStatus::oldest_unshipped_us`].
    last_take_us: i64,
}

impl Run {
    /// Runs `f` on the runtime, bounded by `limit`.
    fn block<T>(
        &self,
        limit: Duration,
        f: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<T, String> {
        self.rt.block_on(async {
            match tokio::time::timeout(limit, f).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", limit.as_secs_f64())),
            }
        })
    }

    fn limit(deadline: Option<Instant>) -> Duration {
        match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
            None => REQUEST_TIMEOUT * 3,
        }
    }

    /// A PUT and a DELETE of a marker object: wrong credentials, a missing bucket or a refused
    /// write fail here, before the recorder starts.
    fn probe(&self) -> Result<(), String> {
        let name = format!(".sysmon-probe-{}-{}", self.spool.host, std::process::id());
        let key = if self.spool.remote.prefix.is_empty() {
            name
        } else {
            format!("{}/{name}", self.spool.remote.prefix)
        };
        let path = Key::parse(&key).map_err(|e| e.to_string())?;
        let shown = &self.spool.remote.shown;
        let hint = "check that the bucket exists, that the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the instance's role) may write to it, and the endpoint and region";
        self.block(
            PROBE_TIMEOUT,
            self.store.put(&path, PutPayload::from(b"sysmon probe".to_vec())),
        )
        .map_err(|e| redact(&format!("cannot write to {shown} (a test object '{key}'): {e}; {hint}")))?;
        self.block(PROBE_TIMEOUT, self.store.delete(&path)).map_err(|e| {
            redact(&format!(
                "cannot delete from {shown} (a test object '{key}'): {e}; {hint}"
            ))
        })?;
        Ok(())
    }

    /// The days each table has in the bucket before today (compacted when finished).
    fn seed_days(&mut self) -> Result<(), String> {
        let today = layout::day_of(wall_us());
        for ti in 0..self.spool.tables.len() {
            let key = self.spool.key(ti, 0, "");
            let host_prefix = key.rsplit_once("/date=").map(|(h, _)| h.to_string()).unwrap_or(key);
            let path = Key::parse(&host_prefix).map_err(|e| e.to_string())?;
            let listed = self
                .block(REQUEST_TIMEOUT * 3, self.store.list_with_delimiter(Some(&path)))
                .map_err(|e| store_err("listing", &host_prefix, e))?;
            for p in listed.common_prefixes {
                if let Some(day) = p
                    .filename()
                    .and_then(|f| f.strip_prefix("date="))
                    .and_then(layout::parse_date)
                    && day < today
                {
                    self.days.insert((ti, day));
                }
            }
        }
        Ok(())
    }

    /// Uploads one sealed file, then deletes what it covers and its local copy.
    fn upload(&mut self, s: &Sealed, deadline: Option<Instant>) -> Result<(), String> {
        let name = s.name.render();
        let key = self.spool.key(s.table, s.day, &name);
        let path = Key::parse(&key).map_err(|e| e.to_string())?;
        let body = fs::read(&s.path).map_err(|e| format!("reading {}: {e}", s.path.display()))?;
        let bytes = body.len() as u64;
        self.block(Self::limit(deadline), self.store.put(&path, PutPayload::from(body)))
            .map_err(|e| store_err("uploading", &key, e))?;
        if s.name.day_object {
            self.spool.hooks.ship_pause("day_after_upload");
            let kv = store::read_kv(&s.path).map_err(|e| format!("reading {}: {e}", s.path.display()))?;
            for covered in store::kv_get(&kv, COVERS).unwrap_or("").split(',') {
                if ObjName::parse(covered).is_none() || covered == name {
                    continue;
                }
                let ckey = self.spool.key(s.table, s.day, covered);
                let cpath = Key::parse(&ckey).map_err(|e| e.to_string())?;
                match self.block(Self::limit(deadline), self.store.delete(&cpath)) {
                    Ok(()) => {}
                    Err(e) if e.contains("not found") || e.contains("NotFound") => {}
                    Err(e) => return Err(store_err("deleting the compacted", &ckey, e)),
                }
            }
        } else {
            self.spool.hooks.ship_pause("after_upload");
        }
        fs::remove_file(&s.path).map_err(|e| format!("deleting {}: {e}", s.path.display()))?;
        if let Some(d) = s.path.parent() {
            let _ = sync_dir(d);
        }
        let mut st = lock(&self.ctl.status);
        st.objects_uploaded += 1;
        st.bytes_uploaded += bytes;
        st.last_upload_at = Some(Timestamp::now());
        drop(st);
        self.days.insert((s.table, s.day));
        Ok(())
    }

    /// Step 4: merges a finished day's objects in the bucket into one day object, sealed in
    /// `.ship` (uploaded by the next upload pass).
    fn compact(&mut self, ti: usize, day: i64) -> Result<(), String> {
        let prefix = self.spool.key(ti, day, "");
        let prefix = prefix.trim_end_matches('/').to_string();
        let listed = self
            .block(
                REQUEST_TIMEOUT * 3,
                self.store
                    .list_with_delimiter(Some(&Key::parse(&prefix).map_err(|e| e.to_string())?)),
            )
            .map_err(|e| store_err("listing", &prefix, e))?;
        let mut objects: Vec<ObjName> = listed
            .objects
            .iter()
            .filter_map(|o| o.location.filename().and_then(ObjName::parse))
            .collect();
        if objects.len() < 2 {
            return Ok(());
        }
        let work = layout::date_dir(&self.spool.host_dir(Some(WORK), ti), day);
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
        for o in &objects {
            let key = format!("{prefix}/{}", o.render());
            let path = Key::parse(&key).map_err(|e| e.to_string())?;
            let got = self
                .block(REQUEST_TIMEOUT * 3, async {
                    self.store.get(&path).await?.bytes().await
                })
                .map_err(|e| store_err("downloading", &key, e))?;
            fs::write(work.join(o.render()), &got).map_err(|e| format!("writing {}: {e}", work.display()))?;
        }
        // A day object whose covered objects are still there (a crash after its upload):
        // those are deleted, never merged with it again.
        let mut covered_all: Vec<String> = Vec::new();
        for o in objects.iter().filter(|o| o.day_object) {
            let kv = store::read_kv(&work.join(o.render())).map_err(|e| format!("reading {}: {e}", o.render()))?;
            covered_all.extend(store::kv_get(&kv, COVERS).unwrap_or("").split(',').map(String::from));
        }
        for o in objects.iter().filter(|o| covered_all.contains(&o.render())) {
            let key = format!("{prefix}/{}", o.render());
            self.block(
                REQUEST_TIMEOUT,
                self.store.delete(&Key::parse(&key).map_err(|e| e.to_string())?),
            )
            .map_err(|e| store_err("deleting the compacted", &key, e))?;
        }
        objects.retain(|o| !covered_all.contains(&o.render()));
        if objects.len() < 2 {
            let _ = fs::remove_dir_all(&work);
            return Ok(());
        }
        objects.sort_by_key(|o| (o.first_us, o.day_object, o.nonce));
        let name = ObjName {
            day_object: true,
            first_us: objects.iter().map(|o| o.first_us).min().unwrap_or(0),
            last_us: objects.iter().map(|o| o.last_us).max().unwrap_or(0),
            nonce: nonce(&mut self.spool.last_nonce),
        };
        let covers: Vec<String> = objects.iter().map(ObjName::render).collect();
        let t = &self.spool.tables[ti];
        let mut kv = store::metadata_kv(&t.meta, super::merge::DAY_LEVEL, &[]);
        kv.push(parquet::file::metadata::KeyValue::new(COVERS.into(), covers.join(",")));
        let ship_day = layout::date_dir(&self.spool.host_dir(Some(SHIP), ti), day);
        fs::create_dir_all(&ship_day).map_err(|e| format!("creating {}: {e}", ship_day.display()))?;
        let paths: Vec<PathBuf> = covers.iter().map(|c| work.join(c)).collect();
        let hooks = self.spool.hooks.clone();
        store::merge_files_then(&hooks, &ship_day, &name.render(), t.decl, &t.schema, &paths, kv, || {
            hooks.ship_pause("day_before_rename")
        })
        .map_err(|e| format!("compacting {}: {e}", prefix))?;
        let _ = fs::remove_dir_all(&work);
        Ok(())
    }

    /// Takes (when `take`), seals, bounds, uploads; compacts finished days (unless `deadline`,
    /// the final pass). Ok when everything sealed is uploaded.
    fn cycle(&mut self, take: bool, deadline: Option<Instant>) -> Result<(), String> {
        if take {
            let taken = {
                let _handoff = lock(&self.shared.handoff);
                // Every row before the writer's last flush is in a file taken now; the rows
                // after it are in the spool or in memory.
                if let Some(t) = lock(&self.shared.status).last_flush_at {
                    self.last_take_us = t.micros;
                }
                self.spool.take()
            };
            taken.map_err(|e| format!("moving finished files out of the spool: {e}"))?;
        }
        self.spool
            .seal()
            .map_err(|e| format!("sealing the spool's files for upload: {e}"))?;
        let dropped = self.spool.bound().map_err(|e| format!("bounding the spool: {e}"))?;
        if dropped > 0 {
            lock(&self.ctl.status).rows_dropped += dropped;
            self.shared.error(format!(
                "the spool '{}' exceeded spool_max_bytes ({} bytes) while {} was unreachable: dropped the oldest parts ({dropped} rows, counted in rows_dropped)",
                self.spool.root.display(),
                self.spool.remote.spool_max_bytes,
                self.spool.remote.shown
            ));
        }
        let result = self.upload_all(deadline);
        self.report();
        result?;
        if deadline.is_none() {
            let today = layout::day_of(wall_us());
            let finished: Vec<(usize, i64)> = self
                .days
                .iter()
                .copied()
                .filter(|&(ti, d)| d < today && !self.spool.holds_day(ti, d))
                .collect();
            for (ti, day) in finished {
                self.compact(ti, day)?;
                self.upload_all(None)?;
                self.days.remove(&(ti, day));
            }
            self.report();
        }
        Ok(())
    }

    fn upload_all(&mut self, deadline: Option<Instant>) -> Result<(), String> {
        let sealed = self.spool.sealed().map_err(|e| format!("listing the spool: {e}"))?;
        for s in &sealed {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err("the final upload ran out of time".into());
            }
            self.upload(s, deadline)?;
        }
        Ok(())
    }

    /// Backlog and lag, from what the spool holds.
    fn report(&self) {
        let backlog = dir_bytes(&self.spool.root);
        let mut oldest = self.last_take_us;
        if let Ok(sealed) = self.spool.sealed() {
            oldest = sealed.iter().map(|s| s.name.first_us).fold(oldest, i64::min);
        }
        let mut st = lock(&self.ctl.status);
        st.backlog_bytes = backlog;
        st.oldest_unshipped_us = oldest;
        st.cpu_ns = super::thread_cpu_ns();
    }

    fn body(&mut self) {
        let mut backoff = Backoff::default();
        let upload_interval = self.spool.remote.upload_interval;
        let mut next_take = Instant::now();
        let mut next_try = Instant::now();
        loop {
            let finish_by = {
                let mut s = lock(&self.ctl.state);
                loop {
                    if s.finish_by.is_some() {
                        break;
                    }
                    let now = Instant::now();
                    let due = next_take.min(next_try);
                    if now >= due {
                        break;
                    }
                    s = match self.ctl.cv.wait_timeout(s, due - now) {
                        Ok((g, _)) => g,
                        Err(e) => e.into_inner().0,
                    };
                }
                s.finish_by
            };
            if let Some(deadline) = finish_by {
                if let Err(e) = self.cycle(true, Some(deadline)) {
                    self.shared.error(format!(
                        "the final upload to {} did not finish: {e}; what is left stays in the spool '{}' for the next recorder of this host (upload_backlog_bytes)",
                        self.spool.remote.shown,
                        self.spool.root.display()
                    ));
                }
                self.report();
                return;
            }
            let now = Instant::now();
            let take = now >= next_take;
            if take {
                next_take = now + upload_interval;
            }
            match self.cycle(take, None) {
                Ok(()) => {
                    backoff.reset();
                    next_try = next_take;
                }
                Err(e) => {
                    let wait = backoff.fail();
                    self.shared.error(format!(
                        "uploading to {}: {e}; retrying in {} s (rows stay in the spool)",
                        self.spool.remote.shown,
                        wait.as_secs()
                    ));
                    next_try = Instant::now() + wait;
                }
            }
        }
    }
}

/// Starts the shipper thread of recorder `id`: builds the client, recovers the spool after a
/// crash, probes the bucket (a PUT and a DELETE), and returns once the probe answered; an
/// error (wrong credentials, missing bucket, refused write) starts nothing.
pub fn start(config: &Config, shared: Arc<Shared>, hooks: Hooks, id: i64) -> Result<Shipper, String> {
    let Some(remote) = config.remote.clone() else {
        return Err("not an s3:// destination".into());
    };
    let spool = Spool::new(config, remote.clone(), hooks);
    let shown = remote.shown.clone();
    spool
        .recover()
        .map_err(|e| format!("spool '{}': cannot clean up after a crash: {e}", config.dir.display()))?;
    let ctl = Arc::new(Ctl::default());
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    let thread = {
        let ctl = ctl.clone();
        std::thread::Builder::new()
            .name(format!("sysmon-rec{id}-u"))
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = tx.send(Err(format!("cannot start the shipper's runtime: {e}")));
                            return;
                        }
                    };
                    let store = match build_store(&remote.location()) {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let mut run = Run {
                        spool,
                        store,
                        rt,
                        shared: shared.clone(),
                        ctl: ctl.clone(),
                        days: Default::default(),
                        last_take_us: wall_us(),
                    };
                    if let Err(e) = run.probe() {
                        let _ = tx.send(Err(e));
                        return;
                    }
                    let seeded = run.seed_days();
                    let _ = tx.send(Ok(()));
                    if let Err(e) = seeded {
                        shared.error(format!("listing {}: {e}", remote.shown));
                    }
                    run.report();
                    run.body();
                }));
                if let Err(panic) = result {
                    shared.error(format!(
                        "internal error: the shipper thread panicked: {}",
                        super::panic_text(&*panic)
                    ));
                }
                lock(&ctl.state).done = true;
                ctl.cv.notify_all();
            })
            .map_err(|e| format!("cannot start the shipper thread: {e}"))?
    };
    match rx.recv_timeout(PROBE_TIMEOUT * 2 + Duration::from_secs(5)) {
        Ok(Ok(())) => Ok(Shipper {
            ctl,
            thread: Mutex::new(Some(thread)),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(format!(
            "{shown} did not answer the start-up probe within {} s",
            (PROBE_TIMEOUT * 2).as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Request;
    use crate::recorder::tests::{check, fixture_state, start as start_recorder, stop as stop_recorder};
    use object_store::memory::InMemory;

    /// A spool holding a few flushes of a real (fixture) recording of `metrics`, and a shipper
    /// over it uploading into an in-memory store.
    fn spool_run(name: &str, spool_max_bytes: u64) -> (Run, PathBuf) {
        let dir = std::env::temp_dir().join(format!("sysmon-ship-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let state = fixture_state();
        let req = Request {
            dir: dir.display().to_string(),
            interval: Duration::from_millis(20),
            tables: Some(vec!["metrics".into()]),
            flush_interval: Some(Duration::from_millis(100)),
            ..Request::default()
        };
        let rec = start_recorder(&state, &req).unwrap();
        std::thread::sleep(Duration::from_millis(350));
        stop_recorder(&state, rec.id).unwrap();
        let config = check(&state, &req).unwrap();
        let remote = Remote {
            bucket: "b".into(),
            prefix: "fleet".into(),
            shown: "s3://b/fleet".into(),
            endpoint: None,
            region: None,
            upload_interval: Duration::from_secs(1),
            spool_max_bytes,
        };
        let run = Run {
            spool: Spool::new(&config, remote, Hooks::default()),
            store: Arc::new(InMemory::new()),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            shared: Arc::new(Shared::default()),
            ctl: Arc::new(Ctl::default()),
            days: Default::default(),
            last_take_us: wall_us(),
        };
        (run, dir)
    }

    fn listed(run: &Run, prefix: &str) -> Vec<String> {
        let l = run
            .block(
                REQUEST_TIMEOUT,
                run.store.list_with_delimiter(Some(&Key::parse(prefix).unwrap())),
            )
            .unwrap();
        let mut v: Vec<String> = l.objects.iter().map(|o| o.location.to_string()).collect();
        v.sort();
        v
    }

    fn rows_of(run: &Run, key: &str) -> u64 {
        let bytes = run
            .block(REQUEST_TIMEOUT, async {
                run.store.get(&Key::parse(key).unwrap()).await?.bytes().await
            })
            .unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(bytes).unwrap();
        use parquet::file::reader::FileReader;
        reader.metadata().file_metadata().num_rows() as u64
    }

    fn copy(run: &Run, from: &str, to: &str) {
        let body = run
            .block(REQUEST_TIMEOUT, async {
                run.store.get(&Key::parse(from).unwrap()).await?.bytes().await
            })
            .unwrap();
        run.block(
            REQUEST_TIMEOUT,
            run.store.put(&Key::parse(to).unwrap(), PutPayload::from(body)),
        )
        .unwrap();
    }

    #[test]
    fn take_seal_upload_then_compact_a_finished_day_with_its_footer() {
        let (mut run, dir) = spool_run("cycle", 1 << 30);
        let local_rows: u64 = layout::list_days(&run.spool.host_dir(None, 0))
            .unwrap()
            .iter()
            .flat_map(|(_, d)| layout::list_files(d).unwrap())
            .map(|f| store::row_count(&f.path).unwrap())
            .sum();
        assert!(local_rows > 0);
        run.cycle(true, None).unwrap();
        let host = run.spool.host.clone();
        let today = layout::day_of(wall_us());
        let today_prefix = format!("fleet/metrics/host={host}/date={}", layout::date_string(today));
        let objects = listed(&run, &today_prefix);
        assert_eq!(objects.len(), 1, "one object per table per upload: {objects:?}");
        assert!(objects[0].rsplit('/').next().unwrap().starts_with("P-"));
        assert_eq!(rows_of(&run, &objects[0]), local_rows, "every row uploaded");
        assert_eq!(dir_bytes(&dir), 0, "local copies deleted after the upload");
        let st = run.ctl.status.lock().unwrap().clone();
        assert_eq!((st.objects_uploaded, st.backlog_bytes), (1, 0));

        // Two parts of a finished day (yesterday): compacted into one day object that lists them.
        let yday = today - 1;
        let yprefix = format!("fleet/metrics/host={host}/date={}", layout::date_string(yday));
        let parts = ["P-1-2-3.parquet", "P-4-5-6.parquet"];
        for p in parts {
            copy(&run, &objects[0], &format!("{yprefix}/{p}"));
        }
        run.days.insert((0, yday));
        run.cycle(false, None).unwrap();
        let day = listed(&run, &yprefix);
        assert_eq!(day.len(), 1, "{day:?}");
        let dname = day[0].rsplit('/').next().unwrap().to_string();
        assert!(dname.starts_with("D-"), "{dname}");
        assert_eq!(rows_of(&run, &day[0]), 2 * local_rows);
        assert!(!run.days.contains(&(0, yday)), "a compacted day is not looked at again");

        // A crash after the day object's upload, before its parts were deleted: the next
        // compaction deletes them and never merges them with it again.
        for p in parts {
            copy(&run, &objects[0], &format!("{yprefix}/{p}"));
        }
        assert_eq!(listed(&run, &yprefix).len(), 3);
        run.days.insert((0, yday));
        run.cycle(false, None).unwrap();
        assert_eq!(listed(&run, &yprefix), day, "only the day object is left");
        assert_eq!(rows_of(&run, &day[0]), 2 * local_rows, "no row twice");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recovery_deletes_the_inputs_a_sealed_part_names() {
        let (mut run, dir) = spool_run("recover", 1 << 30);
        run.spool.take().unwrap();
        let take_files = |spool: &Spool| -> Vec<PathBuf> {
            layout::list_days(&spool.host_dir(Some(TAKE), 0))
                .unwrap()
                .iter()
                .flat_map(|(_, d)| layout::list_files(d).unwrap())
                .map(|f| f.path)
                .collect()
        };
        let taken = take_files(&run.spool);
        assert!(!taken.is_empty());
        // Keep copies of the inputs: as if the process died after the part's rename but
        // before the inputs' deletion.
        let saved: Vec<(PathBuf, Vec<u8>)> = taken.iter().map(|p| (p.clone(), fs::read(p).unwrap())).collect();
        run.spool.seal().unwrap();
        for (p, body) in &saved {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        }
        assert_eq!(take_files(&run.spool).len(), saved.len());
        run.spool.recover().unwrap();
        assert!(
            take_files(&run.spool).is_empty(),
            "the part's inputs are deleted: their rows are in the part"
        );
        assert_eq!(run.spool.sealed().unwrap().len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_spool_is_bounded_and_drops_are_counted() {
        let (mut run, dir) = spool_run("bound", 1);
        run.spool.take().unwrap();
        run.spool.seal().unwrap();
        let sealed = run.spool.sealed().unwrap();
        assert_eq!(sealed.len(), 1);
        let rows = store::row_count(&sealed[0].path).unwrap();
        assert_eq!(run.spool.bound().unwrap(), rows, "the dropped rows are counted");
        assert!(run.spool.sealed().unwrap().is_empty());
        run.spool.remote.spool_max_bytes = 1 << 30;
        assert_eq!(run.spool.bound().unwrap(), 0, "nothing dropped under the cap");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..9).map(|_| b.fail().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
        b.reset();
        assert_eq!(b.fail(), BACKOFF_MIN);
    }

    #[test]
    fn object_names_and_keys() {
        let n = ObjName {
            day_object: false,
            first_us: 1_700_000_000_000_000,
            last_us: 1_700_000_300_000_000,
            nonce: 1_700_000_301_000_123,
        };
        assert_eq!(
            n.render(),
            "P-1700000000000000-1700000300000000-1700000301000123.parquet"
        );
        assert_eq!(ObjName::parse(&n.render()), Some(n.clone()));
        let d = ObjName { day_object: true, ..n };
        assert!(d.render().starts_with("D-"));
        assert_eq!(ObjName::parse(&d.render()), Some(d));
        for bad in [
            "L0-1-2.parquet",
            "P-1-2.parquet",
            "X-1-2-3.parquet",
            "P-1-2-3.parquet.tmp",
        ] {
            assert_eq!(ObjName::parse(bad), None, "{bad}");
        }
        assert_eq!(
            object_key("fleet/a", "metrics", "web-1", 19_723, "P-1-2-3.parquet"),
            "fleet/a/metrics/host=web-1/date=2024-01-01/P-1-2-3.parquet"
        );
        assert_eq!(
            object_key("", "cpus", "h", 0, "D-1-2-3.parquet"),
            "cpus/host=h/date=1970-01-01/D-1-2-3.parquet"
        );
        // Every character of a key is one object_store keeps as is (no percent-encoding).
        let k = object_key("p", "metrics", "web-1.example_x", 19_723, &n.render());
        assert_eq!(Key::parse(&k).unwrap().as_ref(), k);
        let mut last = u64::MAX - 5;
        assert!(nonce(&mut last) > u64::MAX - 5);
        let mut last = 0;
        let a = nonce(&mut last);
        assert!(nonce(&mut last) > a);
    }

    #[test]
    fn secrets_are_redacted() {
        // Only this test sets the variable, to a value no other text contains.
        let secret = "sysmon-test-secret-Zq93";
        // SAFETY: no other test of this crate reads or writes this variable.
        unsafe { std::env::set_var("AWS_SESSION_TOKEN", secret) };
        let text = redact(&format!("error: token {secret} refused"));
        // SAFETY: as above.
        unsafe { std::env::remove_var("AWS_SESSION_TOKEN") };
        assert_eq!(text, "error: token *** refused");
    }
}
