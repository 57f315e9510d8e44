//! What one screen shows: the rows of the tables at one time, whether they came from the live
//! readers ([`crate::live`]) or from a recording ([`crate::replay`]). Rows are kept by column
//! name, so both sources fill the same [`Frame`] and the screens never know which one it was;
//! a value the platform did not give is [`Value::Null`] and is drawn as `-`.

use std::time::Duration;

use sysmon_tables::processes::ProcessesRow;
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

/// One stretch of time of the history lines (sparklines): the CPU busy percentage over it,
/// the used memory at its end, the network bytes per second over it. Times are seconds before
/// the newest moment of the history (`0` for the newest), so a live ring (monotonic time) and
/// a recording (timestamps) give the same thing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stretch {
    pub from_ago_s: f64,
    pub to_ago_s: f64,
    pub cpu_pct: Option<f64>,
    pub mem_pct: Option<f64>,
    /// Received plus sent.
    pub net_bytes_per_sec: Option<f64>,
}

/// The history lines' data: stretches, oldest first.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub stretches: Vec<Stretch>,
}

/// How much time the sparklines cover.
pub const HISTORY_SECONDS: f64 = 300.0;

impl History {
    /// The newest stretch's values (CPU %, memory %, network bytes/s).
    pub fn newest(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        self.stretches
            .last()
            .map_or((None, None, None), |s| (s.cpu_pct, s.mem_pct, s.net_bytes_per_sec))
    }

    /// The values of `width` columns over the last `span_s` seconds, oldest first: each the
    /// mean of the stretches over its time (weighted by how much of it each covers), `None`
    /// where no stretch with a value covers it (before the history starts: never a made-up 0).
    pub fn columns(&self, width: usize, span_s: f64, pick: impl Fn(&Stretch) -> Option<f64>) -> Vec<Option<f64>> {
        let step = span_s / width.max(1) as f64;
        (0..width)
            .map(|c| {
                // Column c covers [hi, lo] seconds ago.
                let hi = (width - c) as f64 * step;
                let lo = hi - step;
                let (mut sum, mut weight) = (0.0, 0.0);
                for s in &self.stretches {
                    let Some(v) = pick(s) else { continue };
                    let overlap = s.from_ago_s.min(hi) - s.to_ago_s.max(lo);
                    // A stretch of no length (one sample) counts where it lies.
                    let w = match s.from_ago_s > s.to_ago_s {
                        true => overlap,
                        false if (lo..=hi).contains(&s.to_ago_s) => step * 1e-3,
                        false => 0.0,
                    };
                    if w > 0.0 {
                        sum += v * w;
                        weight += w;
                    }
                }
                (weight > 0.0).then(|| sum / weight)
            })
            .collect()
    }
}

/// A part of the screen read only when shown (a pane's rows).
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded<T> {
    /// Not read yet (its pane was not shown).
    Unread,
    /// Not there: why (a recording that holds no such table near the cursor, a read error).
    Missing(String),
    /// The rows, and when they were taken where that differs from the frame's time (a
    /// replay's nearest snapshot).
    Ready { at_us: Option<i64>, rows: T },
}

impl<T> Loaded<T> {
    pub fn rows(&self) -> Option<&T> {
        match self {
            Loaded::Ready { rows, .. } => Some(rows),
            _ => None,
        }
    }

    pub fn is_unread(&self) -> bool {
        matches!(self, Loaded::Unread)
    }
}

/// One cgroup, as the cgroups pane shows it: the rows of `system_cgroups()` of one path
/// merged over the hierarchies (on a v1 or hybrid host the CPU columns come from the `cpu`
/// hierarchy's row and the memory columns from the `memory` one's).
#[derive(Clone, Debug, PartialEq)]
pub struct Cgroup {
    pub path: String,
    pub runtime: Option<String>,
    pub container_id: Option<String>,
    pub cpu_seconds: Option<f64>,
    pub mem_bytes: Option<f64>,
    pub mem_max_bytes: Option<f64>,
    pub io_read_bytes: Option<f64>,
    pub io_written_bytes: Option<f64>,
    pub pids: Option<i64>,
    /// Against the snapshot before (`None` on the first, or where a counter is missing).
    pub cpu_pct: Option<f64>,
    pub read_per_sec: Option<f64>,
    pub write_per_sec: Option<f64>,
}

