//! The replay source: a recording (a folder, or `s3://` through the bucket's plan) read with
//! `sysmon_store::read_recording`, journal included, at a cursor: the rows of each recorded
//! table at the sample nearest the cursor's time.

use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use sysmon_store::destination::Destination;
use sysmon_store::read_recording::{Part, PartReader, Scope, plan_bucket_now, plan_local};
use sysmon_store::s3::S3Location;
use sysmon_tables::columns::arrow_schema;
use sysmon_tables::schema::{Row as _, TableDecl};

use crate::app::Pane;
use crate::data::{Cgroup, Frame, HISTORY_SECONDS, History, Loaded, Proc, Rows, Stretch, Value};
use crate::live::mem_pct;

/// Where a recording is.
#[derive(Clone, Debug)]
pub enum Location {
    Dir(PathBuf),
    Bucket(S3Location),
}

impl Location {
    /// A folder, `file:///path`, or `s3://bucket/prefix` (`endpoint`, `region` for a bucket).
    pub fn parse(raw: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Location, String> {
        let dest = Destination::parse(raw)?;
        match S3Location::check(&dest, endpoint, region)? {
            Some(loc) => Ok(Location::Bucket(loc)),
            None => match dest {
                Destination::Local(p) => Ok(Location::Dir(PathBuf::from(p))),
                Destination::S3 { .. } => Err(format!("'{raw}' is not a recording location")),
            },
        }
    }

    pub fn shown(&self) -> String {
        match self {
            Location::Dir(d) => d.display().to_string(),
            Location::Bucket(b) => b.shown.clone(),
        }
    }

    fn plan(&self, table: &str, decl: &TableDecl, scope: &Scope) -> Result<Vec<Part>, String> {
        match self {
            Location::Dir(d) => plan_local(d, table, &arrow_schema(decl), scope),
            Location::Bucket(b) => plan_bucket_now(b, table, scope),
        }
    }

    /// The rows of `table` over `scope`, the columns `names` (all where empty).
    fn read(&self, table: &str, decl: &'static TableDecl, scope: &Scope, names: &[&str]) -> Result<Rows, String> {
        let schema = arrow_schema(decl);
        let columns: Vec<usize> = match names.is_empty() {
            true => (0..decl.columns.len()).collect(),
            false => names.iter().filter_map(|n| decl.column_index(n)).collect(),
        };
        let mut out = Rows::empty(decl);
        for part in self.plan(table, decl, scope)? {
            let mut reader = PartReader::new(part, &schema, &columns, scope)?;
            while let Some(chunk) = reader.next_chunk()? {
                for r in 0..chunk.len {
                    let mut row = vec![Value::Null; decl.columns.len()];
                    for (&c, a) in columns.iter().zip(&chunk.columns) {
                        row[c] = value(a, r);
                    }
                    out.rows.push(row);
                }
            }
        }
        Ok(out)
    }

    /// The distinct `ts` of `table` over `scope`, sorted.
    fn times(&self, table: &str, decl: &'static TableDecl, scope: &Scope) -> Result<Vec<i64>, String> {
        let rows = self.read(table, decl, scope, &["ts"])?;
        let mut ts: Vec<i64> = (0..rows.len()).filter_map(|i| rows.get(i, "ts").i64()).collect();
        ts.sort_unstable();
        ts.dedup();
        Ok(ts)
    }
}

/// One value of an Arrow array of a recorded table.
fn value(a: &ArrayRef, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Int32 => Value::I(a.as_primitive::<Int32Type>().value(i).into()),
        DataType::UInt32 => Value::U(a.as_primitive::<UInt32Type>().value(i).into()),
        DataType::Int64 => Value::I(a.as_primitive::<Int64Type>().value(i)),
        DataType::UInt64 => Value::U(a.as_primitive::<UInt64Type>().value(i)),
        DataType::Float64 => Value::F(a.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::S(a.as_string::<i32>().value(i).to_string()),
        DataType::Timestamp(_, _) => Value::Ts(a.as_primitive::<TimestampMicrosecondType>().value(i)),
        DataType::Date32 => Value::I(a.as_primitive::<Date32Type>().value(i).into()),
        DataType::List(_) => {
            let l = a.as_list::<i32>().value(i);
            let s = l.as_string::<i32>();
            Value::List((0..s.len()).map(|j| s.value(j).to_string()).collect())
        }
        _ => Value::Null,
    }
}

/// How far from the cursor a coarser table's nearest rows are looked for (the processes and
/// filesystems of a `process_interval` of up to this).
const NEAR_US: i64 = 15 * 60 * 1_000_000;
/// How much history the sparklines show.
const HISTORY_US: i64 = HISTORY_SECONDS as i64 * 1_000_000;

pub struct ReplaySource {
    pub location: Location,
    /// The partition's host.
    pub host: String,
    /// Every sample time of `metrics`, sorted: the cursor's steps.
    pub times: Vec<i64>,
    pub cursor: usize,
    frame: Frame,
}

impl ReplaySource {
    /// Opens a recording: its `metrics` samples of one host (`host`, or the only one).
    pub fn open(location: Location, host: Option<&str>) -> Result<ReplaySource, String> {
        let decl = sysmon_tables::metrics::MetricsRow::TABLE;
        let scope = Scope {
            host: host.map(str::to_string),
            ..Scope::default()
        };
        let mut hosts: Vec<String> = location
            .plan("metrics", decl, &scope)?
            .into_iter()
            .map(|p| p.host)
            .collect();
        hosts.sort();
        hosts.dedup();
        let host = match (host, hosts.as_slice()) {
            (_, []) => {
                return Err(format!(
                    "the recording at '{}' holds no metrics samples yet",
                    location.shown()
                ));
            }
            (None, [only]) => only.clone(),
            (None, many) => {
                return Err(format!(
                    "the recording at '{}' holds several hosts ({}): choose one with --host",
                    location.shown(),
                    many.join(", ")
                ));
            }
            (Some(_), [first, ..]) => first.clone(),
        };
        let scope = Scope {
            host: Some(host.clone()),
            ..Scope::default()
        };
        let times = location.times("metrics", decl, &scope)?;
        if times.is_empty() {
            return Err(format!(
                "the recording at '{}' holds no metrics samples yet",
                location.shown()
            ));
        }
        let cursor = times.len() - 1;
        Ok(ReplaySource {
            location,
            host,
            times,
            cursor,
            frame: Frame::empty(),
        })
    }

    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    pub fn newest_us(&self) -> i64 {
        self.times.last().copied().unwrap_or_default()
    }

