//! The live source: the same readers and the same table code as the SQL functions
//! (`system_metrics()` and the others, through [`Table::rows`]), on a [`LiveState`] of this
//! process. No DuckDB.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sysmon_kernel::procfs::Roots;
use sysmon_kernel::procfs::pid::{self, PidDir};
use sysmon_kernel::readers::processes::IoReuse;
use sysmon_kernel::readers::signal::{SignalError, signal_process};
use sysmon_kernel::sample::HostSample;
use sysmon_live::LiveState;
use sysmon_live::ring::Window;
use sysmon_tables::cgroups::Cgroups;
use sysmon_tables::cpus::Cpus;
use sysmon_tables::disks::{Disks, DisksOptions};
use sysmon_tables::filesystems::Filesystems;
use sysmon_tables::metrics::Metrics;
use sysmon_tables::networks::Networks;
use sysmon_tables::pressure::Pressure;
use sysmon_tables::processes::{Processes, ProcessesOptions, ProcessesRow};
use sysmon_tables::schema::Row as _;
use sysmon_tables::sockets::{SocketKind, Sockets, SocketsOptions};
use sysmon_tables::{HostWindow, Input, Now, ProcessWindow, Projection, Table};

use crate::app::Pane;
use crate::data::{Cgroup, Frame, HISTORY_SECONDS, History, Loaded, Proc, Rows, Stretch};

/// The process columns read at every refresh (so the reader opens only `stat`, `statm` and
/// `io`). A process's user and command line do not change often enough to read them every
/// second: they are read once per process (pid and start time) with the same kernel readers,
/// and kept while it lives ([`Identity`]).
const PROCESS_COLUMNS: &[&str] = &[
    "pid",
    "ppid",
    "name",
    "state",
    "start_time",
    "threads",
    "cpu_pct",
    "rss_bytes",
    "mem_pct",
    "read_bytes",
    "written_bytes",
];

/// The longest a process not shown goes without its `io` read again (see [`IoReuse`]): what
/// it did in less than a clock tick of CPU time shows within this.
const IO_MAX_AGE: Duration = Duration::from_secs(10);

/// Whose `io` a refresh reads again: every process's (sorted by I/O), or the processes shown
/// and those that ran since their last read (see [`IoReuse`]). `io` is a third of the
/// process files a refresh reads, and most processes of a quiet host sleep through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoWanted {
    All,
    Shown(HashSet<i32>),
}

/// What is read once per process: its user and command line.
#[derive(Clone, Debug)]
struct Identity {
    user: Option<String>,
    /// `None`: unreadable (the process exited); the name in brackets is shown.
    command: Option<String>,
}

/// Reads `/proc/<pid>/status` (the effective uid, as `system_processes().user`) and `cmdline`.
fn read_identity(state: &LiveState, pid: i64, buf: &mut Vec<u8>) -> Identity {
    let mut id = Identity {
        user: None,
        command: None,
    };
    let Ok(dir) = PidDir::open(&state.roots().proc.join(pid.to_string())) else {
        return id;
    };
    if dir.read(c"status", buf).is_ok()
        && let Some(uid) = pid::parse_status_euid(&String::from_utf8_lossy(buf))
    {
        id.user = state.user_name(uid);
    }
    if dir.read(c"cmdline", buf).is_ok() {
        let args = pid::parse_cmdline(buf);
        id.command = (!args.is_empty()).then(|| args.join(" "));
    }
    id
}

/// At most this many `/proc/<pid>` files kept open between refreshes (each holds a page of
/// kernel memory: 4 MiB at most), or half the descriptor limit if that is lower.
const KEEP_OPEN_MAX: usize = 1024;

