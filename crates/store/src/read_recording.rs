//! `read_recording`'s reader: one recorded table of a recording (a folder or an `s3://`
//! prefix) as the rows its writer has made durable, published files and the not yet published
//! write-ahead log together, every row once.
//!
//! # Why a reader of its own
//!
//! `read_parquet('<dir>/<table>/**/*.parquet')` sees what was published, up to a publish
//! interval late, never the log of a killed recorder, and, for the moment a merge takes, a
//! merged file together with the files it replaces. This reader plans what to read from names
//! alone, then decodes only the columns asked for:
//!
//! * **Partitions** (`<table>/host=<h>`) are pruned by `host`, date folders by the range, files
//!   by the `first`/`last` `ts` in their names, row groups by their `ts` statistics; rows are
//!   cut to `[since, until)` after decoding.
//! * **Merges in flight**: a file whose `ts` range lies inside the range of a file of a higher
//!   level in the same date folder was merged into it (its delete had not happened yet when
//!   the folder was listed), and is not read.
//! * **The log** ([`wal::snapshot`], read without the writer's lock, changing nothing) is read
//!   *before* the folders are listed. A publish writes the log's rows as a file and only then
//!   empties the log, and a partition's rows are published in `ts` order, so a log record
//!   whose last `ts` is at or before the last `ts` of a published file of its day was
//!   published (between the two reads, or before a crash that kept the log) and is not read
//!   again. A record after that is read from the log. A file listed and gone before it was
//!   opened (merged, or deleted by retention, in between) makes the partition be planned
//!   again; an opened file stays readable.
//! * **Memory**: in the recording process itself the recorder's buffered rows, taken before
//!   the log, are added by the caller with [`add_buffered`], which keeps only rows after
//!   everything durable.
//!
//! In a bucket there is no log (the spool is the recorder's); the shipper's day object of a
//! date folder hides the parts whose range it covers (the parts its footer's `sysmon.covers`
//! names), decided from names, so that objects are fetched only when they are read.
//!
//! The rows of one partition come out in `ts` order of their files; nothing is sorted.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::file::reader::ChunkReader;
use parquet::file::statistics::Statistics;

use super::handle::open_nofollow;
use super::layout::{self, FileName};
use super::objects::ObjName;
use super::s3::{S3Location, store_err};
use super::wal;

/// What part of the recording a query wants: a host (`None`: every host) and a range of `ts`
/// in microseconds, `since` inclusive, `until` exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub host: Option<String>,
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
}

impl Scope {
    /// Whether rows from `first` to `last` (inclusive) can be in range.
    pub fn overlaps(&self, first: i64, last: i64) -> bool {
        self.since_us.is_none_or(|s| last >= s) && self.until_us.is_none_or(|u| first < u)
    }

    /// Whether the UTC day `day` can hold rows in range.
    pub fn has_day(&self, day: i64) -> bool {
        let first = day.saturating_mul(layout::MICROS_PER_DAY);
        self.overlaps(first, first.saturating_add(layout::MICROS_PER_DAY - 1))
    }

    /// Whether `ts` is in range.
    pub fn contains(&self, ts: i64) -> bool {
        self.since_us.is_none_or(|s| ts >= s) && self.until_us.is_none_or(|u| ts < u)
    }

    /// Whether the partition folder `host=<partition>` is one the query wants: the host as
    /// given, or as the recorder names its folder.
    pub fn wants_host(&self, partition: &str) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| h == partition || layout::host_partition(h) == partition)
    }
}

/// Where a part's rows are.
pub enum Source {
    /// A published file, opened when it was planned.
    File { file: File, path: PathBuf },
    /// An object of a bucket, not fetched yet ([`fetch`] fetches it, [`PartReader::new`] too).
    Remote { store: Arc<dyn ObjectStore>, key: String },
    /// An object of a bucket, fetched whole.
    Object { bytes: Bytes, key: String },
    /// Rows of the write-ahead log, or a recorder's buffer, with the table's whole schema.
    Rows { batch: RecordBatch, what: &'static str },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File { path, .. } => write!(f, "File({})", path.display()),
            Source::Object { key, .. } => write!(f, "Object({key})"),
            Source::Remote { key, .. } => write!(f, "Remote({key})"),
            Source::Rows { batch, what } => write!(f, "Rows({what}, {})", batch.num_rows()),
        }
    }
}

