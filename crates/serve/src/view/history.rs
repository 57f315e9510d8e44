//! Recorded history for the charts: a table of one host over a time range, read from the
//! recording's Parquet files and downsampled per pixel to min/avg/max.
//!
//! Reading prunes three times before it decodes a value: by folder (`<table>/host=<h>/` and the
//! `date=` folders the range touches), by file name (each names its first and last `ts`, see
//! [`layout::FileName`]), and by the `ts` statistics of each row group (merged files have
//! them). Only the columns a chart draws are decoded ([`ProjectionMask`]).

use std::fmt;
use std::io;

use super::json;
use super::query::{Query, shorten};
use sysmon_store::handle::open_nofollow;
use sysmon_store::layout::{self, host_partition};
use sysmon_tables::schema::TableDecl;

mod downsample;
mod hosts;
mod read;
pub use downsample::*;
pub use hosts::*;
pub use read::*;

/// The parameters `/api/history` accepts.
pub const PARAMS: &[&str] = &["table", "host", "from", "to", "width"];

/// The widest range one request may ask for.
pub const MAX_RANGE_MS: i64 = 400 * 86_400_000;
/// The most buckets (pixels) one request may ask for.
pub const MAX_WIDTH: usize = 10_000;
pub const DEFAULT_WIDTH: usize = 1_000;
/// The range when `from` is left out: the 15 minutes before `to`.
pub const DEFAULT_RANGE_MS: i64 = 15 * 60_000;

/// What the charts draw from one recorded table.
#[derive(Debug)]
pub struct ChartTable {
    /// The recorder's folder name.
    pub name: &'static str,
    /// The columns that tell a row's series apart (`device`, `cpu`, ...), joined with `/`.
    pub key: &'static [&'static str],
    /// Rows are kept only where these BOOLEAN columns are NULL or have this value (physical
    /// disks and interfaces, as `system_metrics` sums them).
    pub keep: &'static [(&'static str, bool)],
    /// The numeric columns drawn.
    pub columns: &'static [&'static str],
}

/// Every recorded table the dashboard and the report draw.
pub const CHART_TABLES: &[ChartTable] = &[
    ChartTable {
        name: "metrics",
        key: &[],
        keep: &[],
        columns: &[
            "cpu_user_pct",
            "cpu_nice_pct",
            "cpu_system_pct",
            "cpu_iowait_pct",
            "cpu_irq_pct",
            "cpu_softirq_pct",
            "cpu_steal_pct",
            "mem_used_bytes",
            "mem_cached_bytes",
            "mem_buffers_bytes",
            "swap_used_bytes",
            "load_1m",
            "load_5m",
            "load_15m",
        ],
    },
    ChartTable {
        name: "cpus",
        key: &["cpu"],
        keep: &[],
        columns: &["cpu_busy_pct"],
    },
    ChartTable {
        name: "disks",
        key: &["device"],
        keep: &[("is_partition", false), ("is_virtual", false)],
        columns: &["read_bytes_per_sec", "write_bytes_per_sec"],
    },
    ChartTable {
        name: "networks",
        key: &["interface"],
        keep: &[("is_physical", true)],
        columns: &["rx_bytes_per_sec", "tx_bytes_per_sec"],
    },
    ChartTable {
        name: "pressure",
        key: &["resource", "kind"],
        keep: &[],
        columns: &["stall_pct"],
    },
];

pub fn chart_table(name: &str) -> Option<&'static ChartTable> {
    CHART_TABLES.iter().find(|t| t.name == name)
}

impl ChartTable {
    /// The declaration of the table's rows.
    pub fn decl(&self) -> Option<&'static TableDecl> {
        sysmon_tables::recorded::find(self.name).map(|t| t.decl())
    }

    fn unit(&self, column: &str) -> &'static str {
        self.decl()
            .and_then(|d| d.columns.iter().find(|c| c.name == column))
            .map_or("", |c| c.unit)
    }
}