/// The [`ProcessCollector::keep_open`] budget: [`KEEP_OPEN_MAX`], or half the soft limit on
/// open descriptors where that is lower (the other half for the terminal, the readers of the
/// panes and whatever a limit set low was set for).
///
/// [`ProcessCollector::keep_open`]: sysmon_kernel::readers::processes::ProcessCollector::keep_open
fn keep_open_budget() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` into the one passed.
    let soft = match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
        0 => usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX),
        _ => 0,
    };
    KEEP_OPEN_MAX.min(soft / 2)
}

pub struct LiveSource {
    state: LiveState,
    interval: Duration,
    prev_host: Arc<HostSample>,
    io_seen: IoSeen,
    columns: Vec<usize>,
    /// The cgroups of the previous refresh, while their pane is shown (for the rates).
    prev_cgroups: Option<(Instant, Vec<Cgroup>)>,
    /// By process (pid, start): its identity and the refresh that last saw it.
    identities: HashMap<(i64, Option<i64>), (Identity, u64)>,
    refreshes: u64,
    buf: Vec<u8>,
    /// The sparklines' pairs of samples of the previous refresh.
    history: Vec<KeptStretch>,
    frame: Frame,
}

impl LiveSource {
    /// A source on the host's `/proc` and `/sys` (or `roots`), refreshed every `interval`.
    pub fn new(roots: Roots, interval: Duration) -> io::Result<LiveSource> {
        let state = LiveState::new(roots);
        state.process_collector().keep_open(keep_open_budget());
        // No screen shows the TCP and UDP counters.
        state.host_collector().skip_snmp();
        let prev_host = state.sample_now()?;
        let columns = PROCESS_COLUMNS
            .iter()
            .filter_map(|c| ProcessesRow::TABLE.column_index(c))
            .collect();
        Ok(LiveSource {
            state,
            interval,
            prev_host,
            io_seen: HashMap::new(),
            columns,
            prev_cgroups: None,
            identities: HashMap::new(),
            refreshes: 0,
            buf: Vec::new(),
            history: Vec::new(),
            frame: Frame::empty(),
        })
    }

    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// `d`: refreshes every `interval` from now on (the processes' window follows it).
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// `k`: sends `signal` to process `pid` if it is still the one that started at
    /// `started_us` (the start time of the row shown, worked out from the same `btime`), never
    /// to a process that took the pid since ([`signal_process`]).
    pub fn signal(&self, pid: i64, signal: i32, started_us: Option<i64>) -> Result<(), SignalError> {
        let boot_time = self.state.process_collector().boot_time();
        let started = started_us.map(sysmon_kernel::time::Timestamp::from_micros);
        signal_process(self.state.roots(), boot_time, pid, started, signal)
    }

    /// The newest frame, moved out (the next refresh makes a new one).
    pub fn take_frame(&mut self) -> Frame {
        std::mem::replace(&mut self.frame, Frame::empty())
    }

    /// Takes a new sample: every table's rows since the previous one. Filesystems (a
    /// `statvfs` per mount), cgroups (a walk of the cgroup trees) and sockets (a scan of every
    /// process's descriptors) only while their pane is shown.
    ///
    /// `io` is read again for the processes `io` asks for (the rows of the screen) and those
    /// that ran since their last read; a process's rates are over the time between its reads,
    /// and 0 where it has not run since (its counters are charged while it runs).
    pub fn refresh(&mut self, pane: Pane, io: &IoWanted) -> io::Result<&Frame> {
        let now = self.state.sample_now()?;
        let input = HostWindow {
            base: std::mem::replace(&mut self.prev_host, now.clone()),
            now,
        };
        let state = &self.state;
        let f = &mut self.frame;
        f.metrics = Rows::from_rows(&Metrics::rows(&input, state, &())?);
        f.cpus = Rows::from_rows(&Cpus::rows(&input, state, &())?);
        f.disks = Rows::from_rows(&Disks::rows(&input, state, &DisksOptions::default())?);
        f.networks = Rows::from_rows(&Networks::rows(&input, state, &())?);
        f.pressure = Rows::from_rows(&Pressure::rows(&input, state, &())?);
        f.filesystems = match pane {
            Pane::Filesystems => Some(Rows::from_rows(&Filesystems::rows(&Now, state, &Default::default())?)),
            _ => None,
        };
        f.cgroups = match pane {
            Pane::Cgroups => {
                let at = Instant::now();
                match Cgroups::rows(&Now, state, &()) {
                    Ok(rows) => {
                        let mut now = Cgroup::from_rows(&Rows::from_rows(&rows));
                        if let Some((then, before)) = &self.prev_cgroups {
                            Cgroup::set_rates(&mut now, before, at.duration_since(*then).as_secs_f64());
                        }
                        self.prev_cgroups = Some((at, now.clone()));
                        Loaded::Ready { at_us: None, rows: now }
                    }
                    Err(e) => Loaded::Missing(e.to_string()),
                }
            }
            _ => {
                self.prev_cgroups = None;
                Loaded::Unread
            }
        };
        f.sockets = match pane {
            Pane::Sockets => {
                let opts = SocketsOptions {
                    kind: SocketKind::Listening,
                };
                match Sockets::rows(&Projection { columns: None }, state, &opts) {
                    Ok(rows) => Loaded::Ready {
                        at_us: None,
                        rows: Rows::from_rows(&rows),
                    },
                    Err(e) => Loaded::Missing(e.to_string()),
                }
            }
            _ => Loaded::Unread,
        };
        f.ts_us = f.metrics.get(0, "ts").i64();
        // Against the snapshot of the previous refresh (a window a little shorter than the
        // interval, so that one is always old enough).
        let window = Window::Exactly(self.interval.mul_f64(0.8).max(Duration::from_millis(10)));
        state.process_collector().reuse_io(Some(match io {
            IoWanted::All => IoReuse {
                always: HashSet::new(),
                max_age: Duration::ZERO,
            },
            IoWanted::Shown(pids) => IoReuse {
                always: pids.clone(),
                max_age: IO_MAX_AGE,
            },
        }));
        let pw = ProcessWindow::live(state, window, &self.columns)?;
        let rows = Processes::rows(&pw, state, &ProcessesOptions::default())?;
        let mut procs = Proc::from_processes_rows(rows);
        self.refreshes += 1;
        let this = self.refreshes;
        for p in &mut procs {
            let (id, seen) = self
                .identities
                .entry((p.pid, p.start_us))
                .or_insert_with(|| (read_identity(state, p.pid, &mut self.buf), this));
            *seen = this;
            p.user.clone_from(&id.user);
            if let Some(c) = &id.command {
                p.command.clone_from(c);
            }
        }
        // The processes gone since the previous refresh.
        self.identities.retain(|_, (_, seen)| *seen == this);
        set_io_rates(state, &mut self.io_seen, &mut procs);
        f.procs = Some(procs);
        f.procs_ts_us = None;
        f.history = ring_history_kept(
            &self.state.recent_host_samples(Duration::from_secs_f64(HISTORY_SECONDS)),
            &mut self.history,
        );
        Ok(&self.frame)
    }
}

/// By process (pid, start): its I/O counters as last read, and when they were read.
type IoSeen = HashMap<(i64, Option<i64>), (Option<f64>, Option<f64>, Instant)>;

/// Each process's read and write rates, from its counters at its previous read (`seen`, then
/// replaced by this refresh's) and now.
fn set_io_rates(state: &LiveState, io_seen: &mut IoSeen, procs: &mut [Proc]) {
    let collector = state.process_collector();
    let mut seen = HashMap::with_capacity(procs.len());
    for p in procs.iter_mut() {
        let Some(at) = i32::try_from(p.pid).ok().and_then(|pid| collector.io_read_at(pid)) else {
            continue;
        };
        let key = (p.pid, p.start_us);
        if let Some(&(read, written, then)) = io_seen.get(&key) {
            let secs = at.saturating_duration_since(then).as_secs_f64();
            let rate = |now: Option<f64>, before: Option<f64>| match (now, before) {
                (Some(n), Some(b)) if n >= b && secs > 0.0 => Some((n - b) / secs),
                // Not read again: it has not run since its last read.
                (Some(n), Some(b)) if n == b => Some(0.0),
                _ => None,
            };
            p.read_per_sec = rate(p.read_bytes, read);
            p.write_per_sec = rate(p.written_bytes, written);
        }
        seen.insert(key, (p.read_bytes, p.written_bytes, at));
    }
    *io_seen = seen;
}

/// The sparklines' stretches from the live ring's host samples (oldest first): each pair of
/// neighbours, through `system_metrics()`'s own row.
pub fn ring_history(samples: &[Arc<HostSample>]) -> History {
    ring_history_kept(samples, &mut Vec::new())
}

/// One pair of neighbouring samples' values, kept from one refresh to the next: the same two
/// samples give the same values, so each pair is worked out once, not once per refresh (up to
/// [`HISTORY_SECONDS`] pairs).
#[derive(Clone, Copy, Debug)]
pub struct KeptStretch {
    from: Instant,
    to: Instant,
    cpu_pct: Option<f64>,
    mem_pct: Option<f64>,
    net_bytes_per_sec: Option<f64>,
}

fn stretch_values(a: &HostSample, b: &HostSample) -> KeptStretch {
    let m = sysmon_tables::metrics::row(a, b);
    let secs = b.instant.saturating_duration_since(a.instant).as_secs_f64();
    let net = match (net_bytes(a), net_bytes(b)) {
        (Some(x), Some(y)) if y >= x && secs > 0.0 => Some((y - x) as f64 / secs),
        _ => None,
    };
    KeptStretch {
        from: a.instant,
        to: b.instant,
        cpu_pct: m.cpu.cpu_busy_pct,
        mem_pct: match (m.mem_used_bytes, m.mem_total_bytes) {
            (Some(u), Some(t)) if t > 0 => Some(u as f64 / t as f64 * 100.0),
            _ => None,
        },
        net_bytes_per_sec: net,
    }
}

/// [`ring_history`], with the values of the pairs `kept` from the previous call (oldest first)
/// reused, and `kept` replaced by this call's.
pub fn ring_history_kept(samples: &[Arc<HostSample>], kept: &mut Vec<KeptStretch>) -> History {
    let Some(newest) = samples.last() else {
        kept.clear();
        return History::default();
    };
    let ago = |t: Instant| newest.instant.saturating_duration_since(t).as_secs_f64();
    let mut old = std::mem::take(kept).into_iter().peekable();
    let mut stretches = Vec::with_capacity(samples.len().saturating_sub(1));
    for w in samples.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        while old.next_if(|k| k.from < a.instant).is_some() {}
        let v = match old.next_if(|k| k.from == a.instant && k.to == b.instant) {
            Some(k) => k,
            None => stretch_values(a, b),
        };
        kept.push(v);
        stretches.push(Stretch {
            from_ago_s: ago(v.from),
            to_ago_s: ago(v.to),
            cpu_pct: v.cpu_pct,
            mem_pct: v.mem_pct,
            net_bytes_per_sec: v.net_bytes_per_sec,
        });
    }
    History { stretches }
}

/// Received plus sent bytes over the physical interfaces (all but `lo` where none is
/// physical, as [`net_rate`]); `None` without `/proc/net/dev`.
fn net_bytes(s: &HostSample) -> Option<u64> {
    if s.nets.is_empty() {
        return None;
    }
    let physical = s.net_is_physical.iter().any(|p| *p);
    Some(
        s.nets
            .iter()
            .zip(s.net_is_physical.iter().chain(std::iter::repeat(&false)))
            .filter(|(n, p)| if physical { **p } else { n.name != "lo" })
            .map(|(n, _)| n.rx_bytes.saturating_add(n.tx_bytes))
            .fold(0u64, u64::saturating_add),
    )
}

/// Used memory, percent of the total.
pub fn mem_pct(m: &Rows, row: usize) -> Option<f64> {
    let total = m.f64(row, "mem_total_bytes").filter(|t| *t > 0.0)?;
    Some(m.f64(row, "mem_used_bytes")? / total * 100.0)
}

/// Received plus sent over the physical interfaces (all of them where none is physical).
pub fn net_rate(n: &Rows) -> Option<f64> {
    let physical: Vec<usize> = (0..n.len())
        .filter(|&i| n.get(i, "is_physical").bool() == Some(true))
        .collect();
    let rows: Vec<usize> = match physical.is_empty() {
        true => (0..n.len()).filter(|&i| n.str(i, "interface") != Some("lo")).collect(),
        false => physical,
    };
    let mut sum = None;
    for i in rows {
        for c in ["rx_bytes_per_sec", "tx_bytes_per_sec"] {
            if let Some(v) = n.f64(i, c) {
                sum = Some(sum.unwrap_or(0.0) + v);
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_the_ring_s_neighbouring_samples() {
        let mut c = sysmon_kernel::sample::Collector::new(Roots::test_fixture("modern"));
        let a = c.sample().unwrap();
        let mut b = a.clone();
        b.instant += Duration::from_secs(2);
        let t = b.stat.total.as_mut().unwrap();
        t.user += 50;
        t.idle += 150;
        let mut c2 = b.clone();
        c2.instant += Duration::from_secs(1);
        let h = ring_history(&[Arc::new(a.clone()), Arc::new(b.clone()), Arc::new(c2.clone())]);
        assert_eq!(h.stretches.len(), 2);
        let s = h.stretches[0];
        assert_eq!((s.from_ago_s, s.to_ago_s), (3.0, 1.0));
        assert_eq!(s.cpu_pct, Some(25.0));
        assert!(s.mem_pct.is_some_and(|m| m > 0.0 && m < 100.0));
        assert_eq!(s.net_bytes_per_sec, Some(0.0), "the same counters: 0 bytes/s, measured");
        assert_eq!(h.stretches[1].cpu_pct, None, "no tick in the window: no percentage");
        assert!(ring_history(&[]).stretches.is_empty());
        // Kept from one call to the next: the same stretches, and a new sample's pair added.
        let (a, b, c2) = (Arc::new(a), Arc::new(b), Arc::new(c2));
        let mut kept = Vec::new();
        let first = ring_history_kept(&[a.clone(), b.clone()], &mut kept);
        assert_eq!(first.stretches, ring_history(&[a.clone(), b.clone()]).stretches);
        let mut d = (*c2).clone();
        d.instant += Duration::from_secs(1);
        let d = Arc::new(d);
        let samples = [b.clone(), c2.clone(), d.clone()];
        let again = ring_history_kept(&samples, &mut kept);
        assert_eq!(
            again.stretches,
            ring_history(&samples).stretches,
            "the oldest dropped, the newest added"
        );
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn fixture_host_fills_every_table() {
        let mut src = LiveSource::new(Roots::test_fixture("modern"), Duration::from_millis(20)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let f = src.refresh(Pane::Filesystems, &IoWanted::All).unwrap();
        assert_eq!(f.metrics.len(), 1);
        assert!(
            f.filesystems.is_some() && f.cgroups.is_unread() && f.sockets.is_unread(),
            "only the pane shown"
        );
        assert!(!f.history.stretches.is_empty(), "from the ring: {:?}", f.history);
        assert!(!f.cpus.is_empty());
        assert!(f.procs.as_ref().is_some_and(|p| !p.is_empty()));
        assert!(f.ts_us.is_some());
        // User and command line, read once per process, are there.
        let procs = f.procs.clone().unwrap();
        assert!(procs.iter().any(|p| p.user.is_some()), "{procs:?}");
        assert!(procs.iter().any(|p| !p.command.starts_with('[')), "{procs:?}");
        // The rows made straight from the table's are those of its `Rows`.
        let window = Window::Exactly(Duration::from_millis(10));
        let pw = ProcessWindow::live(&src.state, window, &src.columns).unwrap();
        let rows = Processes::rows(&pw, &src.state, &ProcessesOptions::default()).unwrap();
        assert!(!rows.is_empty());
        assert_eq!(
            Proc::from_processes_rows(rows.clone()),
            Proc::from_rows(&Rows::from_rows(&rows))
        );
        let again = src
            .refresh(Pane::Processes, &IoWanted::Shown(HashSet::new()))
            .unwrap()
            .procs
            .clone()
            .unwrap();
        assert_eq!(
            again.iter().map(|p| (&p.user, &p.command)).collect::<Vec<_>>(),
            procs.iter().map(|p| (&p.user, &p.command)).collect::<Vec<_>>(),
            "kept from the first read"
        );
    }
}
