//! The recorder's table registry: which tables it can record, and how their rows are made.
//!
//! Adding a table is one [`TableEntry`] in [`TABLES`]:
//!
//! * `decl`: the table's declaration (`FooRow::TABLE`); its `name` is the folder and the name
//!   accepted in `record_metrics(tables := [...])`;
//! * `cadence`: [`Cadence::Host`] (every `interval`) or [`Cadence::Process`] (every
//!   `process_interval`, for tables whose cost grows with the number of processes or cgroups);
//! * `default`: whether it is recorded when `tables` is not given (the host-level tables);
//! * `source`: how rows are made. [`Source::Host`] is a function of the previous and current
//!   [`HostSample`] (the same pure `rows(base, now)` functions the live tables use), appending
//!   to a [`Batch`]; it runs on the writer thread. [`Source::Snapshot`] is for a table with its
//!   own snapshot type (processes, cgroups): implement [`SnapshotSource`] (a `take` that runs
//!   on the sampling thread, and a `rows(prev, cur, out)` that runs on the writer thread) and
//!   register `Source::Snapshot(erase::<YourSource>)`.

use std::any::Any;
use std::io;
use std::sync::Arc;

use super::columns::Batch;
use crate::host;
use crate::live::{self, lock};
use crate::procfs::Roots;
use crate::procfs::mountinfo::Mount;
use crate::sample::HostSample;
use crate::schema::{Row, TableDecl, Timestamp};
use crate::tables::disks::DiskClasses;
use crate::tables::filesystems::StatGuard;
use crate::tables::processes::{ProcessCollector, ProcessFields, ProcessSnapshot};
use crate::tables::{
    cgroups, cpus, disks, filesystems, gpus, metrics, net_protocols, networks, pressure, processes, sensors,
};

/// How often a table is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cadence {
    /// At every tick of `interval`.
    Host,
    /// At the ticks of the coarser `process_interval`.
    Process,
}

/// A table with its own snapshot, taken on the sampling thread.
pub trait SnapshotSource: Send + 'static {
    type Snap: Send + Sync + 'static;
    /// A new source (opens what it keeps open).
    fn new() -> Self
    where
        Self: Sized;
    /// Takes a snapshot: the reads only, on the sampling thread.
    fn take(&mut self) -> io::Result<Self::Snap>;
    /// The rows for the interval from `prev` to `cur` (`prev` is `cur` for the first one),
    /// on the writer thread.
    fn rows(prev: &Self::Snap, cur: &Self::Snap, out: &mut Batch);
}

/// A snapshot as the recorder's threads pass it around.
pub type AnySnap = Arc<dyn Any + Send + Sync>;

/// A [`SnapshotSource`] with its types erased.
pub struct ErasedSnapshot {
    pub take: Box<dyn FnMut() -> io::Result<AnySnap> + Send>,
    pub rows: fn(&AnySnap, &AnySnap, &mut Batch),
}

/// Erases `S` for [`Source::Snapshot`].
/// The source is created on the first `take`, on the sampling thread, so making an
/// `ErasedSnapshot` just for its `rows` (as the writer thread does) opens nothing.
pub fn erase<S: SnapshotSource>() -> ErasedSnapshot {
    let mut source: Option<S> = None;
    fn rows<S: SnapshotSource>(prev: &AnySnap, cur: &AnySnap, out: &mut Batch) {
        if let (Some(p), Some(c)) = (prev.downcast_ref::<S::Snap>(), cur.downcast_ref::<S::Snap>()) {
            S::rows(p, c, out);
        }
    }
    ErasedSnapshot {
        take: Box::new(move || source.get_or_insert_with(S::new).take().map(|s| Arc::new(s) as AnySnap)),
        rows: rows::<S>,
    }
}

/// How a table's rows are made.
pub enum Source {
    /// From the previous and current host samples, on the writer thread.
    Host(fn(&HostSample, &HostSample, &mut Batch)),
    /// From the table's own snapshots.
    Snapshot(fn() -> ErasedSnapshot),
}

/// One recordable table.
pub struct TableEntry {
    pub decl: &'static TableDecl,
    pub cadence: Cadence,
    pub default: bool,
    pub source: Source,
}

impl std::fmt::Debug for TableEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableEntry")
            .field("name", &self.name())
            .field("cadence", &self.cadence)
            .finish()
    }
}

impl TableEntry {
    pub fn name(&self) -> &'static str {
        self.decl.name
    }
}

fn metrics_rows(prev: &HostSample, cur: &HostSample, out: &mut Batch) {
    out.push(&metrics::row(prev, cur));
}

