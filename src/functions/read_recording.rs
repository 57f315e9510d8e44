//! `read_recording(location, table, since := TIMESTAMPTZ, until := TIMESTAMPTZ, host := VARCHAR,
//! endpoint := VARCHAR, region := VARCHAR)`: a recorded table's rows, from recording folders
//! and `s3://` prefixes, published files and the not yet published write-ahead log together,
//! every row once (`sysmon_store::read_recording` plans and decodes; this module binds and
//! writes DuckDB's vectors).
//!
//! Its columns depend on `table`, so it is a `VTab` of its own rather than a [`LiveTable`]:
//! the table's declared columns (their DuckDB types from the same declaration as the live
//! function's), then `host` and `date` as the hive layout names them.
//!
//! * **Bind** checks every argument and DuckDB's lockdown (reading a folder is file access,
//!   refused under `enable_external_access = false` outside `allowed_directories`; a bucket is
//!   network access, refused) and reads nothing: DESCRIBE and PREPARE bind without running.
//! * **The first scan call** plans: in the process of a recorder of the same folder it first
//!   asks that recorder to flush (bounded wait), so that its latest samples are in the log;
//!   then each location's partitions, files and log are listed and pruned by `host`, `since`
//!   and `until`. A bucket is listed and fetched on a `current_thread` runtime of its own.
//! * **Each scan call** decodes the next rows of only the projected columns (projection
//!   pushdown is on) and copies them into the output vectors. DuckDB's filters are applied by
//!   DuckDB above the scan (the C API has no filter pushdown): `since`/`until` are the pruning.
//!
//! Panics in these callbacks are caught by duckdb-rs's `VTab` wrappers (see [`crate::table`]).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType};
use arrow_schema::SchemaRef;
use duckdb::core::{DataChunkHandle, FlatVector, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};
use sysmon_core::catalog;
use sysmon_core::process::process;
use sysmon_kernel::sync::lock;
use sysmon_store::destination::Destination;
use sysmon_store::read_recording::{
    Chunk, PARALLEL_GETS, Part, PartReader, Scope, Source, fetch_now, plan_bucket_now, plan_local,
};
use sysmon_store::s3::S3Location;
use sysmon_tables::columns::arrow_schema;
use sysmon_tables::recorded::{self, RecordableTable};
use sysmon_tables::schema::ColType;

use crate::params::{named_text, positional, time_range};
use crate::table::{BoxError, logical_type, param_type};

pub struct ReadRecording;

/// One place a recording is read from.
#[derive(Clone, Debug)]
enum Location {
    Folder(PathBuf),
    Bucket(S3Location),
}

pub struct Bound {
    table: RecordableTable,
    schema: SchemaRef,
    locations: Vec<Location>,
    scope: Scope,
}

/// What an output column is.
#[derive(Clone, Copy, Debug)]
enum Out {
    /// Declared column `i` of the table.
    Column(usize),
    Host,
    Date,
    /// DuckDB's row id (or anything past the columns): NULL.
    Nothing,
}

pub struct Scan {
    outs: Vec<Out>,
    /// The table columns decoded, in output order of their first use.
    decoded: Vec<usize>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    planned: bool,
    parts: VecDeque<Part>,
    /// The part being read: its reader, host, day, and the chunk being emitted with the rows
    /// emitted of it.
    current: Option<Current>,
}

struct Current {
    reader: PartReader,
    host: String,
    day: i32,
    chunk: Option<(Chunk, usize)>,
}

/// How long a query waits for a recorder of the same process to flush its buffer.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// The location argument: one VARCHAR, or a VARCHAR[] of at least one.
fn location_texts(bind: &BindInfo) -> Result<Vec<String>, BoxError> {
    const ACCEPTS: &str = "location must be a recording folder or an s3://<bucket>[/<prefix>] URL (VARCHAR), or a list of them (VARCHAR[])";
    let v = positional(bind, 0, "location")?;
    if v.is_null() {
        return Err(format!("{ACCEPTS}; got NULL").into());
    }
    let texts = match v.logical_type_id() {
        LogicalTypeId::Varchar => vec![v.to_string()],
        LogicalTypeId::List => {
            let items = v.to_list().unwrap_or_default();
            if items.is_empty() {
                return Err(format!("{ACCEPTS}; got an empty list").into());
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                // Never shown through `Display` when NULL: DuckDB's cast of a NULL value to text
                // throws a C++ exception, which must not cross into Rust.
                if item.is_null() {
                    return Err(format!("{ACCEPTS}; the list holds a NULL").into());
                }
                if item.logical_type_id() != LogicalTypeId::Varchar {
                    return Err(format!("{ACCEPTS}; the list holds '{item}'").into());
                }
                out.push(item.to_string());
            }
            out
        }
        _ => return Err(format!("{ACCEPTS}; got '{v}'").into()),
    };
    if let Some(e) = texts.iter().find(|t| t.trim().is_empty()) {
        return Err(format!("{ACCEPTS}; got '{e}'").into());
    }
    Ok(texts)
}

