//! What one screen shows: the rows of the tables at one time, whether they came from the live
//! readers ([`crate::live`]) or from a recording ([`crate::replay`]). Rows are kept by column
//! name, so both sources fill the same [`Frame`] and the screens never know which one it was;
//! a value the platform did not give is [`Value::Null`] and is drawn as `-`.

use std::collections::VecDeque;

use sysmon_tables::schema::{Cell, Row, TableDecl};

/// One value of one row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    I(i64),
    U(u64),
    F(f64),
    S(String),
    /// Microseconds since the Unix epoch.
    Ts(i64),
    List(Vec<String>),
}

impl Value {
    pub fn from_cell(c: Cell<'_>) -> Value {
        match c {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(b),
            Cell::I32(v) => Value::I(v.into()),
            Cell::U32(v) => Value::U(v.into()),
            Cell::I64(v) => Value::I(v),
            Cell::U64(v) => Value::U(v),
            Cell::F64(v) => Value::F(v),
            Cell::Str(s) => Value::S(s.to_string()),
            Cell::Ts(v) => Value::Ts(v),
            Cell::StrList(l) => Value::List(l.to_vec()),
            Cell::Date(d) => Value::I(d.into()),
        }
    }

    pub fn f64(&self) -> Option<f64> {
        match *self {
            Value::I(v) => Some(v as f64),
            Value::U(v) => Some(v as f64),
            Value::F(v) if v.is_finite() => Some(v),
            Value::Ts(v) => Some(v as f64),
            _ => None,
        }
    }