fn cpus_rows(prev: &HostSample, cur: &HostSample, out: &mut Batch) {
    // Kept-open cpufreq files; /proc/cpuinfo (where there is no cpufreq) at most every
    // `cpus::CPUINFO_MAX_AGE` (see `cpus::FreqReader`).
    static FREQ: std::sync::Mutex<Option<cpus::FreqReader>> = std::sync::Mutex::new(None);
    let mut guard = lock(&FREQ);
    let reader = guard.get_or_insert_with(|| cpus::FreqReader::new(Roots::default()));
    let freq = reader.read(cur.stat.cpus.iter().map(|c| c.cpu));
    drop(guard);
    out.push_all(&cpus::rows(prev, cur, &freq));
}

fn disks_rows(prev: &HostSample, cur: &HostSample, out: &mut Batch) {
    // The sysfs classification of each device is looked up once per name, not per tick.
    static CLASSES: std::sync::Mutex<Option<DiskClasses>> = std::sync::Mutex::new(None);
    let roots = Roots::default();
    let mut guard = lock(&CLASSES);
    let classes = guard.get_or_insert_with(DiskClasses::default);
    out.push_all(&disks::rows(prev, cur, |name| classes.get(&roots, name), true));
}

fn networks_rows(prev: &HostSample, cur: &HostSample, out: &mut Batch) {
    // Each interface's sysfs files kept open (see `networks::LinkReader`).
    static LINKS: std::sync::Mutex<Option<networks::LinkReader>> = std::sync::Mutex::new(None);
    let sys = Roots::default().sys;
    let mut guard = lock(&LINKS);
    let links = guard.get_or_insert_with(networks::LinkReader::default);
    links.retain(cur.nets.iter().map(|n| n.name.as_str()));
    out.push_all(&networks::rows_with(prev, cur, |name| links.read(&sys, name)));
}

fn net_protocols_rows(prev: &HostSample, cur: &HostSample, out: &mut Batch) {
    out.push(&net_protocols::row(prev, cur));
}

fn pressure_rows(prev: &HostSample, cur: &HostSample, out: &mut Batch) {
    out.push_all(&pressure::rows(prev, cur));
}

/// `processes`: every column of the live table (all seven per-pid files), `cpu_pct` over the
/// interval since the previous snapshot; each snapshot also feeds the live table's ring.
struct ProcessSource(ProcessCollector);

impl SnapshotSource for ProcessSource {
    type Snap = ProcessSnapshot;

    fn new() -> Self {
        ProcessSource(ProcessCollector::new(Roots::default()))
    }

    fn take(&mut self) -> io::Result<ProcessSnapshot> {
        let snap = self.0.snapshot(ProcessFields::all())?;
        live::publish_process_times(snap.instant, Arc::new(snap.times()));
        Ok(snap)
    }

    fn rows(prev: &ProcessSnapshot, cur: &ProcessSnapshot, out: &mut Batch) {
        let window = cur.instant.saturating_duration_since(prev.instant);
        out.push_all(&processes::rows(&prev.times(), window, cur, true));
    }
}

/// A table whose rows need no earlier snapshot: the snapshot is the rows.
trait PlainSource: Send + 'static {
    type Row: Row + Send + Sync + 'static;
    fn read() -> io::Result<Vec<Self::Row>>;
}

struct Plain<P>(std::marker::PhantomData<P>);

impl<P: PlainSource> SnapshotSource for Plain<P> {
    type Snap = Vec<P::Row>;

    fn new() -> Self {
        Plain(std::marker::PhantomData)
    }

    fn take(&mut self) -> io::Result<Vec<P::Row>> {
        P::read()
    }

    fn rows(_prev: &Vec<P::Row>, cur: &Vec<P::Row>, out: &mut Batch) {
        out.push_all(cur);
    }
}

struct CgroupsSource;

impl PlainSource for CgroupsSource {
    type Row = cgroups::CgroupsRow;
    fn read() -> io::Result<Vec<Self::Row>> {
        cgroups::collect(&Roots::default(), Timestamp::now(), &host::hostname())
    }
}

/// `filesystems`: the real filesystems (pseudo ones left out, as the live default), each
/// `statvfs` under the same deadline and stuck-mount guard as the live table.
struct FilesystemsSource;

impl PlainSource for FilesystemsSource {
    type Row = filesystems::FilesystemsRow;
    fn read() -> io::Result<Vec<Self::Row>> {
        let text = std::fs::read_to_string(Roots::default().proc("self/mountinfo"))?;
        let mounts = Mount::parse_all(&text);
        Ok(filesystems::rows(
            mounts,
            false,
            StatGuard::global(),
            Timestamp::now(),
            &host::hostname(),
        ))
    }
}

struct SensorsSource;

impl PlainSource for SensorsSource {
    type Row = sensors::SensorsRow;
    fn read() -> io::Result<Vec<Self::Row>> {
        Ok(sensors::collect(&Roots::default(), Timestamp::now(), &host::hostname()))
    }
}

/// `gpus`: through NVML; recorded by default only where a GPU is present (see [`defaults`]).
struct GpusSource;