fn bind_locations(bind: &BindInfo) -> Result<Vec<Location>, BoxError> {
    let endpoint = named_text(bind, "endpoint", "an http:// or https:// URL")?;
    let region = named_text(bind, "region", "a region name, such as 'us-east-1'")?;
    let mut out = Vec::new();
    for text in location_texts(bind)? {
        let parsed = Destination::parse(&text).map_err(|e| format!("location: {e}"))?;
        let loc = match parsed {
            parsed @ Destination::S3 { .. } => {
                let loc = S3Location::check(&parsed, endpoint.as_deref(), region.as_deref())?
                    .ok_or("location: not an s3:// URL")?;
                crate::lockdown::check_remote(bind, &loc.shown, "reading a recording from object storage")?;
                Location::Bucket(loc)
            }
            Destination::Local(path) => {
                let dir = sysmon_recorder::config::resolve(Path::new(&path))
                    .map_err(|e| format!("location '{text}': {e}"))?;
                crate::lockdown::check_dir(bind, &dir)?;
                Location::Folder(dir)
            }
        };
        out.push(loc);
    }
    if !out.iter().any(|l| matches!(l, Location::Bucket(_)))
        && let Some(p) = [("endpoint", &endpoint), ("region", &region)]
            .iter()
            .find(|(_, v)| v.is_some())
            .map(|(n, _)| n)
    {
        return Err(format!(
            "{p} applies only to a location of the form 's3://<bucket>[/<prefix>]'; every location given is a local directory"
        )
        .into());
    }
    Ok(out)
}

fn bind_table(bind: &BindInfo) -> Result<RecordableTable, BoxError> {
    let accepts = || format!("table must be a recorded table: {}", recorded::accepted_names());
    let v = positional(bind, 1, "table")?;
    if v.is_null() {
        return Err(format!("{}; got NULL", accepts()).into());
    }
    let name = v.to_string();
    let bare = name.strip_prefix("system_").unwrap_or(&name);
    recorded::find(bare).ok_or_else(|| format!("{}; got '{name}'", accepts()).into())
}

impl VTab for ReadRecording {
    type BindData = Bound;
    type InitData = Scan;

    fn bind(bind: &BindInfo) -> Result<Bound, BoxError> {
        let table = bind_table(bind)?;
        let locations = bind_locations(bind)?;
        let host = match bind.get_named_parameter("host") {
            None => None,
            Some(v) if v.is_null() => {
                return Err("host must be a recorded host name; got NULL (leave it out for every host)".into());
            }
            Some(v) => Some(v.to_string()),
        };
        let (since_us, until_us) = time_range(bind)?;
        let decl = table.decl();
        for c in decl.columns {
            bind.add_result_column(c.name, logical_type(c.ty));
        }
        bind.add_result_column("host", LogicalTypeHandle::from(LogicalTypeId::Varchar));
        bind.add_result_column("date", LogicalTypeHandle::from(LogicalTypeId::Date));
        Ok(Bound {
            table,
            schema: arrow_schema(decl),
            locations,
            scope: Scope {
                host,
                since_us,
                until_us,
            },
        })
    }

    fn init(init: &InitInfo) -> Result<Scan, BoxError> {
        // SAFETY: the bind data DuckDB hands back is the `Bound` this VTab's bind returned
        // (duckdb-rs stores it typed), alive until the query ends.
        let bound = unsafe { &*init.get_bind_data::<Bound>() };
        let n = bound.table.decl().columns.len();
        let outs: Vec<Out> = init
            .get_column_indices()
            .into_iter()
            .map(|i| match usize::try_from(i) {
                Ok(i) if i < n => Out::Column(i),
                Ok(i) if i == n => Out::Host,
                Ok(i) if i == n + 1 => Out::Date,
                _ => Out::Nothing,
            })
            .collect();
        let mut decoded = Vec::new();
        for o in &outs {
            if let Out::Column(i) = o
                && !decoded.contains(i)
            {
                decoded.push(*i);
            }
        }
        Ok(Scan {
            outs,
            decoded,
            state: Mutex::new(State::default()),
        })
    }