/// One `/api/history` request, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub table: &'static ChartTable,
    pub host: String,
    /// Milliseconds since the epoch: rows with `from <= ts < to`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Buckets (pixels) to downsample to.
    pub width: usize,
}

impl PartialEq for ChartTable {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for ChartTable {}

fn table_names() -> String {
    CHART_TABLES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// Milliseconds since the epoch, as an integer.
fn parse_ms(name: &str, v: &str) -> Result<i64, String> {
    v.parse::<i64>()
        .ok()
        .filter(|ms| (0..=253_402_300_799_999).contains(ms))
        .ok_or_else(|| {
            format!(
                "{name} must be milliseconds since 1970-01-01 UTC (an integer, as JavaScript's Date.now()); got '{}'",
                shorten(v)
            )
        })
}

impl Request {
    /// From `/api/history`'s query; `now_ms` is the default `to`.
    pub fn parse(q: &Query, now_ms: i64) -> Result<Request, String> {
        let table = match q.get("table") {
            None => return Err(format!("table is required; accepted: {}", table_names())),
            Some(t) => {
                chart_table(t).ok_or_else(|| format!("unknown table '{}'; accepted: {}", shorten(t), table_names()))?
            }
        };
        let host = q.get("host").unwrap_or("");
        check_host(host)?;
        let to_ms = match q.get("to") {
            None => now_ms,
            Some(v) => parse_ms("to", v)?,
        };
        let from_ms = match q.get("from") {
            None => to_ms - DEFAULT_RANGE_MS,
            Some(v) => parse_ms("from", v)?,
        };
        if from_ms >= to_ms {
            return Err(format!("from ({from_ms}) must be before to ({to_ms})"));
        }
        if to_ms - from_ms > MAX_RANGE_MS {
            return Err(format!(
                "the range from {from_ms} to {to_ms} is longer than the most one request reads, 400 days"
            ));
        }
        let width = match q.get("width") {
            None => DEFAULT_WIDTH,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|w| (1..=MAX_WIDTH).contains(w))
                .ok_or_else(|| {
                    format!(
                        "width must be a whole number of pixels from 1 to {MAX_WIDTH}; got '{}'",
                        shorten(v)
                    )
                })?,
        };
        Ok(Request {
            table,
            host: host.to_string(),
            from_ms,
            to_ms,
            width,
        })
    }
}

/// A host name as the recorder writes it into `host=<name>` (see [`host_partition`]).
pub fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("host is required: a host name as /api/hosts lists it".into());
    }
    if host_partition(host) != host {
        return Err(format!(
            "host '{}' is not a recorded host name (letters, digits, '-', '.', '_')",
            shorten(host)
        ));
    }
    Ok(())
}

/// Why history could not be read.
#[derive(Debug)]
pub enum Error {
    /// The host has no recording under the directory; the hosts found.
    UnknownHost {
        host: String,
        found: Vec<String>,
    },
    Io(String),
}

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::UnknownHost { .. } => 404,
            Error::Io(_) => 500,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownHost { host, found } if found.is_empty() => {
                write!(f, "no recording of host '{host}': the directory holds no recorded host")
            }
            Error::UnknownHost { host, found } => {
                write!(f, "no recording of host '{host}'; hosts found: {}", found.join(", "))
            }
            Error::Io(e) => f.write_str(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

/// One series of one column, downsampled.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The key columns' values joined with `/`; empty for a table of one row per tick.
    pub key: String,
    pub column: &'static str,
    pub unit: &'static str,
    /// Per bucket of [`History::t_us`]: `None` where this series had no value.
    pub min: Vec<Option<f64>>,
    pub avg: Vec<Option<f64>>,
    pub max: Vec<Option<f64>>,
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    pub table: &'static str,
    pub host: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub width: usize,
    /// The length of one bucket.
    pub bucket_us: i64,
    /// The start of each bucket that has a value in some series, in order.
    pub t_us: Vec<i64>,
    pub series: Vec<Series>,
    /// Rows in the range (before the `keep` filter).
    pub rows_read: u64,
    pub files_read: u64,
    pub row_groups_read: u64,
    pub row_groups_skipped: u64,
}