    pub fn cursor_us(&self) -> i64 {
        self.times.get(self.cursor).copied().unwrap_or_default()
    }

    /// Moves the cursor to the sample nearest `ts`.
    pub fn seek(&mut self, ts: i64) {
        self.cursor = nearest(&self.times, ts).unwrap_or(0);
    }

    /// Moves the cursor by `n` samples (clamped).
    pub fn step(&mut self, n: i64) {
        let last = self.times.len().saturating_sub(1) as i64;
        self.cursor = (self.cursor as i64 + n).clamp(0, last) as usize;
    }

    fn scope(&self, since: i64, until: i64) -> Scope {
        Scope {
            host: Some(self.host.clone()),
            since_us: Some(since),
            until_us: Some(until),
        }
    }

    /// The rows of `table` at its sample nearest `ts` (within [`NEAR_US`]), and that time.
    fn nearest_rows(&self, table: &str, decl: &'static TableDecl, ts: i64) -> Result<Option<(i64, Rows)>, String> {
        let times = match self
            .location
            .times(table, decl, &self.scope(ts - NEAR_US, ts + NEAR_US))
        {
            Ok(t) => t,
            // A table this recording does not hold.
            Err(_) => return Ok(None),
        };
        let Some(i) = nearest(&times, ts) else {
            return Ok(None);
        };
        let at = times[i];
        Ok(Some((
            at,
            self.location.read(table, decl, &self.scope(at, at + 1), &[])?,
        )))
    }