/// One thing to read: the rows of one host and one UTC day (`date`) from one source, whose
/// `ts` lie from `first_us` to `last_us`.
#[derive(Debug)]
pub struct Part {
    /// The partition's host, as its folder names it (`host=<host>`).
    pub host: String,
    pub day: i64,
    pub first_us: i64,
    pub last_us: i64,
    pub source: Source,
}

impl Part {
    pub fn is_journal(&self) -> bool {
        matches!(self.source, Source::Rows { what: JOURNAL, .. })
    }
}

/// [`Source::Rows`]'s `what` for the log's rows.
pub const JOURNAL: &str = "the write-ahead log";
/// [`Source::Rows`]'s `what` for a recorder's buffered rows.
pub const BUFFERED: &str = "the recorder's buffer";

/// Why a location cannot be read: an error that names it.
pub type Error = String;

fn io_err(what: &Path, e: io::Error) -> Error {
    format!("reading '{}': {e}", what.display())
}

/// How many times a partition is planned again when a file it listed was gone before it was
/// opened (a merge or retention ran between the listing and the open).
const REPLANS: usize = 8;

/// The host partitions of `table` under `dir`, as `(host, folder)`, by host.
fn partitions(dir: &Path, table: &str) -> Result<Vec<(String, PathBuf)>, Error> {
    let table_dir = dir.join(table);
    let rd = match std::fs::read_dir(&table_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if !dir.is_dir() {
                return Err(format!(
                    "no recording at '{}': the directory does not exist",
                    dir.display()
                ));
            }
            let found = recorded_tables(dir);
            return Err(format!(
                "'{}' holds no recorded table '{table}' (no folder '{}'){}",
                dir.display(),
                table_dir.display(),
                match found.is_empty() {
                    true => "; it holds no recording at all (record into it with record_metrics)".to_string(),
                    false => format!("; recorded here: {}", found.join(", ")),
                }
            ));
        }
        Err(e) => return Err(io_err(&table_dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| io_err(&table_dir, e))?;
        if !entry.file_type().map_err(|e| io_err(&table_dir, e))?.is_dir() {
            continue;
        }
        if let Some(h) = entry.file_name().to_str().and_then(|n| n.strip_prefix("host=")) {
            out.push((h.to_string(), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The recordable tables that have a folder under `dir`.
fn recorded_tables(dir: &Path) -> Vec<&'static str> {
    sysmon_tables::recorded::all()
        .map(|t| t.name)
        .filter(|n| dir.join(n).is_dir())
        .collect()
}

/// The error for a host that is not in a location's partitions.
fn unknown_host(host: &str, table: &str, shown: &str, found: &[String]) -> Error {
    format!(
        "host '{host}' has no recorded '{table}' rows in {shown}; recorded hosts: {}",
        match found.is_empty() {
            true => "none".to_string(),
            false => found.join(", "),
        }
    )
}

/// The files of a date folder that are read: a file whose range lies inside the range of a
/// file of a higher level was merged into it and is left out.
fn visible(entries: Vec<layout::Entry>) -> Vec<layout::Entry> {
    let keep: Vec<bool> = entries
        .iter()
        .map(|f| {
            !entries.iter().any(|g| {
                g.name.level > f.name.level && g.name.first_us <= f.name.first_us && f.name.last_us <= g.name.last_us
            })
        })
        .collect();
    entries
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(e, _)| e)
        .collect()
}

/// Plans table `table` (its Arrow schema `schema`) of the folder recording `dir` over `scope`.
pub fn plan_local(dir: &Path, table: &str, schema: &SchemaRef, scope: &Scope) -> Result<Vec<Part>, Error> {
    let all = partitions(dir, table)?;
    let wanted: Vec<&(String, PathBuf)> = all.iter().filter(|(h, _)| scope.wants_host(h)).collect();
    if let Some(h) = &scope.host
        && wanted.is_empty()
    {
        let found: Vec<String> = all.iter().map(|(h, _)| h.clone()).collect();
        return Err(unknown_host(h, table, &format!("'{}'", dir.display()), &found));
    }
    let mut parts = Vec::new();
    for (host, host_dir) in wanted {
        parts.extend(plan_partition(host, host_dir, schema, scope)?);
    }
    Ok(parts)
}

/// One partition: its log, then its files (see the module doc for the order).
fn plan_partition(host: &str, host_dir: &Path, schema: &SchemaRef, scope: &Scope) -> Result<Vec<Part>, Error> {
    for _ in 0..REPLANS {
        let journal = wal::snapshot(host_dir, schema).map_err(|e| io_err(&host_dir.join(wal::WAL_FILE), e))?;
        let journal_days: HashSet<i64> = journal.iter().map(|(r, _)| r.day).collect();
        let days = layout::list_days(host_dir).map_err(|e| io_err(host_dir, e))?;
        let mut parts = Vec::new();
        let mut last_published: Vec<(i64, i64)> = Vec::new(); // (day, last ts of its files)
        let mut gone = false;
        for (day, day_dir) in &days {
            let read = scope.has_day(*day);
            if !read && !journal_days.contains(day) {
                continue;
            }
            let entries = layout::list_names(day_dir).map_err(|e| io_err(day_dir, e))?;
            if let Some(last) = entries.iter().map(|e| e.name.last_us).max() {
                last_published.push((*day, last));
            }
            if !read {
                continue;
            }
            for f in visible(entries) {
                if !scope.overlaps(f.name.first_us, f.name.last_us) {
                    continue;
                }
                match open_nofollow(&f.path) {
                    Ok(file) => parts.push(Part {
                        host: host.to_string(),
                        day: *day,
                        first_us: f.name.first_us,
                        last_us: f.name.last_us,
                        source: Source::File { file, path: f.path },
                    }),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => gone = true,
                    Err(e) => return Err(io_err(&f.path, e)),
                }
            }
        }
        if gone {
            continue;
        }
        for (r, batch) in journal {
            let published = last_published.iter().any(|&(d, last)| d == r.day && r.last_us <= last);
            if published || !scope.overlaps(r.first_us, r.last_us) {
                continue;
            }
            parts.push(Part {
                host: host.to_string(),
                day: r.day,
                first_us: r.first_us,
                last_us: r.last_us,
                source: Source::Rows { batch, what: JOURNAL },
            });
        }
        return Ok(parts);
    }
    Err(format!(
        "the recording in '{}' kept changing while it was read (files merged or deleted between listing and reading, {REPLANS} times); try again",
        host_dir.display()
    ))
}

/// Adds a recorder's buffered rows of `host` (taken before the plan was made, so that rows
/// flushed in between are in the log): only those after the last `ts` of every planned part of
/// that host, and in `scope`.
pub fn add_buffered(parts: &mut Vec<Part>, host: &str, batch: RecordBatch, scope: &Scope) {
    let after = parts
        .iter()
        .filter(|p| p.host == host)
        .map(|p| p.last_us)
        .max()
        .unwrap_or(i64::MIN);
    let Some(ts) = batch
        .column_by_name("ts")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
    else {
        return;
    };
    let keep: BooleanArray = ts
        .iter()
        .map(|t| Some(t.is_some_and(|t| t > after && scope.contains(t))))
        .collect();
    let Ok(batch) = arrow_select::filter::filter_record_batch(&batch, &keep) else {
        return;
    };
    let ts = batch
        .column_by_name("ts")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>());
    let Some((first, last)) = ts.and_then(|t| Some((t.iter().flatten().min()?, t.iter().flatten().max()?))) else {
        return;
    };
    parts.push(Part {
        host: host.to_string(),
        day: layout::day_of(first),
        first_us: first,
        last_us: last,
        source: Source::Rows { batch, what: BUFFERED },
    });
}

// ---------------------------------------------------------------- a bucket

/// How long planning a bucket's read may take.
pub const BUCKET_TIMEOUT: Duration = Duration::from_secs(120);
/// Objects fetched at once.
pub const PARALLEL_GETS: usize = 8;

/// An object of a date folder, named as the shipper (`P-`, `D-`) or the recorder (`L<n>-`,
/// a folder copied into a bucket) names them.
#[derive(Clone, Debug)]
pub struct Object {
    pub name: String,
    pub first_us: i64,
    pub last_us: i64,
    pub day_object: bool,
    pub level: u32,
}

/// An object's name as the shipper or the recorder names them; `None` for anything else.
pub fn object(name: &str) -> Option<Object> {
    if let Some(o) = ObjName::parse(name) {
        return Some(Object {
            name: name.to_string(),
            first_us: o.first_us,
            last_us: o.last_us,
            day_object: o.day_object,
            level: 0,
        });
    }
    FileName::parse(name).map(|f| Object {
        name: name.to_string(),
        first_us: f.first_us,
        last_us: f.last_us,
        day_object: false,
        level: f.level,
    })
}

fn key(loc: &S3Location, rel: &str) -> Result<Key, Error> {
    let k = loc.key(rel);
    Key::parse(&k).map_err(|e| format!("'{k}' is not an object key: {e}"))
}

/// The "folders" directly under `rel` (their last path parts), and our objects there.
pub async fn list(store: &dyn ObjectStore, loc: &S3Location, rel: &str) -> Result<(Vec<String>, Vec<Object>), Error> {
    let k = key(loc, rel)?;
    let listed = store
        .list_with_delimiter(Some(&k))
        .await
        .map_err(|e| store_err("listing", &loc.key(rel), e))?;
    let folders = listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(String::from))
        .collect();
    let objects = listed
        .objects
        .iter()
        .filter_map(|o| o.location.filename().and_then(object))
        .collect();
    Ok((folders, objects))
}

/// Fetches every [`Source::Remote`] part of `parts`, [`PARALLEL_GETS`] at a time, in order
/// (the others are returned as they are).
pub async fn fetch(parts: Vec<Part>) -> Result<Vec<Part>, Error> {
    let mut out: Vec<Option<Part>> = parts.into_iter().map(Some).collect();
    let remote: Vec<usize> = (0..out.len())
        .filter(|&i| matches!(out[i].as_ref().map(|p| &p.source), Some(Source::Remote { .. })))
        .collect();
    for chunk in remote.chunks(PARALLEL_GETS) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let Some(Source::Remote { store, key }) = out[i].as_ref().map(|p| &p.source) else {
                continue;
            };
            let (store, key) = (Arc::clone(store), key.clone());
            set.spawn(async move {
                let got = async {
                    let k = Key::parse(&key).map_err(|e| format!("'{key}' is not an object key: {e}"))?;
                    let got = async { store.get(&k).await?.bytes().await }.await;
                    got.map_err(|e| store_err("reading", &key, e))
                }
                .await;
                (i, key, got)
            });
        }
        while let Some(r) = set.join_next().await {
            let (i, key, got) = r.map_err(|e| format!("internal error: a download task failed: {e}"))?;
            let bytes = got?;
            if let Some(p) = out[i].as_mut() {
                p.source = Source::Object { bytes, key };
            }
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// [`fetch`] on a `current_thread` runtime of the calling thread (not inside a runtime), within
/// [`BUCKET_TIMEOUT`].
pub fn fetch_now(parts: Vec<Part>) -> Result<Vec<Part>, Error> {
    if !parts.iter().any(|p| matches!(p.source, Source::Remote { .. })) {
        return Ok(parts);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime to read a bucket: {e}"))?;
    rt.block_on(async {
        match tokio::time::timeout(BUCKET_TIMEOUT, fetch(parts)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "reading a bucket: no answer within {} s",
                BUCKET_TIMEOUT.as_secs()
            )),
        }
    })
}

/// Plans table `table` of the bucket recording `loc` over `scope`: its objects in range, as
/// [`Source::Remote`] parts (fetched when read: a query over a month holds a few objects in
/// memory at a time, not the month).
pub async fn plan_bucket(
    store: &Arc<dyn ObjectStore>,
    loc: &S3Location,
    table: &str,
    scope: &Scope,
) -> Result<Vec<Part>, Error> {
    let shown = &loc.shown;
    let (hosts, _) = list(store.as_ref(), loc, table).await?;
    let hosts: Vec<String> = hosts
        .iter()
        .filter_map(|f| f.strip_prefix("host=").map(String::from))
        .collect();
    if hosts.is_empty() {
        return Err(format!(
            "{shown} holds no recorded table '{table}' (no objects under '{}/')",
            loc.key(table)
        ));
    }
    let wanted: Vec<&String> = hosts.iter().filter(|h| scope.wants_host(h)).collect();
    if let Some(h) = &scope.host
        && wanted.is_empty()
    {
        return Err(unknown_host(h, table, shown, &hosts));
    }
    let mut parts = Vec::new();
    for host in wanted {
        let (folders, _) = list(store.as_ref(), loc, &format!("{table}/host={host}")).await?;
        let mut days: Vec<i64> = folders
            .iter()
            .filter_map(|f| f.strip_prefix("date=").and_then(layout::parse_date))
            .filter(|d| scope.has_day(*d))
            .collect();
        days.sort_unstable();
        for day in days {
            let rel = format!("{table}/host={host}/date={}", layout::date_string(day));
            let objects: Vec<Object> = list(store.as_ref(), loc, &rel)
                .await?
                .1
                .into_iter()
                .filter(|o| scope.overlaps(o.first_us, o.last_us))
                .collect();
            // A day object replaces the parts of its day, a merged file the files it merged:
            // an object whose range lies inside the range of one that ranks above it in the
            // same folder was compacted into it (the shipper crashed between writing the day
            // object and deleting its parts), and is not read. Decided from names alone, so
            // nothing is fetched before it is read.
            let rank = |o: &Object| if o.day_object { u32::MAX } else { o.level };
            let hidden = |o: &Object| {
                objects.iter().any(|g| {
                    g.name != o.name && rank(g) > rank(o) && g.first_us <= o.first_us && o.last_us <= g.last_us
                })
            };
            for o in objects.iter().filter(|o| !hidden(o)) {
                parts.push(Part {
                    host: host.clone(),
                    day,
                    first_us: o.first_us,
                    last_us: o.last_us,
                    source: Source::Remote {
                        store: Arc::clone(store),
                        key: loc.key(&format!("{rel}/{}", o.name)),
                    },
                });
            }
        }
    }
    parts.sort_by(|a, b| (&a.host, a.day, a.first_us).cmp(&(&b.host, b.day, b.first_us)));
    Ok(parts)
}

/// [`plan_bucket`] on a `current_thread` runtime of the calling thread, within
/// [`BUCKET_TIMEOUT`].
pub fn plan_bucket_now(loc: &S3Location, table: &str, scope: &Scope) -> Result<Vec<Part>, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime to read {}: {e}", loc.shown))?;
    let store = super::s3::build_store(loc)?;
    rt.block_on(async {
        match tokio::time::timeout(BUCKET_TIMEOUT, plan_bucket(&store, loc, table, scope)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "reading {}: no answer within {} s",
                loc.shown,
                BUCKET_TIMEOUT.as_secs()
            )),
        }
    })
}