impl PlainSource for GpusSource {
    type Row = gpus::GpusRow;
    fn read() -> io::Result<Vec<Self::Row>> {
        gpus::collect(Timestamp::now(), &host::hostname()).map_err(io::Error::other)
    }
}

const fn host(decl: &'static TableDecl, default: bool, f: fn(&HostSample, &HostSample, &mut Batch)) -> TableEntry {
    TableEntry {
        decl,
        cadence: Cadence::Host,
        default,
        source: Source::Host(f),
    }
}

/// Every table the recorder can write. By default it records the host-level tables; the
/// per-process and per-cgroup tables, whose cost grows with the processes and cgroups, are
/// recorded when named, at `process_interval`. Filesystems change slowly and are sampled at
/// `process_interval` too.
pub static TABLES: &[TableEntry] = &[
    host(metrics::MetricsRow::TABLE, true, metrics_rows),
    host(cpus::CpusRow::TABLE, true, cpus_rows),
    host(disks::DisksRow::TABLE, true, disks_rows),
    host(networks::NetworksRow::TABLE, true, networks_rows),
    host(net_protocols::NetProtocolsRow::TABLE, true, net_protocols_rows),
    host(pressure::PressureRow::TABLE, true, pressure_rows),
    TableEntry {
        decl: filesystems::FilesystemsRow::TABLE,
        cadence: Cadence::Process,
        default: true,
        source: Source::Snapshot(erase::<Plain<FilesystemsSource>>),
    },
    TableEntry {
        decl: sensors::SensorsRow::TABLE,
        cadence: Cadence::Host,
        default: true,
        source: Source::Snapshot(erase::<Plain<SensorsSource>>),
    },
    TableEntry {
        decl: processes::ProcessesRow::TABLE,
        cadence: Cadence::Process,
        default: false,
        source: Source::Snapshot(erase::<ProcessSource>),
    },
    TableEntry {
        decl: cgroups::CgroupsRow::TABLE,
        cadence: Cadence::Process,
        default: false,
        source: Source::Snapshot(erase::<Plain<CgroupsSource>>),
    },
    TableEntry {
        decl: gpus::GpusRow::TABLE,
        cadence: Cadence::Host,
        default: true,
        source: Source::Snapshot(erase::<Plain<GpusSource>>),
    },
];

/// The entry called `name`.
pub fn find(name: &str) -> Option<&'static TableEntry> {
    TABLES.iter().find(|t| t.name() == name)
}

/// The names accepted in `tables := [...]`, comma-separated, for error messages.
pub fn accepted_names() -> String {
    TABLES.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
}

/// The tables recorded when none are named; `gpus` only where NVML lists a GPU.
pub fn defaults() -> Vec<&'static TableEntry> {
    TABLES
        .iter()
        .filter(|t| t.default && (t.name() != "gpus" || gpus::present()))
        .collect()
}

/// The entries for `names`, in the order given, without repeats; an error naming the first
/// unknown name and listing the accepted ones.
pub fn resolve(names: &[String]) -> Result<Vec<&'static TableEntry>, String> {
    if names.is_empty() {
        return Err(format!(
            "tables must name at least one table; accepted: {}",
            accepted_names()
        ));
    }
    let mut out: Vec<&'static TableEntry> = Vec::new();
    for n in names {
        let bare = n.strip_prefix("system_").unwrap_or(n);
        match find(bare) {
            Some(t) => {
                if !out.iter().any(|o| std::ptr::eq(*o, t)) {
                    out.push(t);
                }
            }
            None => {
                return Err(format!(
                    "tables: unknown table '{n}'; accepted: {} (the live tables' names without 'system_')",
                    accepted_names()
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names() {
        let t = resolve(&["cpus".into(), "metrics".into(), "cpus".into()]).unwrap();
        assert_eq!(t.iter().map(|t| t.name()).collect::<Vec<_>>(), ["cpus", "metrics"]);
        assert_eq!(resolve(&["system_metrics".into()]).unwrap()[0].name(), "metrics");
        let e = resolve(&["bogus".into()]).unwrap_err();
        assert!(e.contains("'bogus'") && e.contains("metrics, cpus, disks"), "{e}");
        assert!(resolve(&[]).is_err());
        let names: Vec<_> = defaults().iter().map(|t| t.name()).collect();
        assert!(names.contains(&"metrics") && !names.contains(&"processes"), "{names:?}");
        assert_eq!(names.contains(&"gpus"), gpus::present(), "{names:?}");
        assert_eq!(resolve(&["gpus".into()]).unwrap()[0].name(), "gpus");
    }

    #[test]
    fn every_table_has_a_ts_and_hostname_column() {
        for t in TABLES {
            assert_eq!(t.decl.column_index("ts"), Some(0), "{}", t.name());
            assert!(t.decl.column_index("hostname").is_some(), "{}", t.name());
        }
    }
}