impl History {
    /// `{"table", "host", "from_ms", "to_ms", "width", "bucket_ms", "rows_read", ..., "t": [seconds],
    /// "series": [{"key", "column", "unit", "min": [...], "avg": [...], "max": [...]}]}`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.t_us.len() * 12 * (1 + 3 * self.series.len()));
        out.push('{');
        json::key(&mut out, true, "table");
        json::string(&mut out, self.table);
        json::key(&mut out, false, "host");
        json::string(&mut out, &self.host);
        for (k, v) in [
            ("from_ms", self.from_ms as f64),
            ("to_ms", self.to_ms as f64),
            ("width", self.width as f64),
            ("bucket_ms", self.bucket_us as f64 / 1000.0),
            ("rows_read", self.rows_read as f64),
            ("files_read", self.files_read as f64),
            ("row_groups_read", self.row_groups_read as f64),
            ("row_groups_skipped", self.row_groups_skipped as f64),
        ] {
            json::key(&mut out, false, k);
            json::number(&mut out, v);
        }
        json::key(&mut out, false, "t");
        out.push('[');
        for (i, t) in self.t_us.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::number(&mut out, *t as f64 / 1e6);
        }
        out.push(']');
        json::key(&mut out, false, "series");
        out.push('[');
        for (i, s) in self.series.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            json::key(&mut out, true, "key");
            json::string(&mut out, &s.key);
            json::key(&mut out, false, "column");
            json::string(&mut out, s.column);
            json::key(&mut out, false, "unit");
            json::string(&mut out, s.unit);
            for (name, v) in [("min", &s.min), ("avg", &s.avg), ("max", &s.max)] {
                json::key(&mut out, false, name);
                out.push('[');
                for (j, x) in v.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    json::opt_compact(&mut out, *x);
                }
                out.push(']');
            }
            out.push('}');
        }
        out.push_str("]}");
        out
    }
}

/// An empty history of `req` and the accumulators to fill it.
pub(crate) fn begin(req: &Request) -> (Downsampler, History) {
    let from_us = req.from_ms.saturating_mul(1000);
    let to_us = req.to_ms.saturating_mul(1000);
    let h = History {
        table: req.table.name,
        host: req.host.clone(),
        from_ms: req.from_ms,
        to_ms: req.to_ms,
        width: req.width,
        bucket_us: 0,
        t_us: Vec::new(),
        series: Vec::new(),
        rows_read: 0,
        files_read: 0,
        row_groups_read: 0,
        row_groups_skipped: 0,
    };
    (Downsampler::new(from_us, to_us, req.width), h)
}