impl Cgroup {
    /// The cgroups of a `cgroups` table, one per path, in the rows' order.
    pub fn from_rows(rows: &Rows) -> Vec<Cgroup> {
        let mut out: Vec<Cgroup> = Vec::new();
        let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for i in 0..rows.len() {
            let Some(path) = rows.str(i, "path") else { continue };
            let c = Cgroup {
                path: path.to_string(),
                runtime: rows.str(i, "container_runtime").map(str::to_string),
                container_id: rows.str(i, "container_id").map(str::to_string),
                cpu_seconds: rows.f64(i, "cpu_usage_seconds"),
                mem_bytes: rows.f64(i, "mem_current_bytes"),
                mem_max_bytes: rows.f64(i, "mem_max_bytes"),
                io_read_bytes: rows.f64(i, "io_read_bytes"),
                io_written_bytes: rows.f64(i, "io_written_bytes"),
                pids: rows.get(i, "pids_current").i64(),
                cpu_pct: None,
                read_per_sec: None,
                write_per_sec: None,
            };
            match at.get(path) {
                Some(&j) => {
                    let o = &mut out[j];
                    o.cpu_seconds = o.cpu_seconds.or(c.cpu_seconds);
                    o.mem_bytes = o.mem_bytes.or(c.mem_bytes);
                    o.mem_max_bytes = o.mem_max_bytes.or(c.mem_max_bytes);
                    o.io_read_bytes = o.io_read_bytes.or(c.io_read_bytes);
                    o.io_written_bytes = o.io_written_bytes.or(c.io_written_bytes);
                    o.pids = o.pids.or(c.pids);
                    o.runtime = o.runtime.take().or(c.runtime);
                    o.container_id = o.container_id.take().or(c.container_id);
                }
                None => {
                    at.insert(c.path.clone(), out.len());
                    out.push(c);
                }
            }
        }
        out
    }

    /// Sets CPU % and the I/O rates from the same cgroups `seconds` earlier.
    pub fn set_rates(now: &mut [Cgroup], before: &[Cgroup], seconds: f64) {
        if seconds <= 0.0 {
            return;
        }
        let prev: std::collections::HashMap<&str, &Cgroup> = before.iter().map(|c| (c.path.as_str(), c)).collect();
        let rate = |n: Option<f64>, t: Option<f64>| match (n, t) {
            (Some(n), Some(t)) if n >= t => Some((n - t) / seconds),
            _ => None,
        };
        for c in now {
            let Some(b) = prev.get(c.path.as_str()) else { continue };
            c.cpu_pct = rate(c.cpu_seconds, b.cpu_seconds).map(|v| v * 100.0);
            c.read_per_sec = rate(c.io_read_bytes, b.io_read_bytes);
            c.write_per_sec = rate(c.io_written_bytes, b.io_written_bytes);
        }
    }
}

/// Read and written bytes by process (pid, start).
pub type IoCounts = std::collections::HashMap<(i64, Option<i64>), (Option<f64>, Option<f64>)>;