    /// Reads the cursor's rows: every table the header and the process table show, and
    /// those of `pane` (filesystems, cgroups, sockets are read only for their pane).
    pub fn load(&mut self, pane: Pane) -> Result<&Frame, String> {
        let ts = self.cursor_us();
        let mut f = Frame::empty();
        f.ts_us = Some(ts);
        let at = |t: &str, d: &'static TableDecl| -> Result<Rows, String> {
            Ok(self.nearest_rows(t, d, ts)?.map_or(Rows::empty(d), |(_, r)| r))
        };
        f.metrics = self.location.read(
            "metrics",
            sysmon_tables::metrics::MetricsRow::TABLE,
            &self.scope(ts, ts + 1),
            &[],
        )?;
        f.cpus = at("cpus", sysmon_tables::cpus::CpusRow::TABLE)?;
        f.disks = at("disks", sysmon_tables::disks::DisksRow::TABLE)?;
        f.networks = at("networks", sysmon_tables::networks::NetworksRow::TABLE)?;
        f.pressure = at("pressure", sysmon_tables::pressure::PressureRow::TABLE)?;
        let pdecl = sysmon_tables::processes::ProcessesRow::TABLE;
        if let Some((pts, rows)) = self.nearest_rows("processes", pdecl, ts)? {
            let mut procs = Proc::from_rows(&rows);
            // Rates against the snapshot before (within the same reach).
            if let Some((b, prev)) = self.rows_before("processes", pdecl, pts)? {
                Proc::set_rates(&mut procs, &Proc::from_rows(&prev), (pts - b) as f64 / 1e6);
            }
            f.procs = Some(procs);
            f.procs_ts_us = Some(pts);
        }
        f.history = self.history(ts)?;
        self.frame = f;
        self.fill(pane)?;
        Ok(&self.frame)
    }

    /// Reads what `pane` shows at the cursor where it is not read yet (a pane just shown).
    pub fn fill(&mut self, pane: Pane) -> Result<(), String> {
        let ts = self.cursor_us();
        match pane {
            Pane::Filesystems if self.frame.filesystems.is_none() => {
                let d = sysmon_tables::filesystems::FilesystemsRow::TABLE;
                self.frame.filesystems = Some(
                    self.nearest_rows("filesystems", d, ts)?
                        .map_or(Rows::empty(d), |(_, r)| r),
                );
            }
            Pane::Cgroups if self.frame.cgroups.is_unread() => {
                let d = sysmon_tables::cgroups::CgroupsRow::TABLE;
                self.frame.cgroups = match self.nearest_rows("cgroups", d, ts)? {
                    None => Loaded::Missing(not_recorded("cgroups")),
                    Some((cts, rows)) => {
                        let mut now = Cgroup::from_rows(&rows);
                        if let Some((b, prev)) = self.rows_before("cgroups", d, cts)? {
                            Cgroup::set_rates(&mut now, &Cgroup::from_rows(&prev), (cts - b) as f64 / 1e6);
                        }
                        Loaded::Ready {
                            at_us: Some(cts),
                            rows: now,
                        }
                    }
                };
            }
            Pane::Sockets if self.frame.sockets.is_unread() => {
                let d = sysmon_tables::sockets::SocketsRow::TABLE;
                self.frame.sockets = match self.nearest_rows("sockets", d, ts)? {
                    None => Loaded::Missing(not_recorded("sockets")),
                    Some((sts, rows)) => Loaded::Ready {
                        at_us: Some(sts),
                        // The pane lists what listens (as `system_sockets(kind := 'listening')`).
                        rows: listening(rows),
                    },
                };
            }
            _ => {}
        }
        Ok(())
    }

    /// The snapshot of `table` before `ts` (within [`NEAR_US`]): its time and rows.
    fn rows_before(&self, table: &str, decl: &'static TableDecl, ts: i64) -> Result<Option<(i64, Rows)>, String> {
        let before = self
            .location
            .times(table, decl, &self.scope(ts - NEAR_US, ts))
            .ok()
            .and_then(|t| t.last().copied());
        match before {
            Some(b) => Ok(Some((b, self.location.read(table, decl, &self.scope(b, b + 1), &[])?))),
            None => Ok(None),
        }
    }