    fn func(info: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        let bound = info.get_bind_data();
        let scan = info.get_init_data();
        let mut state = lock(&scan.state);
        if !state.planned {
            state.parts = plan(bound)?.into();
            state.planned = true;
        }
        let capacity = if output.num_columns() > 0 {
            output.flat_vector(0).capacity()
        } else {
            2048
        };
        loop {
            if state.current.is_none() {
                // Objects of a bucket are fetched when their turn comes, several at once.
                if state
                    .parts
                    .front()
                    .is_some_and(|p| matches!(p.source, Source::Remote { .. }))
                {
                    let n = state
                        .parts
                        .iter()
                        .take(PARALLEL_GETS)
                        .take_while(|p| matches!(p.source, Source::Remote { .. }))
                        .count();
                    let batch: Vec<Part> = state.parts.drain(..n).collect();
                    for (i, p) in fetch_now(batch)?.into_iter().enumerate() {
                        state.parts.insert(i, p);
                    }
                }
                let Some(part) = state.parts.pop_front() else {
                    output.set_len(0);
                    return Ok(());
                };
                let host = part.host.clone();
                let day = i32::try_from(part.day).unwrap_or(i32::MAX);
                let reader = PartReader::new(part, &bound.schema, &scan.decoded, &bound.scope)?;
                state.current = Some(Current {
                    reader,
                    host,
                    day,
                    chunk: None,
                });
            }
            let Some(cur) = state.current.as_mut() else {
                continue;
            };
            if cur.chunk.as_ref().is_none_or(|(c, at)| *at >= c.len) {
                match cur.reader.next_chunk()? {
                    Some(c) => cur.chunk = Some((c, 0)),
                    None => {
                        state.current = None;
                        continue;
                    }
                }
            }
            let Some((chunk, at)) = cur.chunk.as_mut() else {
                continue;
            };
            let n = (chunk.len - *at).min(capacity);
            if n == 0 {
                continue;
            }
            for (out_col, o) in scan.outs.iter().enumerate() {
                match *o {
                    Out::Column(i) => {
                        let k = scan.decoded.iter().position(|&d| d == i).unwrap_or(0);
                        let ty = bound.table.decl().columns[i].ty;
                        let name = bound.table.decl().columns[i].name;
                        write_array(output, out_col, ty, &chunk.columns[k], *at, n)
                            .map_err(|e| format!("read_recording: column {name}: {e}"))?;
                    }
                    Out::Host => {
                        let v = output.flat_vector(out_col);
                        for r in 0..n {
                            v.insert(r, cur.host.as_str());
                        }
                    }
                    Out::Date => {
                        let mut v = output.flat_vector(out_col);
                        // SAFETY: the column was declared DATE in bind, whose vectors hold i32
                        // days; `n` is at most the vector's capacity.
                        let s = unsafe { v.as_mut_slice::<i32>() };
                        s[..n].fill(cur.day);
                    }
                    Out::Nothing => {
                        let mut v = output.flat_vector(out_col);
                        for r in 0..n {
                            v.set_null(r);
                        }
                    }
                }
            }
            *at += n;
            output.set_len(n);
            return Ok(());
        }
    }

    fn supports_pushdown() -> bool {
        true
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(
            catalog::read_recording()
                .positional()
                .map(|p| param_type(p.ty))
                .collect(),
        )
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        Some(
            catalog::read_recording()
                .named()
                .map(|p| (p.name.to_string(), param_type(p.ty)))
                .collect(),
        )
    }
}

/// Every location's parts, in the order given.
fn plan(bound: &Bound) -> Result<Vec<Part>, BoxError> {
    let table = bound.table.name();
    let mut parts = Vec::new();
    for loc in &bound.locations {
        match loc {
            Location::Folder(dir) => {
                // A recorder of this folder in this process: its latest samples are in its
                // buffer; a flush puts them in the log, where the plan finds them.
                process().flush_recording(dir, FLUSH_WAIT);
                parts.extend(plan_local(dir, table, &bound.schema, &bound.scope)?);
            }
            Location::Bucket(s3) => parts.extend(plan_bucket_now(s3, table, &bound.scope)?),
        }
    }
    Ok(parts)
}