/// One process, as the process table shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Proc {
    pub pid: i64,
    /// The parent's pid (`None` where the recording has no `ppid`), for the tree (`t`).
    pub ppid: Option<i64>,
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
            .filter_map(|i| Proc::from_values(|name| rows.get(i, name).clone()))
            .collect()
    }

    /// The processes of a `processes` table's rows as its code makes them (the live source),
    /// taken by value: [`Self::from_rows`] of [`Rows::from_rows`], with each field moved or
    /// copied straight from the row, no [`Value`] made of each cell and no string copied (that copying was a tenth of a refresh's user time, `perf` on
    /// `sysmon top`). The same processes, field for field (tested in `live.rs`).
    pub fn from_processes_rows(rows: Vec<ProcessesRow>) -> Vec<Proc> {
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        rows.into_iter()
            .map(|r| {
                let command = match r.cmdline.is_empty() {
                    true => format!("[{}]", r.name),
                    false => r.cmdline.join(" "),
                };
                Proc {
                    pid: r.pid.into(),
                    ppid: Some(r.ppid.into()),
                    user: r.user,
                    state: Some(r.state),
                    cpu_pct: finite(r.cpu_pct),
                    rss_bytes: Some(r.rss_bytes as f64),
                    mem_pct: finite(r.mem_pct),
                    read_per_sec: None,
                    write_per_sec: None,
                    threads: Some(r.threads),
                    name: r.name,
                    command,
                    start_us: r.start_time.map(|t| t.micros),
                    read_bytes: r.read_bytes.map(|v| v as f64),
                    written_bytes: r.written_bytes.map(|v| v as f64),
                }
            })
            .collect()
    }

    /// One process from its columns' values (`Null` where there is none).
    fn from_values(get: impl Fn(&str) -> Value) -> Option<Proc> {
        let pid = get("pid").i64()?;
        let name = match get("name") {
            Value::S(s) => s,
            _ => String::new(),
        };
        let command = match get("cmdline") {
            Value::List(l) if !l.is_empty() => l.join(" "),
            _ => format!("[{name}]"),
        };
        let string = |v: Value| match v {
            Value::S(s) => Some(s),
            _ => None,
        };
        Some(Proc {
            pid,
            ppid: get("ppid").i64(),
            user: string(get("user")),
            state: string(get("state")),
            cpu_pct: get("cpu_pct").f64(),
            rss_bytes: get("rss_bytes").f64(),
            mem_pct: get("mem_pct").f64(),
            read_per_sec: None,
            write_per_sec: None,
            threads: get("threads").i64(),
            name,
            command,
            start_us: get("start_time").i64(),
            read_bytes: get("read_bytes").f64(),
            written_bytes: get("written_bytes").f64(),
        })
    }

    /// Sets the read and write rates from the same processes `seconds` earlier.
    pub fn set_rates(procs: &mut [Proc], before: &[Proc], seconds: f64) {
        let mut prev = IoCounts::new();
        Proc::io_counts(before, &mut prev);
        Proc::set_rates_from(procs, &prev, seconds);
    }

    /// The I/O counters of `procs` into `out` (cleared first): what the rates of the next
    /// refresh need of this one, without a copy of every process.
    pub fn io_counts(procs: &[Proc], out: &mut IoCounts) {
        out.clear();
        out.extend(
            procs
                .iter()
                .map(|p| ((p.pid, p.start_us), (p.read_bytes, p.written_bytes))),
        );
    }

    /// [`Self::set_rates`] from the counters of the processes `seconds` earlier.
    pub fn set_rates_from(procs: &mut [Proc], before: &IoCounts, seconds: f64) {
        if seconds <= 0.0 {
            return;
        }
        for p in procs {
            let Some(&(read, written)) = before.get(&(p.pid, p.start_us)) else {
                continue;
            };
            let rate = |now: Option<f64>, then: Option<f64>| match (now, then) {
                (Some(n), Some(t)) if n >= t => Some((n - t) / seconds),
                _ => None,
            };
            p.read_per_sec = rate(p.read_bytes, read);
            p.write_per_sec = rate(p.written_bytes, written);
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
    /// Read only while their panes are shown.
    pub cgroups: Loaded<Vec<Cgroup>>,
    /// Listening TCP and bound UDP sockets (`system_sockets(kind := 'listening')`).
    pub sockets: Loaded<Rows>,
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
            cgroups: Loaded::Unread,
            sockets: Loaded::Unread,
            history: History::default(),
        }
    }
}

unsafe extern "C" {
    /// POSIX `tzset(3)` (the `libc` crate does not declare it): reads `TZ` into the C
    /// library's zone state.
    fn tzset();
}

/// How times are shown and read: in the local time zone (`TZ`, else `/etc/localtime`, as
/// top and below show them), or in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    Local,
    Utc,
}

/// A wall-clock time broken down: the fields, the offset east of UTC and the zone's name.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Civil {
    y: i64,
    mo: i64,
    d: i64,
    h: i64,
    mi: i64,
    s: i64,
    offset_s: i64,
    name: String,
}