    pub fn i64(&self) -> Option<i64> {
        match *self {
            Value::I(v) | Value::Ts(v) => Some(v),
            Value::U(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Value::S(s) => Some(s),
            _ => None,
        }
    }

    pub fn bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// The rows of one table, its columns as its declaration has them.
#[derive(Clone, Debug)]
pub struct Rows {
    pub decl: &'static TableDecl,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn empty(decl: &'static TableDecl) -> Rows {
        Rows { decl, rows: Vec::new() }
    }

    /// Rows made by the table's own code ([`sysmon_tables::Table::rows`]).
    pub fn from_rows<R: Row>(rows: &[R]) -> Rows {
        let decl = R::TABLE;
        let n = decl.columns.len();
        Rows {
            decl,
            rows: rows
                .iter()
                .map(|r| (0..n).map(|c| Value::from_cell(r.cell(c))).collect())
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The value of column `name` in row `row`; `Null` where there is none.
    pub fn get(&self, row: usize, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match (self.decl.column_index(name), self.rows.get(row)) {
            (Some(c), Some(r)) => r.get(c).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn f64(&self, row: usize, name: &str) -> Option<f64> {
        self.get(row, name).f64()
    }

    pub fn str(&self, row: usize, name: &str) -> Option<&str> {
        self.get(row, name).str()
    }
}

/// Points of the sparklines, oldest first.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub cpu_pct: VecDeque<f64>,
    pub mem_pct: VecDeque<f64>,
    /// Received plus sent, bytes per second.
    pub net_bytes_per_sec: VecDeque<f64>,
}

/// How many points the sparklines keep (at 1 s, the last five minutes).
pub const HISTORY_POINTS: usize = 300;

impl History {
    pub fn push(&mut self, cpu: Option<f64>, mem: Option<f64>, net: Option<f64>) {
        for (q, v) in [
            (&mut self.cpu_pct, cpu),
            (&mut self.mem_pct, mem),
            (&mut self.net_bytes_per_sec, net),
        ] {
            if let Some(v) = v {
                if q.len() == HISTORY_POINTS {
                    q.pop_front();
                }
                q.push_back(v);
            }
        }
    }
}

/// One process, as the process table shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Proc {
    pub pid: i64,
    pub user: Option<String>,
    pub state: Option<String>,
    pub cpu_pct: Option<f64>,
    pub rss_bytes: Option<f64>,
    pub mem_pct: Option<f64>,
    pub read_per_sec: Option<f64>,
    pub write_per_sec: Option<f64>,
    pub threads: Option<i64>,
    pub name: String,
    /// The command line joined by spaces; the name in brackets where it is empty (a kernel
    /// thread, a zombie).
    pub command: String,
    /// The process's start, to tell a reused pid (microseconds).
    pub start_us: Option<i64>,
    pub read_bytes: Option<f64>,
    pub written_bytes: Option<f64>,
}

impl Proc {
    /// The processes of a `processes` table.
    pub fn from_rows(rows: &Rows) -> Vec<Proc> {
        (0..rows.len())
            .filter_map(|i| {
                let pid = rows.get(i, "pid").i64()?;
                let name = rows.str(i, "name").unwrap_or_default().to_string();
                let command = match rows.get(i, "cmdline") {
                    Value::List(l) if !l.is_empty() => l.join(" "),
                    _ => format!("[{name}]"),
                };
                Some(Proc {
                    pid,
                    user: rows.str(i, "user").map(str::to_string),
                    state: rows.str(i, "state").map(str::to_string),
                    cpu_pct: rows.f64(i, "cpu_pct"),
                    rss_bytes: rows.f64(i, "rss_bytes"),
                    mem_pct: rows.f64(i, "mem_pct"),
                    read_per_sec: None,
                    write_per_sec: None,
                    threads: rows.get(i, "threads").i64(),
                    name,
                    command,
                    start_us: rows.get(i, "start_time").i64(),
                    read_bytes: rows.f64(i, "read_bytes"),
                    written_bytes: rows.f64(i, "written_bytes"),
                })
            })
            .collect()
    }

    /// Sets the read and write rates from the same processes `seconds` earlier.
    pub fn set_rates(procs: &mut [Proc], before: &[Proc], seconds: f64) {
        if seconds <= 0.0 {
            return;
        }
        let prev: std::collections::HashMap<(i64, Option<i64>), &Proc> =
            before.iter().map(|p| ((p.pid, p.start_us), p)).collect();
        for p in procs {
            let Some(b) = prev.get(&(p.pid, p.start_us)) else {
                continue;
            };
            let rate = |now: Option<f64>, then: Option<f64>| match (now, then) {
                (Some(n), Some(t)) if n >= t => Some((n - t) / seconds),
                _ => None,
            };
            p.read_per_sec = rate(p.read_bytes, b.read_bytes);
            p.write_per_sec = rate(p.written_bytes, b.written_bytes);
        }
    }
}

/// Everything one screen shows.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The time of the rows (microseconds since the epoch).
    pub ts_us: Option<i64>,
    pub metrics: Rows,
    pub cpus: Rows,
    pub disks: Rows,
    pub networks: Rows,
    pub filesystems: Option<Rows>,
    pub pressure: Rows,
    /// `None`: not recorded (a replay without a process snapshot).
    pub procs: Option<Vec<Proc>>,
    /// When `procs` were taken, where that differs from `ts_us` (a replay's nearest snapshot).
    pub procs_ts_us: Option<i64>,
    pub history: History,
}

impl Frame {
    pub fn empty() -> Frame {
        use sysmon_tables::schema::Row as _;
        Frame {
            ts_us: None,
            metrics: Rows::empty(sysmon_tables::metrics::MetricsRow::TABLE),
            cpus: Rows::empty(sysmon_tables::cpus::CpusRow::TABLE),
            disks: Rows::empty(sysmon_tables::disks::DisksRow::TABLE),
            networks: Rows::empty(sysmon_tables::networks::NetworksRow::TABLE),
            filesystems: None,
            pressure: Rows::empty(sysmon_tables::pressure::PressureRow::TABLE),
            procs: None,
            procs_ts_us: None,
            history: History::default(),
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in microseconds since the epoch.
pub fn format_ts(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let day = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    let (y, m, d) = sysmon_store::layout::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// [`format_ts`] with milliseconds (a replay's cursor, whose samples may be 200 ms apart).
pub fn format_ts_ms(us: i64) -> String {
    format!("{}.{:03}", format_ts(us), us.rem_euclid(1_000_000) / 1000)
}

/// Parses a time: `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DDTHH:MM[:SS][Z]` (UTC), a date alone
/// (midnight UTC), or a duration before `newest_us` (`-5m`, `-1h30m` is not: one unit).
pub fn parse_time(text: &str, newest_us: i64) -> Result<i64, String> {
    let t = text.trim();
    let bad = || format!("'{text}' is not a time such as '2026-12-06 03:12', '2026-12-06T03:12:00Z' or '-5m' (UTC)");
    if let Some(rel) = t.strip_prefix('-') {
        let split = rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len());
        let (num, unit) = rel.split_at(split);
        let n: i64 = num.parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "s" | "" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        return Ok(newest_us.saturating_sub(n.saturating_mul(secs).saturating_mul(1_000_000)));
    }
    let t = t.trim_end_matches('Z').trim_end_matches(" UTC");
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm.trim()),
        None => (t, "00:00"),
    };
    let day = sysmon_store::layout::parse_date(date).ok_or_else(bad)?;
    let mut parts = time.split(':');
    let mut field = |max: i64, needed: bool| -> Result<i64, String> {
        match parts.next() {
            None if !needed => Ok(0),
            None => Err(bad()),
            Some(p) => {
                let v: f64 = p.parse().map_err(|_| bad())?;
                if !(0.0..max as f64).contains(&v) {
                    return Err(bad());
                }
                Ok(v as i64)
            }
        }
    };
    let (h, m, s) = (field(24, true)?, field(60, true)?, field(61, false)?);
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok((day * 86_400 + h * 3600 + m * 60 + s) * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_time("2026-12-06 03:12", 0).unwrap();
        assert_eq!(format_ts(t), "2026-12-06 03:12:00");
        assert_eq!(
            parse_time("2026-12-06T03:12:09Z", 0).map(format_ts).unwrap(),
            "2026-12-06 03:12:09"
        );
        assert_eq!(parse_time("-5m", 600_000_000).unwrap(), 300_000_000);
        assert_eq!(
            parse_time("2026-12-06", 0).map(format_ts).unwrap(),
            "2026-12-06 00:00:00"
        );
        assert!(parse_time("yesterday", 0).is_err());
        assert!(parse_time("2026-12-06 25:00", 0).is_err());
    }

    #[test]
    fn rates_follow_the_same_process() {
        let p = |pid, start, read| Proc {
            pid,
            user: None,
            state: None,
            cpu_pct: None,
            rss_bytes: None,
            mem_pct: None,
            read_per_sec: None,
            write_per_sec: None,
            threads: None,
            name: String::new(),
            command: String::new(),
            start_us: Some(start),
            read_bytes: read,
            written_bytes: None,
        };
        let before = [p(1, 10, Some(100.0)), p(2, 10, Some(0.0))];
        let mut now = [p(1, 10, Some(300.0)), p(2, 99, Some(50.0)), p(3, 10, None)];
        Proc::set_rates(&mut now, &before, 2.0);
        assert_eq!(now[0].read_per_sec, Some(100.0));
        assert_eq!(now[1].read_per_sec, None, "pid 2 was reused");
        assert_eq!(now[0].write_per_sec, None, "no write counter: '-'");
    }
}