/// `h` with the downsampled series of `ds`.
pub(crate) fn finish(t: &ChartTable, ds: Downsampler, mut h: History) -> History {
    let (bucket_us, t_us, series) = ds.finish(t.columns, |c| t.unit(c));
    h.bucket_us = bucket_us;
    h.t_us = t_us;
    h.series = series;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysmon_testkit::fixture;

    fn q(s: &str) -> Result<Request, String> {
        Request::parse(&Query::parse(s, PARAMS).unwrap(), 1_700_000_000_000)
    }

    #[test]
    fn parses_ranges_and_hosts() {
        let r = q("table=cpus&host=web-1&from=1000&to=2000&width=10").unwrap();
        assert_eq!(
            (r.table.name, r.host.as_str(), r.from_ms, r.to_ms, r.width),
            ("cpus", "web-1", 1000, 2000, 10)
        );
        let r = q("table=metrics&host=h").unwrap();
        assert_eq!(
            (r.from_ms, r.to_ms, r.width),
            (1_700_000_000_000 - 900_000, 1_700_000_000_000, 1000)
        );
        let err = |s: &str| q(s).unwrap_err();
        assert!(err("host=h").starts_with("table is required; accepted: metrics, cpus"));
        assert!(err("table=sockets&host=h").starts_with("unknown table 'sockets'"));
        assert!(err("table=metrics").starts_with("host is required"));
        assert!(err("table=metrics&host=a/b").contains("is not a recorded host name"));
        assert!(err("table=metrics&host=..").contains("is not a recorded host name"));
        assert!(err("table=metrics&host=h&from=yesterday").starts_with("from must be milliseconds since 1970"));
        assert!(err("table=metrics&host=h&from=-5").starts_with("from must be"));
        assert!(err("table=metrics&host=h&to=1.5").starts_with("to must be"));
        assert_eq!(
            err("table=metrics&host=h&from=5&to=5"),
            "from (5) must be before to (5)"
        );
        assert!(err("table=metrics&host=h&from=0&to=99999999999").contains("400 days"));
        assert!(
            err("table=metrics&host=h&width=0").starts_with("width must be a whole number of pixels from 1 to 10000")
        );
        assert!(err("table=metrics&host=h&width=10001").starts_with("width must be"));
    }

    #[test]
    fn downsamples_per_bucket_to_min_avg_max() {
        let mut d = Downsampler::new(0, 1000, 10);
        let a = d.series("x", 0);
        let b = d.series("cpu10", 0);
        let c = d.series("cpu2", 0);
        assert_eq!(d.series("x", 0), a);
        for (ts, v) in [
            (0, 1.0),
            (50, 3.0),
            (99, 2.0),
            (100, 7.0),
            (999, 5.0),
            (1000, 100.0),
            (-1, 100.0),
        ] {
            if let Some(bucket) = d.bucket(ts) {
                d.add(a, bucket, v);
            }
        }
        d.add(a, 0, f64::NAN);
        d.add(b, 9, 1.0);
        d.add(c, 9, 2.0);
        let (bucket_us, t, s) = d.finish(&["v"], |_| "percent");
        assert_eq!(bucket_us, 100);
        assert_eq!(t, vec![0, 100, 900], "only buckets with values");
        assert_eq!(
            s.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
            ["cpu2", "cpu10", "x"]
        );
        let x = &s[2];
        assert_eq!(x.min, vec![Some(1.0), Some(7.0), Some(5.0)]);
        assert_eq!(x.avg, vec![Some(2.0), Some(7.0), Some(5.0)]);
        assert_eq!(x.max, vec![Some(3.0), Some(7.0), Some(5.0)]);
        assert_eq!(s[0].avg, vec![None, None, Some(2.0)]);
        assert_eq!(x.unit, "percent");
        // Two halves accumulated apart and merged (threads) give the same as one pass.
        let (mut one, mut left, mut right) = (
            Downsampler::new(0, 1000, 10),
            Downsampler::new(0, 1000, 10),
            Downsampler::new(0, 1000, 10),
        );
        for (i, ts) in (0..1000).step_by(7).enumerate() {
            let v = (i * 37 % 101) as f64;
            let a = one.series("k", 0);
            one.add(a, one.bucket(ts).unwrap(), v);
            let half = if i % 2 == 0 { &mut left } else { &mut right };
            let a = half.series("k", 0);
            half.add(a, half.bucket(ts).unwrap(), v);
        }
        left.merge(right);
        assert_eq!(left.finish(&["v"], |_| ""), one.finish(&["v"], |_| ""));
        // A range not divisible by the width: the last bucket is short, never past `to`.
        let d = Downsampler::new(0, 1001, 10);
        assert_eq!((d.bucket_us, d.width, d.bucket(1000)), (101, 10, Some(9)));
    }

    #[test]
    fn reads_a_recording_pruning_by_folder_file_and_row_group() {
        let dir = fixture::tempdir("history");
        let day = 20_000 * layout::MICROS_PER_DAY;
        // Two days at 1 Hz of 4 CPUs, and one day of metrics, written by the recorder's writer.
        for d in 0..2 {
            fixture::write_day(
                &dir,
                "web-1",
                "cpus",
                day + d * layout::MICROS_PER_DAY,
                86_400,
                1_000_000,
                4,
            )
            .unwrap();
        }
        fixture::write_day(&dir, "web-1", "metrics", day, 86_400, 1_000_000, 1).unwrap();
        fixture::write_day(&dir, "db-2", "metrics", day, 600, 1_000_000, 1).unwrap();

        let found = hosts(&dir).unwrap();
        assert_eq!(
            found.iter().map(|h| h.host.as_str()).collect::<Vec<_>>(),
            ["db-2", "web-1"]
        );
        assert_eq!(found[1].tables, ["metrics", "cpus"]);
        assert_eq!(found[1].first_us, Some(day));
        assert_eq!(found[1].last_us, Some(day + 2 * layout::MICROS_PER_DAY - 1_000_000));
        let j = hosts_json(Some(&dir)).unwrap();
        assert!(
            j.contains(r#"{"host":"db-2","tables":["metrics"],"first_ms":1728000000000,"#),
            "{j}"
        );

        // 15 minutes of the second day, 100 pixels: 9 samples per pixel.
        let from_ms = (day + layout::MICROS_PER_DAY) / 1000 + 3_600_000;
        let req = Request {
            table: chart_table("cpus").unwrap(),
            host: "web-1".into(),
            from_ms,
            to_ms: from_ms + 900_000,
            width: 100,
        };
        let h = read(&dir, &req).unwrap();
        assert_eq!(h.files_read, 1, "the first day's folder is skipped");
        assert!(
            h.row_groups_skipped > 0,
            "row groups outside the range are skipped: {h:?}"
        );
        assert_eq!(h.t_us.len(), 100);
        assert_eq!(h.series.len(), 4);
        assert_eq!(
            h.series.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
            ["0", "1", "2", "3"]
        );
        for s in &h.series {
            for i in 0..100 {
                let (lo, avg, hi) = (s.min[i].unwrap(), s.avg[i].unwrap(), s.max[i].unwrap());
                assert!(lo <= avg && avg <= hi && (0.0..=100.0).contains(&lo) && hi <= 100.0);
            }
        }
        // Against a brute-force pass over the same rows.
        let want = fixture::value("cpu_busy_pct", 2, (from_ms * 1000 + 5_000_000) / 1_000_000);
        assert!((h.series[2].min[0].unwrap()..=h.series[2].max[0].unwrap()).contains(&want));

        // The whole first day in 24 pixels: an hour each.
        let req = Request {
            table: chart_table("metrics").unwrap(),
            host: "web-1".into(),
            from_ms: day / 1000,
            to_ms: day / 1000 + 86_400_000,
            width: 24,
        };
        let h = read(&dir, &req).unwrap();
        assert_eq!((h.rows_read, h.t_us.len()), (86_400, 24));
        assert_eq!(h.series.len(), CHART_TABLES[0].columns.len());
        let load = h.series.iter().find(|s| s.column == "load_1m").unwrap();
        assert!(load.min[3] < load.max[3], "an hour has different values");
        let j = h.to_json();
        assert!(j.starts_with(r#"{"table":"metrics","host":"web-1","#), "{}", &j[..100]);

        // A host of another table only: no rows, no error. An unknown host: the list.
        let req = Request {
            table: chart_table("cpus").unwrap(),
            host: "db-2".into(),
            ..req
        };
        assert!(read(&dir, &req).unwrap().t_us.is_empty());
        let req = Request {
            host: "nope".into(),
            ..req
        };
        let e = read(&dir, &req).unwrap_err();
        assert_eq!(e.to_string(), "no recording of host 'nope'; hosts found: db-2, web-1");
        assert_eq!(e.status(), 404);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