fn utc_civil(secs: i64) -> Civil {
    let day = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    let (y, mo, d) = sysmon_store::layout::civil_from_days(day);
    Civil {
        y,
        mo: mo.into(),
        d: d.into(),
        h: s / 3600,
        mi: s / 60 % 60,
        s: s % 60,
        offset_s: 0,
        name: "UTC".into(),
    }
}

/// `+05:30`-style offset.
fn offset_text(offset_s: i64) -> String {
    let sign = if offset_s < 0 { '-' } else { '+' };
    let a = offset_s.abs();
    format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
}

/// `tzset`, at the first call and then at most once a minute: it (re)reads `TZ` and the zone
/// file, and glibc's `stat`s `/etc/localtime` at every call, while the view asks for the local
/// time a few times a frame. A zone changed on a running host shows within a minute.
fn tzset_now_and_then() {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(60)) {
        return;
    }
    // SAFETY: `tzset` takes no arguments and only (re)reads `TZ` into the C library's state.
    unsafe { tzset() };
    *last = Some(std::time::Instant::now());
}

impl Zone {
    /// The local zone's fields at `secs` since the epoch, through the C library's
    /// `localtime_r` (which reads `TZ`); UTC where it fails.
    fn civil(self, secs: i64) -> Civil {
        if self == Zone::Utc {
            return utc_civil(secs);
        }
        let t: libc::time_t = secs;
        // SAFETY: an all-zero `tm` is a valid value of the plain C struct (its `tm_zone`
        // pointer null), and `localtime_r` only writes it.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        tzset_now_and_then();
        // SAFETY: both pointers are to live locals; `localtime_r` is the reentrant form and
        // returns null on failure, in which case `tm` is not used.
        if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
            return utc_civil(secs);
        }
        let name = match tm.tm_zone.is_null() {
            true => String::new(),
            // SAFETY: a non-null `tm_zone` set by `localtime_r` points to a NUL-terminated
            // abbreviation in the C library's zone data, alive until `TZ` changes; it is
            // copied at once.
            false => unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
                .to_string_lossy()
                .into_owned(),
        };
        Civil {
            y: i64::from(tm.tm_year) + 1900,
            mo: i64::from(tm.tm_mon) + 1,
            d: tm.tm_mday.into(),
            h: tm.tm_hour.into(),
            mi: tm.tm_min.into(),
            s: tm.tm_sec.into(),
            offset_s: tm.tm_gmtoff,
            name,
        }
    }

    /// The zone's name at `us`: its abbreviation (`CET`, `UTC`), or the offset from UTC
    /// (`UTC+05:30`) where it has none made of letters.
    pub fn name(self, us: i64) -> String {
        let c = self.civil(us.div_euclid(1_000_000));
        match !c.name.is_empty() && c.name.chars().all(|ch| ch.is_ascii_alphabetic()) {
            true => c.name,
            false if c.offset_s == 0 => "UTC".into(),
            false => format!("UTC{}", offset_text(c.offset_s)),
        }
    }

    /// `YYYY-MM-DD HH:MM:SS` of a time in microseconds since the epoch, in this zone.
    pub fn format(self, us: i64) -> String {
        let c = self.civil(us.div_euclid(1_000_000));
        format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", c.y, c.mo, c.d, c.h, c.mi, c.s)
    }

    /// [`Self::format`] with milliseconds (a replay's cursor, whose samples may be 200 ms apart).
    pub fn format_ms(self, us: i64) -> String {
        format!("{}.{:03}", self.format(us), us.rem_euclid(1_000_000) / 1000)
    }

    /// `HH:MM:SS` in this zone.
    pub fn clock(self, us: i64) -> String {
        let c = self.civil(us.div_euclid(1_000_000));
        format!("{:02}:{:02}:{:02}", c.h, c.mi, c.s)
    }

    /// Seconds since the epoch of a wall-clock time in this zone (`mktime`, which picks
    /// summer or winter time itself; a time skipped by a change is moved past it).
    fn epoch_of(self, day: i64, h: i64, m: i64, s: i64) -> Option<i64> {
        let utc = day * 86_400 + h * 3600 + m * 60 + s;
        if self == Zone::Utc {
            return Some(utc);
        }
        let (y, mo, d) = sysmon_store::layout::civil_from_days(day);
        // SAFETY: as in `civil`: a zeroed `tm` is valid.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        tm.tm_year = i32::try_from(y - 1900).ok()?;
        tm.tm_mon = i32::try_from(mo).ok()? - 1;
        tm.tm_mday = i32::try_from(d).ok()?;
        tm.tm_hour = i32::try_from(h).ok()?;
        tm.tm_min = i32::try_from(m).ok()?;
        tm.tm_sec = i32::try_from(s).ok()?;
        tm.tm_isdst = -1;
        // SAFETY: `tzset` only reads `TZ`; `mktime` reads and normalises the live local `tm`.
        let t = unsafe {
            tzset();
            libc::mktime(&mut tm)
        };
        (t != -1).then_some(t)
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in microseconds since the epoch.
pub fn format_ts(us: i64) -> String {
    Zone::Utc.format(us)
}

/// Parses a time in `zone` (the local one: as the screen shows times): `YYYY-MM-DD HH:MM[:SS]`
/// or `YYYY-MM-DDTHH:MM[:SS]`, a date alone (midnight), either ending in `Z` or ` UTC` (UTC)
/// or an offset (`+01:00`, `-0500`); or a duration before `newest_us` (`-5m`, `-2h`, `-1d`,
/// `-30s`: one unit).
/// The shortest refresh: a process snapshot takes a few ms on a busy host.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The longest: a day (beyond, the wait's deadline would leave `Instant`'s range).
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

/// A refresh interval as `--interval` and `d` take it: `1s`, `500ms`, `1.5s`, `2m`, `1h`, `2`
/// (seconds), from 100ms to a day.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("'{text}' is not a duration such as 1s, 500ms or 2m");
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    match Duration::try_from_secs_f64(n * secs) {
        Ok(d) if d < MIN_INTERVAL => Err(format!("'{text}': the interval is at least 100ms")),
        Ok(d) if d <= MAX_INTERVAL => Ok(d),
        _ => Err(format!("'{text}': the interval is at most a day (24h, 1440m)")),
    }
}