// ---------------------------------------------------------------- decoding

/// A part's rows in range, as the requested columns.
pub struct Chunk {
    pub len: usize,
    /// One array per requested column, in the order requested.
    pub columns: Vec<ArrayRef>,
}

/// Rows per decoded batch.
pub const BATCH_ROWS: usize = 8 * 1024;

/// Reads a part's rows, decoding only `columns` (indices into the table's `schema`) and the
/// `ts` that cuts them to `scope`.
pub struct PartReader {
    schema: SchemaRef,
    columns: Vec<usize>,
    scope: Scope,
    shown: String,
    inner: Inner,
}

enum Inner {
    Parquet(ParquetRecordBatchReader),
    Rows(Option<RecordBatch>),
    Done,
}

impl PartReader {
    pub fn new(part: Part, schema: &SchemaRef, columns: &[usize], scope: &Scope) -> Result<PartReader, Error> {
        let part = match part.source {
            Source::Remote { .. } => fetch_now(vec![part])?
                .pop()
                .ok_or("internal error: a fetched part is gone")?,
            _ => part,
        };
        let (inner, shown) = match part.source {
            Source::File { file, path } => {
                let shown = path.display().to_string();
                (
                    parquet(file, schema, columns, scope).map_err(|e| format!("reading '{shown}': {e}"))?,
                    shown,
                )
            }
            Source::Object { bytes, key } => (
                parquet(bytes, schema, columns, scope).map_err(|e| format!("reading '{key}': {e}"))?,
                key,
            ),
            Source::Rows { batch, what } => (Inner::Rows(Some(batch)), what.to_string()),
            Source::Remote { key, .. } => return Err(format!("internal error: '{key}' was not fetched")),
        };
        Ok(PartReader {
            schema: Arc::clone(schema),
            columns: columns.to_vec(),
            scope: scope.clone(),
            shown,
            inner,
        })
    }