    /// The sparklines: the `metrics` samples of the last minutes up to the cursor, each a
    /// stretch from the sample before.
    fn history(&self, ts: i64) -> Result<History, String> {
        let m = self.location.read(
            "metrics",
            sysmon_tables::metrics::MetricsRow::TABLE,
            &self.scope(ts - HISTORY_US, ts + 1),
            &[
                "ts",
                "window_seconds",
                "cpu_busy_pct",
                "mem_total_bytes",
                "mem_used_bytes",
                "net_rx_bytes",
                "net_tx_bytes",
            ],
        )?;
        let mut order: Vec<usize> = (0..m.len()).collect();
        order.sort_by_key(|&i| m.get(i, "ts").i64());
        let mut h = History::default();
        let mut prev: Option<(i64, Option<f64>)> = None;
        for i in order {
            let Some(t) = m.get(i, "ts").i64() else { continue };
            let bytes = match (m.f64(i, "net_rx_bytes"), m.f64(i, "net_tx_bytes")) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            let window_us = m.f64(i, "window_seconds").map(|w| (w * 1e6) as i64);
            // The stretch the sample's figures are over: its window, not before the sample
            // before (a recorder's restart leaves a gap).
            let from = match (prev, window_us) {
                (Some((p, _)), Some(w)) => p.max(t - w),
                (Some((p, _)), None) => p,
                (None, Some(w)) => t - w,
                (None, None) => t,
            };
            let net = match prev {
                Some((p, Some(pb))) if t > p && from == p => {
                    bytes.filter(|b| *b >= pb).map(|b| (b - pb) / ((t - p) as f64 / 1e6))
                }
                _ => None,
            };
            prev = Some((t, bytes));
            h.stretches.push(Stretch {
                from_ago_s: (ts - from) as f64 / 1e6,
                to_ago_s: (ts - t) as f64 / 1e6,
                cpu_pct: m.f64(i, "cpu_busy_pct"),
                mem_pct: mem_pct(&m, i),
                net_bytes_per_sec: net,
            });
        }
        Ok(h)
    }
}

fn not_recorded(table: &str) -> String {
    format!(
        "this recording holds no {table} near this time: record them with tables := [..., '{table}'] (sysmon record --tables ...,{table})"
    )
}

/// The listening TCP and bound UDP sockets of a `sockets` snapshot.
fn listening(mut rows: Rows) -> Rows {
    let (p, s) = (rows.decl.column_index("protocol"), rows.decl.column_index("state"));
    rows.rows.retain(|r| {
        let get = |c: Option<usize>| c.and_then(|c| r.get(c)).and_then(Value::str);
        match (get(p), get(s)) {
            (Some(p), Some(s)) => (p.starts_with("tcp") && s == "LISTEN") || (p.starts_with("udp") && s == "UNCONN"),
            _ => false,
        }
    });
    rows
}

/// The index of the time in sorted `times` nearest `ts`.
pub fn nearest(times: &[i64], ts: i64) -> Option<usize> {
    if times.is_empty() {
        return None;
    }
    let i = times.partition_point(|&t| t < ts);
    match i {
        0 => Some(0),
        i if i == times.len() => Some(i - 1),
        i => Some(if ts - times[i - 1] <= times[i] - ts { i - 1 } else { i }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_sample() {
        let t = [10, 20, 30];
        assert_eq!(nearest(&t, 0), Some(0));
        assert_eq!(nearest(&t, 14), Some(0));
        assert_eq!(nearest(&t, 16), Some(1));
        assert_eq!(nearest(&t, 99), Some(2));
        assert_eq!(nearest(&[], 5), None);
    }

    #[test]
    fn recorded_sockets_are_kept_where_they_listen() {
        use sysmon_tables::sockets::{SocketFields, SocketKind, collect};
        let roots = sysmon_kernel::procfs::Roots::test_fixture("sockets");
        let ts = sysmon_tables::schema::Timestamp::from_micros(0);
        let get = |kind| collect(&roots, kind, SocketFields::all(), &|_| None, ts, "h").unwrap();
        // What the recorder keeps (every socket), cut to what the pane shows.
        let kept = listening(Rows::from_rows(&get(SocketKind::All)));
        let want = Rows::from_rows(&get(SocketKind::Listening));
        let key = |r: &Rows| {
            let mut v: Vec<(Option<String>, Option<i64>)> = (0..r.len())
                .map(|i| (r.str(i, "protocol").map(str::to_string), r.get(i, "local_port").i64()))
                .collect();
            v.sort();
            v
        };
        assert!(!want.is_empty());
        assert_eq!(key(&kept), key(&want), "as system_sockets(kind := 'listening')");
    }

    #[test]
    fn a_missing_recording_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("sysmon-view-missing-{}", std::process::id()));
        let e = ReplaySource::open(Location::Dir(dir.clone()), None).err().unwrap();
        assert!(e.contains("does not exist"), "{e}");
        std::fs::create_dir_all(&dir).unwrap();
        let e = ReplaySource::open(Location::Dir(dir.clone()), None).err().unwrap();
        assert!(e.contains("no recording"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