/// Copies rows `at..at + n` of `array` into output vector `out_col`, declared `ty`.
fn write_array(
    output: &DataChunkHandle,
    out_col: usize,
    ty: ColType,
    array: &ArrayRef,
    at: usize,
    n: usize,
) -> Result<(), String> {
    let wrong = || format!("the file holds {}, not {}", array.data_type(), ty.sql_name());
    if ty == ColType::VarcharList {
        let list = array.as_list_opt::<i32>().ok_or_else(wrong)?;
        let values = list.values().as_string_opt::<i32>().ok_or_else(wrong)?;
        let offsets = list.value_offsets();
        let (lo, hi) = (offsets[at] as usize, offsets[at + n] as usize);
        let mut out = output.list_vector(out_col);
        let mut child = out.child((hi - lo).max(1));
        for (j, k) in (lo..hi).enumerate() {
            if values.is_null(k) {
                child.set_null(j);
            } else {
                child.insert(j, values.value(k));
            }
        }
        for r in 0..n {
            if list.is_null(at + r) {
                out.set_null(r);
            } else {
                let (s, e) = (offsets[at + r] as usize, offsets[at + r + 1] as usize);
                out.set_entry(r, s - lo, e - s);
            }
        }
        out.set_len(hi - lo);
        return Ok(());
    }
    let mut v = output.flat_vector(out_col);
    match ty {
        ColType::Varchar => {
            if let Some(s) = array.as_string_opt::<i32>() {
                for r in 0..n {
                    if s.is_null(at + r) {
                        v.set_null(r);
                    } else {
                        v.insert(r, s.value(at + r));
                    }
                }
            } else if let Some(s) = array.as_string_view_opt() {
                for r in 0..n {
                    if s.is_null(at + r) {
                        v.set_null(r);
                    } else {
                        v.insert(r, s.value(at + r));
                    }
                }
            } else {
                return Err(wrong());
            }
        }
        ColType::Boolean => {
            let b = array.as_boolean_opt().ok_or_else(wrong)?;
            // SAFETY: the column was declared BOOLEAN in bind (`logical_type`), whose vectors
            // hold one `bool` byte per row; `n` is at most the vector's capacity.
            let s = unsafe { v.as_mut_slice::<bool>() };
            for (r, slot) in s[..n].iter_mut().enumerate() {
                *slot = b.value(at + r);
            }
            nulls(&mut v, array.as_ref(), at, n);
        }
        ColType::Integer => copy::<Int32Type>(&mut v, array, at, n).ok_or_else(wrong)?,
        ColType::UInteger => copy::<UInt32Type>(&mut v, array, at, n).ok_or_else(wrong)?,
        ColType::BigInt => copy::<Int64Type>(&mut v, array, at, n).ok_or_else(wrong)?,
        ColType::UBigInt => copy::<UInt64Type>(&mut v, array, at, n).ok_or_else(wrong)?,
        ColType::Double => copy::<Float64Type>(&mut v, array, at, n).ok_or_else(wrong)?,
        ColType::TimestampTz => copy::<TimestampMicrosecondType>(&mut v, array, at, n).ok_or_else(wrong)?,
        ColType::Date => copy::<Date32Type>(&mut v, array, at, n).ok_or_else(wrong)?,
        ColType::VarcharList => return Err(wrong()),
    }
    Ok(())
}

/// Copies a primitive array's values; `None` when `array` is not of type `T`.
fn copy<T: ArrowPrimitiveType>(v: &mut FlatVector, array: &ArrayRef, at: usize, n: usize) -> Option<()> {
    let a = array.as_primitive_opt::<T>()?;
    // SAFETY: `copy` is called only with the Arrow type whose native type is the physical type
    // of the DuckDB type bind declared for the column (INTEGER i32, UINTEGER u32, BIGINT i64,
    // UBIGINT u64, DOUBLE f64, TIMESTAMPTZ i64 µs, DATE i32 days: see `write_array` and
    // `logical_type`); `n` is at most the vector's capacity.
    let s = unsafe { v.as_mut_slice::<T::Native>() };
    s[..n].copy_from_slice(&a.values()[at..at + n]);
    nulls(v, array.as_ref(), at, n);
    Some(())
}

fn nulls(v: &mut FlatVector, array: &dyn Array, at: usize, n: usize) {
    if array.null_count() == 0 {
        return;
    }
    for r in 0..n {
        if array.is_null(at + r) {
            v.set_null(r);
        }
    }
}