    /// The next rows (`None` at the end). A chunk may hold no rows.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, Error> {
        let batch = match &mut self.inner {
            Inner::Parquet(r) => match r.next() {
                Some(b) => b.map_err(|e| format!("reading '{}': {e}", self.shown))?,
                None => {
                    self.inner = Inner::Done;
                    return Ok(None);
                }
            },
            Inner::Rows(b) => match b.take() {
                Some(b) => b,
                None => return Ok(None),
            },
            Inner::Done => return Ok(None),
        };
        self.chunk(batch).map(Some)
    }

    fn chunk(&self, batch: RecordBatch) -> Result<Chunk, Error> {
        let batch = match cut(&batch, &self.scope) {
            Some(mask) => arrow_select::filter::filter_record_batch(&batch, &mask)
                .map_err(|e| format!("reading '{}': {e}", self.shown))?,
            None => batch,
        };
        let len = batch.num_rows();
        let mut columns = Vec::with_capacity(self.columns.len());
        for &c in &self.columns {
            let field = self.schema.field(c);
            columns.push(match batch.column_by_name(field.name()) {
                Some(a) => Arc::clone(a),
                // A file of an older schema version, before the column was added.
                None => new_null_array(field.data_type(), len),
            });
        }
        Ok(Chunk { len, columns })
    }
}