pub fn parse_time(text: &str, newest_us: i64, zone: Zone) -> Result<i64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "'{text}' is not a time such as '2026-12-06 03:12' ({}), '2026-12-06T03:12:00Z' (UTC) or '-5m'",
            match zone {
                Zone::Local => "local time",
                Zone::Utc => "UTC",
            }
        )
    };
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
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm.trim()),
        None => (t, ""),
    };
    // The zone the text names, if any: `Z`, `UTC`, or an offset after the time.
    let (time, offset_s): (&str, Option<i64>) = if let Some(x) = time.strip_suffix('Z') {
        (x, Some(0))
    } else if let Some(x) = time.strip_suffix("UTC") {
        (x.trim_end(), Some(0))
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (x, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let hh: i64 = digits[..2].parse().map_err(|_| bad())?;
        let mm: i64 = digits[2..].parse().map_err(|_| bad())?;
        if hh > 23 || mm > 59 {
            return Err(bad());
        }
        (x.trim_end(), Some(sign * (hh * 3600 + mm * 60)))
    } else {
        (time, None)
    };
    let day = sysmon_store::layout::parse_date(date).ok_or_else(bad)?;
    let time = if time.is_empty() { "00:00" } else { time };
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
    let secs = match offset_s {
        Some(off) => Zone::Utc.epoch_of(day, h, m, s).ok_or_else(bad)? - off,
        None => zone.epoch_of(day, h, m, s).ok_or_else(bad)?,
    };
    Ok(secs * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_from_100ms_to_a_day() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval(" 2s "), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_interval("1440m"), Ok(MAX_INTERVAL));
        assert!(parse_interval("10ms").unwrap_err().contains("at least 100ms"));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        for huge in ["1441m", "25h", "10000000000000000000", "99999999999999999999999m"] {
            assert!(parse_interval(huge).unwrap_err().contains("at most a day"), "{huge}");
        }
        for bad in ["", "s", "fast", "1d", "1e400", "-1s", "1..2s", "NaN"] {
            assert!(parse_interval(bad).unwrap_err().contains("is not a duration"), "{bad}");
        }
    }

    #[test]
    fn times() {
        let u = Zone::Utc;
        let t = parse_time("2026-12-06 03:12", 0, u).unwrap();
        assert_eq!(format_ts(t), "2026-12-06 03:12:00");
        assert_eq!(
            parse_time("2026-12-06T03:12:09Z", 0, u).map(format_ts).unwrap(),
            "2026-12-06 03:12:09"
        );
        assert_eq!(parse_time("-5m", 600_000_000, u).unwrap(), 300_000_000);
        assert_eq!(
            parse_time("2026-12-06", 0, u).map(format_ts).unwrap(),
            "2026-12-06 00:00:00"
        );
        assert_eq!(
            parse_time("2026-12-06 05:12:09+02:00", 0, u).map(format_ts).unwrap(),
            "2026-12-06 03:12:09"
        );
        assert_eq!(
            parse_time("2026-12-06T00:12-0300", 0, u).map(format_ts).unwrap(),
            "2026-12-06 03:12:00"
        );
        assert_eq!(
            parse_time("2026-12-06 03:12 UTC", 0, Zone::Local)
                .map(format_ts)
                .unwrap(),
            "2026-12-06 03:12:00",
            "UTC named: whatever the local zone"
        );
        assert!(parse_time("yesterday", 0, u).is_err());
        assert!(parse_time("2026-12-06 25:00", 0, u).is_err());
        assert!(parse_time("2026-12-06 03:00+2", 0, u).is_err());
        assert_eq!(Zone::Utc.name(0), "UTC");
    }

    /// The local zone follows `TZ`: run in a child process of this test binary with `TZ` set
    /// (a POSIX zone string, so no zone database is needed), the rest of the tests keeping
    /// theirs.
    #[test]
    fn local_time_follows_tz() {
        if std::env::var_os("SYSMON_VIEW_TZ_CHILD").is_some() {
            // 2026-12-06 03:12:00 UTC.
            let t = 1_796_526_720_000_000;
            assert_eq!(Zone::Local.format(t), "2026-12-06 08:42:00", "5:30 east of UTC");
            assert_eq!(Zone::Local.name(t), "IST");
            assert_eq!(parse_time("2026-12-06 08:42", 0, Zone::Local), Ok(t));
            assert_eq!(
                parse_time("2026-12-06", 0, Zone::Local).map(format_ts).unwrap(),
                "2026-12-05 18:30:00"
            );
            return;
        }
        for (tz, test) in [
            ("IST-5:30", "data::tests::local_time_follows_tz"),
            ("CET-1CEST,M3.5.0,M10.5.0/3", "data::tests::summer_time_child"),
        ] {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture", "--test-threads=1"])
                .env("SYSMON_VIEW_TZ_CHILD", "1")
                .env("TZ", tz)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("1 passed"),
                "{tz}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn summer_time_child() {
        if std::env::var_os("SYSMON_VIEW_TZ_CHILD").is_none() {
            return;
        }
        let winter = parse_time("2026-12-06 12:00", 0, Zone::Utc).unwrap();
        let summer = parse_time("2026-07-06 12:00", 0, Zone::Utc).unwrap();
        assert_eq!(
            (Zone::Local.name(winter), Zone::Local.format(winter)),
            ("CET".into(), "2026-12-06 13:00:00".into())
        );
        assert_eq!(
            (Zone::Local.name(summer), Zone::Local.format(summer)),
            ("CEST".into(), "2026-07-06 14:00:00".into())
        );
        assert_eq!(parse_time("2026-07-06 14:00", 0, Zone::Local), Ok(summer));
        assert_eq!(parse_time("2026-12-06 13:00", 0, Zone::Local), Ok(winter));
    }

    #[test]
    fn rates_follow_the_same_process() {
        let p = |pid, start, read| Proc {
            pid,
            ppid: None,
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