/// The rows of `batch` outside `scope` (`None` when every row is in it, or it has no `ts`).
fn cut(batch: &RecordBatch, scope: &Scope) -> Option<BooleanArray> {
    if scope.since_us.is_none() && scope.until_us.is_none() {
        return None;
    }
    let ts = batch
        .column_by_name("ts")?
        .as_primitive_opt::<TimestampMicrosecondType>()?;
    if ts.null_count() == 0 && ts.values().iter().all(|&t| scope.contains(t)) {
        return None;
    }
    Some(ts.iter().map(|t| Some(t.is_some_and(|t| scope.contains(t)))).collect())
}

fn parquet<R: ChunkReader + 'static>(
    file: R,
    schema: &SchemaRef,
    columns: &[usize],
    scope: &Scope,
) -> io::Result<Inner> {
    let perr = |e: parquet::errors::ParquetError| io::Error::other(e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
    let meta = builder.metadata().clone();
    let sd = meta.file_metadata().schema_descr();
    let roots = sd.root_schema().get_fields();
    let root = |name: &str| roots.iter().position(|f| f.name() == name);
    let ranged = scope.since_us.is_some() || scope.until_us.is_some();
    let mut wanted: Vec<usize> = columns.iter().filter_map(|&c| root(schema.field(c).name())).collect();
    if ranged && let Some(ts) = root("ts") {
        wanted.push(ts);
    }
    if wanted.is_empty() {
        // Only a count: the narrowest column still gives the rows.
        wanted.extend(root("ts").or((!roots.is_empty()).then_some(0)));
    }
    let ts_leaf = (0..sd.num_columns()).find(|&i| sd.column(i).path().string() == "ts");
    let groups: Vec<usize> = (0..meta.num_row_groups())
        .filter(
            |&i| match ts_leaf.and_then(|l| meta.row_group(i).column(l).statistics()) {
                Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(&lo), Some(&hi)) => scope.overlaps(lo, hi),
                    _ => true,
                },
                _ => true,
            },
        )
        .collect();
    if groups.is_empty() {
        return Ok(Inner::Done);
    }
    let mask = ProjectionMask::roots(sd, wanted);
    let mut builder = builder
        .with_projection(mask)
        .with_row_groups(groups)
        .with_batch_size(BATCH_ROWS);
    // A range that cuts into the row groups read (a day's file is one row group): `ts` is
    // decoded first and the other columns only for the rows in range (late materialisation;
    // an hour of a day decodes a twenty-fourth of the values).
    let cuts = groups_cut(&meta, ts_leaf, scope);
    if cuts && let Some(ts) = root("ts") {
        let range = scope.clone();
        let predicate = ArrowPredicateFn::new(ProjectionMask::roots(sd, [ts]), move |batch: RecordBatch| {
            Ok(match batch.column(0).as_primitive_opt::<TimestampMicrosecondType>() {
                Some(ts) => ts.iter().map(|t| Some(t.is_some_and(|t| range.contains(t)))).collect(),
                None => BooleanArray::from(vec![true; batch.num_rows()]),
            })
        });
        builder = builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
    }
    Ok(Inner::Parquet(builder.build().map_err(perr)?))
}

/// Whether the range cuts into any row group read (by its `ts` statistics; a group without
/// them may be cut).
fn groups_cut(meta: &parquet::file::metadata::ParquetMetaData, ts_leaf: Option<usize>, scope: &Scope) -> bool {
    if scope.since_us.is_none() && scope.until_us.is_none() {
        return false;
    }
    (0..meta.num_row_groups()).any(
        |i| match ts_leaf.and_then(|l| meta.row_group(i).column(l).statistics()) {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(&lo), Some(&hi)) => !(scope.contains(lo) && scope.contains(hi)),
                _ => true,
            },
            _ => true,
        },
    )
}

#[cfg(test)]
mod tests;
