//! The tables: one module per SQL table function, each with its row declaration and the code
//! that turns samples into rows.
//!
//! | SQL function | module | recorder folder |
//! |---|---|---|
//! | `system_info()` | [`info`] | (not recorded: static) |
//! | `system_metrics()` | [`metrics`] | `metrics/` |
//! | `system_cpus()` | [`cpus`] | `cpus/` |
//! | `system_disks()` | [`disks`] | `disks/` |
//! | `system_filesystems()` | [`filesystems`] | `filesystems/` |
//! | `system_networks()` | [`networks`] | `networks/` |
//! | `system_net_protocols()` | [`net_protocols`] | `net_protocols/` |
//! | `system_processes()` | [`processes`] | `processes/` |
//! | `system_pressure()` | [`pressure`] | `pressure/` |
//! | `system_sensors()` | [`sensors`] | `sensors/` |
//! | `system_cgroups()` | [`cgroups`] | `cgroups/` |
//! | `system_sockets()` | [`sockets`] | `sockets/` (when named) |
//! | `system_users()` | [`users`] | `users/` (when named) |
//! | `system_gpus()` | [`gpus`] | `gpus/` |
//! | `alert_transitions()` | [`alert_transitions`] | `alerts/` (by an alert's `dir`) |

pub mod alert_transitions;
pub mod cgroups;
pub mod columns;
pub mod cpus;
pub mod disks;
pub mod filesystems;
pub mod function;
pub mod gpus;
pub mod info;
pub mod json;
pub mod metrics;
pub mod net_protocols;
pub mod networks;
pub mod options;
pub mod pressure;
pub mod processes;
pub mod recorded;
pub mod schema;
pub mod sensors;
pub mod sockets;
pub mod users;

use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use options::{OptionArg, OptionParam, OptionType, OptionValue, Options, accepted_values};

use crate::schema::{Row, TableDecl};
use processes::{ProcessFields, ProcessSnapshot, ProcessTimes};
pub use sysmon_kernel::access::HostPath;
use sysmon_kernel::host;
use sysmon_kernel::procfs::stat::CpuTimes;
use sysmon_kernel::sample::HostSample;
use sysmon_live::LiveState;
use sysmon_live::ring::Window;

/// THE registry: every live table, in the README's order, each named once. The SQL
/// registration (`src/functions/mod.rs`), the recorder ([`crate::recorded`]), the
/// docs generator and the tests all iterate it. `for_each_table!(m)` expands to
/// `m! { path::To::Table, ... }`.
#[macro_export]
macro_rules! for_each_table {
    ($m:ident) => {
        $m! {
            $crate::info::Info,
            $crate::metrics::Metrics,
            $crate::cpus::Cpus,
            $crate::disks::Disks,
            $crate::filesystems::Filesystems,
            $crate::networks::Networks,
            $crate::net_protocols::NetProtocols,
            $crate::processes::Processes,
            $crate::pressure::Pressure,
            $crate::sensors::Sensors,
            $crate::cgroups::Cgroups,
            $crate::sockets::Sockets,
            $crate::users::Users,
            $crate::gpus::Gpus,
            $crate::alert_transitions::AlertTransitions,
        }
    };
}

/// One table, as every caller sees it: the SQL function and the recorder make its rows
/// through [`Table::rows`], from an [`Input`] that each gets its own way.
pub trait Table: 'static {
    type Row: Row + Send + Sync + 'static;
    /// What the SQL function's own named parameters set; `Default` is what the recorder uses.
    type Options: Options;
    /// What the rows are made from.
    type Input: Input;
    /// One line: what the SQL function returns (`sysmon_functions()`, the README's function list).
    const SUMMARY: &'static str;
    /// A query to try (`sysmon_functions()`; a test runs every example).
    const EXAMPLE: &'static str;
    /// The host files and directories its rows come from, as absolute paths, beside its
    /// input's [`Input::FILES`] (what `sysmon_functions().reads` lists; each lies inside one of
    /// [`Self::HOST_PATHS`], which a test checks).
    const FILES: &'static [&'static str];
    /// Every host path reading its rows touches, its input's sampling included: under
    /// DuckDB's lockdown the SQL function (and a recorder of the table) is refused unless each
    /// is allowed (see [`sysmon_kernel::access`]).
    const HOST_PATHS: &'static [HostPath];
    fn rows(input: &Self::Input, state: &LiveState, options: &Self::Options) -> io::Result<Vec<Self::Row>>;
}

/// The shortest and longest `"window" := INTERVAL` of a windowed table.
pub const WINDOW_MIN: Duration = Duration::from_millis(10);
pub const WINDOW_MAX: Duration = Duration::from_secs(3600);

/// The host files every table whose [`Input`] is [`HostWindow`] reads: those of one host sample
/// ([`sysmon_kernel::sample::Collector`]), and the sysfs links that tell physical disks and interfaces.
pub const HOST_SAMPLE_PATHS: &[&str] = &[
    "/proc/stat",
    "/proc/meminfo",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/diskstats",
    "/proc/net/dev",
    "/proc/net/snmp",
    "/proc/pressure",
    "/sys/block",
    "/sys/class/net",
];

/// What a table's rows are made from, and how a live query and a recorder tick get it.
pub trait Input: Sized + Send + Sync + 'static {
    /// Whether the SQL function takes `"window" := INTERVAL`.
    const WINDOWED: bool;
    /// Whether [`Table::rows`] reads the host itself (the recorder calls it on its sampling
    /// thread then, and on its writer thread otherwise).
    const READS: bool;
    /// The host files and directories every table of this input reads (beside its own
    /// [`Table::FILES`]).
    const FILES: &'static [&'static str];
    /// Whether [`Input::tick`] empties a queue that only a recorder empties (the alerts'
    /// transitions): the recorder then takes one last tick of the table when it stops, so
    /// nothing queued before the stop is left behind.
    const DRAINED: bool = false;
    /// For a live query over `window` that reads `columns` (declared indices).
    fn live(state: &LiveState, window: Window, columns: &[usize]) -> io::Result<Self>;
    /// For a recorder tick; `prev` is this table's input at its previous tick.
    fn tick(state: &LiveState, tick: &Tick, prev: Option<&Self>) -> io::Result<Self>;
}

/// What a recorder tick gives every table: this tick's host sample and the previous one.
#[derive(Clone, Debug)]
pub struct Tick {
    pub prev_host: Arc<HostSample>,
    pub host: Arc<HostSample>,
    /// The recorder's folder (absolute; an S3 destination's spool): the `alerts` table takes
    /// the transitions queued for it.
    pub dir: Arc<std::path::Path>,
}

/// Two host samples: the window's first and last.
#[derive(Clone, Debug)]
pub struct HostWindow {
    pub base: Arc<HostSample>,
    pub now: Arc<HostSample>,
}

impl Input for HostWindow {
    const WINDOWED: bool = true;
    const READS: bool = false;
    const FILES: &'static [&'static str] = HOST_SAMPLE_PATHS;

    fn live(state: &LiveState, window: Window, _columns: &[usize]) -> io::Result<Self> {
        let (base, now) = state.window_pair(window)?;
        Ok(HostWindow { base, now })
    }

    fn tick(_: &LiveState, tick: &Tick, _prev: Option<&Self>) -> io::Result<Self> {
        Ok(HostWindow {
            base: tick.prev_host.clone(),
            now: tick.host.clone(),
        })
    }
}

/// The processes' CPU times at the window's start, and a snapshot at its end.
#[derive(Clone, Debug)]
pub struct ProcessWindow {
    pub base: Arc<ProcessTimes>,
    pub window: Duration,
    pub now: ProcessSnapshot,
    times: Arc<ProcessTimes>,
}

impl Input for ProcessWindow {
    const WINDOWED: bool = true;
    const READS: bool = false;
    /// Every `/proc/<pid>/` directory, `/proc/stat` (boot time) and `/proc/meminfo`.
    const FILES: &'static [&'static str] = &["/proc"];

    fn live(state: &LiveState, window: Window, columns: &[usize]) -> io::Result<Self> {
        let (base, window, now) = state.process_pair(window, processes::fields_for_columns(columns))?;
        let times = Arc::new(now.times());
        Ok(ProcessWindow {
            base,
            window,
            now,
            times,
        })
    }

    /// Every column; `cpu_pct` over the interval since the table's previous tick.
    fn tick(state: &LiveState, _: &Tick, prev: Option<&Self>) -> io::Result<Self> {
        let (now, times) = state.process_snapshot(ProcessFields::all())?;
        let (base, since) = match prev {
            Some(p) => (p.times.clone(), p.now.instant),
            None => (times.clone(), now.instant),
        };
        Ok(ProcessWindow {
            base,
            window: now.instant.saturating_duration_since(since),
            now,
            times,
        })
    }
}

/// No earlier reading: [`Table::rows`] reads the host when called.
#[derive(Clone, Copy, Debug, Default)]
pub struct Now;

impl Input for Now {
    const WINDOWED: bool = false;
    const READS: bool = true;
    const FILES: &'static [&'static str] = &[];

    fn live(_: &LiveState, _: Window, _: &[usize]) -> io::Result<Self> {
        Ok(Now)
    }

    fn tick(_: &LiveState, _: &Tick, _: Option<&Self>) -> io::Result<Self> {
        Ok(Now)
    }
}

/// No earlier reading, like [`Now`], and the declared columns the query reads, so the rows
/// can skip the costly reads of columns left out (every column for the recorder).
#[derive(Clone, Debug, Default)]
pub struct Projection {
    /// `None`: every column.
    pub columns: Option<Vec<usize>>,
}

impl Projection {
    /// Whether the query reads any of the columns `names` of the table `decl`.
    pub fn reads_any(&self, decl: &TableDecl, names: &[&str]) -> bool {
        match &self.columns {
            None => true,
            Some(cols) => cols
                .iter()
                .filter_map(|&i| decl.columns.get(i))
                .any(|c| names.contains(&c.name)),
        }
    }
}

impl Input for Projection {
    const WINDOWED: bool = false;
    const READS: bool = true;
    const FILES: &'static [&'static str] = &[];

    fn live(_: &LiveState, _: Window, columns: &[usize]) -> io::Result<Self> {
        Ok(Projection {
            columns: Some(columns.to_vec()),
        })
    }

    fn tick(_: &LiveState, _: &Tick, _: Option<&Self>) -> io::Result<Self> {
        Ok(Projection { columns: None })
    }
}

/// A table of the registry, by value.
#[derive(Debug)]
pub struct TableEntry {
    pub decl: &'static TableDecl,
    /// [`Table::HOST_PATHS`].
    pub host_paths: &'static [HostPath],
    /// Makes the recorder's driver of this table (see [`crate::recorded`]).
    pub recorder: fn() -> Box<dyn crate::recorded::RecordedTable>,
    /// Describes its SQL function (see [`function`]).
    pub function: fn() -> function::Function,
}

impl TableEntry {
    pub const fn of<T: Table>() -> TableEntry {
        TableEntry {
            decl: <T::Row as Row>::TABLE,
            host_paths: T::HOST_PATHS,
            recorder: crate::recorded::recorded::<T>,
            function: function::table_function::<T>,
        }
    }
}

macro_rules! entries {
    ($($t:path),* $(,)?) => {
        /// Every table of [`for_each_table!`](crate::for_each_table), in its order.
        pub static ALL: &[TableEntry] = &[$(TableEntry::of::<$t>()),*];
    };
}

crate::for_each_table!(entries);

/// The length of the window from `base` to `now`, in seconds ([`seconds_of`]).
pub fn window_seconds(base: &sysmon_kernel::sample::HostSample, now: &sysmon_kernel::sample::HostSample) -> f64 {
    seconds_of(now.instant.saturating_duration_since(base.instant))
}

/// Sub-second units of [`seconds_of`]: 2²⁰ per second.
pub const WINDOW_UNITS_PER_SEC: u64 = 1 << 20;

/// A window's length in seconds, to the nearest 2⁻²⁰ s (0.95 µs, the resolution of `ts`),
/// exactly: the value is a whole number of 2⁻²⁰ s, so its binary fraction ends after 20 bits.
///
/// Every `window_seconds` column and every rate over a window use it. The monotonic clock's
/// nanoseconds are scheduling jitter below a microsecond; kept, they made `window_seconds` the
/// largest column of `metrics`, `cpus` and `pressure` files (6.1 bytes per row in `metrics`,
/// 15% of the file, one real hour); rounded this way the column's low mantissa bytes are zero
/// and it takes 1.9 (`docs/recorder.md`, round three).
pub fn seconds_of(window: std::time::Duration) -> f64 {
    let units = (window.as_nanos() * u128::from(WINDOW_UNITS_PER_SEC) + 500_000_000) / 1_000_000_000;
    units as f64 / WINDOW_UNITS_PER_SEC as f64
}

crate::declare_columns! {
    /// The CPU columns shared by `system_metrics()` (the whole host) and `system_cpus()` (one
    /// CPU): cumulative times by mode, their shares of the window, and the window's length.
    pub struct CpuColumns {
        /// CPU time in user mode (including guest) since boot.
        cpu_user_seconds: Option<f64> ["seconds"],
        /// CPU time in user mode at low priority (nice > 0, including guest_nice).
        cpu_nice_seconds: Option<f64> ["seconds"],
        /// CPU time in kernel mode.
        cpu_system_seconds: Option<f64> ["seconds"],
        /// CPU time idle.
        cpu_idle_seconds: Option<f64> ["seconds"],
        /// CPU time idle while I/O was outstanding.
        cpu_iowait_seconds: Option<f64> ["seconds"],
        /// CPU time servicing hardware interrupts.
        cpu_irq_seconds: Option<f64> ["seconds"],
        /// CPU time servicing software interrupts.
        cpu_softirq_seconds: Option<f64> ["seconds"],
        /// Time stolen by the hypervisor for other guests.
        cpu_steal_seconds: Option<f64> ["seconds"],
        /// CPU time running guests (already inside cpu_user_seconds).
        cpu_guest_seconds: Option<f64> ["seconds"],
        /// CPU time running niced guests (already inside cpu_nice_seconds).
        cpu_guest_nice_seconds: Option<f64> ["seconds"],
        /// Share of the window the CPUs were busy: 100 − idle − iowait.
        cpu_busy_pct: Option<f64> ["percent"],
        /// Share of the window in user mode (nice excluded).
        cpu_user_pct: Option<f64> ["percent"],
        /// Share of the window in niced user mode.
        cpu_nice_pct: Option<f64> ["percent"],
        /// Share of the window in kernel mode.
        cpu_system_pct: Option<f64> ["percent"],
        /// Share of the window idle.
        cpu_idle_pct: Option<f64> ["percent"],
        /// Share of the window idle with I/O outstanding.
        cpu_iowait_pct: Option<f64> ["percent"],
        /// Share of the window in hardware interrupts.
        cpu_irq_pct: Option<f64> ["percent"],
        /// Share of the window in software interrupts.
        cpu_softirq_pct: Option<f64> ["percent"],
        /// Share of the window stolen by the hypervisor.
        cpu_steal_pct: Option<f64> ["percent"],
        /// Length of the window the `_pct` columns cover (monotonic clock, to 2⁻²⁰ s ≈ 1 µs).
        window_seconds: f64 ["seconds"],
    }
}

impl CpuColumns {
    /// The columns for times `now`, over the window (of `window_seconds`) since `base`.
    pub fn between(base: Option<&CpuTimes>, now: Option<&CpuTimes>, window_seconds: f64) -> CpuColumns {
        let secs = CpuSeconds::from_ticks(now);
        let pct = CpuPct::between(base, now);
        CpuColumns {
            cpu_user_seconds: secs.user,
            cpu_nice_seconds: secs.nice,
            cpu_system_seconds: secs.system,
            cpu_idle_seconds: secs.idle,
            cpu_iowait_seconds: secs.iowait,
            cpu_irq_seconds: secs.irq,
            cpu_softirq_seconds: secs.softirq,
            cpu_steal_seconds: secs.steal,
            cpu_guest_seconds: secs.guest,
            cpu_guest_nice_seconds: secs.guest_nice,
            cpu_busy_pct: pct.busy,
            cpu_user_pct: pct.user,
            cpu_nice_pct: pct.nice,
            cpu_system_pct: pct.system,
            cpu_idle_pct: pct.idle,
            cpu_iowait_pct: pct.iowait,
            cpu_irq_pct: pct.irq,
            cpu_softirq_pct: pct.softirq,
            cpu_steal_pct: pct.steal,
            window_seconds,
        }
    }
}

/// Milliseconds as the kernel counts them, as seconds.
pub fn ms_to_seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The per-second rate of a counter that went from `before` to `after` in `window_seconds`;
/// `None` for an empty window or a counter that went backwards (reset, device re-created).
pub fn rate(before: u64, after: u64, window_seconds: f64) -> Option<f64> {
    if window_seconds <= 0.0 || after < before {
        return None;
    }
    Some((after - before) as f64 / window_seconds)
}

/// Clock ticks as seconds (the fraction kept: 1 tick is 10 ms at `USER_HZ` 100).
pub fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / host::clock_ticks_per_sec() as f64
}

/// Cumulative CPU seconds by mode, `None` where the kernel does not report the mode.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuSeconds {
    pub user: Option<f64>,
    pub nice: Option<f64>,
    pub system: Option<f64>,
    pub idle: Option<f64>,
    pub iowait: Option<f64>,
    pub irq: Option<f64>,
    pub softirq: Option<f64>,
    pub steal: Option<f64>,
    pub guest: Option<f64>,
    pub guest_nice: Option<f64>,
}

impl CpuSeconds {
    pub fn from_ticks(t: Option<&CpuTimes>) -> CpuSeconds {
        let Some(t) = t else { return CpuSeconds::default() };
        let s = |v: Option<u64>| v.map(ticks_to_seconds);
        CpuSeconds {
            user: s(Some(t.user)),
            nice: s(Some(t.nice)),
            system: s(Some(t.system)),
            idle: s(Some(t.idle)),
            iowait: s(t.iowait),
            irq: s(t.irq),
            softirq: s(t.softirq),
            steal: s(t.steal),
            guest: s(t.guest),
            guest_nice: s(t.guest_nice),
        }
    }
}

/// Share of the window spent in each mode, in percent. `None` when the window saw no tick
/// (too short for the kernel's 10 ms resolution) or the mode is not reported.
///
/// The total of a window leaves guest and guest_nice out (already inside user and nice);
/// busy = total − idle − iowait, as top and psutil count it. A counter that went backwards
/// (iowait does on some kernels) counts as no change.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuPct {
    pub busy: Option<f64>,
    pub user: Option<f64>,
    pub nice: Option<f64>,
    pub system: Option<f64>,
    pub idle: Option<f64>,
    pub iowait: Option<f64>,
    pub irq: Option<f64>,
    pub softirq: Option<f64>,
    pub steal: Option<f64>,
}

impl CpuPct {
    pub fn between(base: Option<&CpuTimes>, now: Option<&CpuTimes>) -> CpuPct {
        let (Some(b), Some(n)) = (base, now) else {
            return CpuPct::default();
        };
        let d = |a: u64, b: u64| b.saturating_sub(a);
        let dopt = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let user = d(b.user, n.user);
        let nice = d(b.nice, n.nice);
        let system = d(b.system, n.system);
        let idle = d(b.idle, n.idle);
        let iowait = dopt(b.iowait, n.iowait);
        let irq = dopt(b.irq, n.irq);
        let softirq = dopt(b.softirq, n.softirq);
        let steal = dopt(b.steal, n.steal);
        let total = user
            + nice
            + system
            + idle
            + iowait.unwrap_or(0)
            + irq.unwrap_or(0)
            + softirq.unwrap_or(0)
            + steal.unwrap_or(0);
        if total == 0 {
            return CpuPct::default();
        }
        let pct = |v: u64| Some(100.0 * v as f64 / total as f64);
        let pct_opt = |v: Option<u64>| v.and_then(pct);
        CpuPct {
            busy: pct(total - idle - iowait.unwrap_or(0)),
            user: pct(user),
            nice: pct(nice),
            system: pct(system),
            idle: pct(idle),
            iowait: pct_opt(iowait),
            irq: pct_opt(irq),
            softirq: pct_opt(softirq),
            steal: pct_opt(steal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_units_of_two_to_the_minus_20_seconds() {
        use std::time::Duration;
        assert_eq!(seconds_of(Duration::from_secs(1)), 1.0);
        assert_eq!(seconds_of(Duration::from_millis(500)), 0.5);
        assert_eq!(seconds_of(Duration::ZERO), 0.0);
        let unit = 1.0 / WINDOW_UNITS_PER_SEC as f64;
        assert_eq!(
            seconds_of(Duration::from_nanos(1_000_000_477)),
            1.0 + unit,
            "477 ns rounds up"
        );
        assert_eq!(
            seconds_of(Duration::from_nanos(1_000_000_476)),
            1.0,
            "476 ns rounds down"
        );
        for ns in [1u64, 99_999_999, 1_000_123_456, 3_600_000_000_017, 86_400_000_000_999] {
            let s = seconds_of(Duration::from_nanos(ns));
            let units = s * WINDOW_UNITS_PER_SEC as f64;
            assert_eq!(units, units.round(), "{ns} ns: a whole number of units");
            assert!(
                (s - ns as f64 / 1e9).abs() <= unit / 2.0 + 1e-12,
                "{ns} ns: nearest unit"
            );
        }
    }

    #[test]
    fn every_file_a_table_lists_lies_inside_its_host_paths() {
        // FILES (what sysmon_functions() shows) and HOST_PATHS (what the lockdown checks) are
        // two granularities of one fact: a file outside the checked paths would be read unchecked.
        let roots = sysmon_kernel::procfs::Roots::default();
        for t in ALL {
            let f = (t.function)();
            let inside: Vec<_> = t.host_paths.iter().map(|p| p.path(&roots)).collect();
            for r in &f.reads {
                assert!(
                    inside.iter().any(|p| std::path::Path::new(r).starts_with(p)),
                    "{}: {r} lies outside its HOST_PATHS {:?}",
                    f.name,
                    t.host_paths
                );
            }
        }
    }

    fn times(user: u64, idle: u64, iowait: u64, guest: u64) -> CpuTimes {
        CpuTimes {
            user,
            nice: 0,
            system: 10,
            idle,
            iowait: Some(iowait),
            irq: Some(0),
            softirq: Some(0),
            steal: Some(0),
            guest: Some(guest),
            guest_nice: Some(0),
        }
    }

    #[test]
    fn busy_leaves_out_idle_iowait_and_guest() {
        let a = times(100, 1000, 10, 50);
        let b = times(150, 1040, 20, 90);
        // deltas: user 50, idle 40, iowait 10, system 0; total 100 (guest not added).
        let p = CpuPct::between(Some(&a), Some(&b));
        assert_eq!(p.busy, Some(50.0));
        assert_eq!(p.user, Some(50.0));
        assert_eq!(p.idle, Some(40.0));
        assert_eq!(p.iowait, Some(10.0));
        assert_eq!(p.steal, Some(0.0));
    }

    #[test]
    fn no_tick_means_null_and_backwards_counts_as_zero() {
        let a = times(100, 1000, 10, 0);
        assert_eq!(CpuPct::between(Some(&a), Some(&a)), CpuPct::default());
        let b = times(110, 1010, 5, 0);
        let p = CpuPct::between(Some(&a), Some(&b));
        assert_eq!(p.iowait, Some(0.0));
        assert_eq!(p.busy, Some(50.0));
        assert_eq!(CpuPct::between(None, Some(&a)), CpuPct::default());
    }

    #[test]
    fn seconds_keep_the_fraction() {
        let hz = host::clock_ticks_per_sec() as f64;
        let s = CpuSeconds::from_ticks(Some(&times(1, 3, 0, 0)));
        assert_eq!(s.user, Some(1.0 / hz));
        assert_eq!(s.idle, Some(3.0 / hz));
        assert_eq!(CpuSeconds::from_ticks(None).user, None);
    }

    crate::declare_choice! {
        /// A test choice.
        enum Colour {
            Red = "red",
            DarkBlue = "dark_blue",
        }
    }

    crate::declare_options! {
        /// Test options: a flag and a choice.
        struct TestOptions {
            /// A flag.
            verbose = false,
            /// A choice.
            colour: Colour = Colour::DarkBlue,
        }
    }

    #[test]
    fn options_of_both_kinds() {
        let params = <TestOptions as Options>::PARAMS;
        let names: Vec<_> = params.iter().map(|p| (p.name, p.ty)).collect();
        assert_eq!(
            names,
            [
                ("verbose", OptionType::Boolean),
                ("colour", OptionType::Choice(&["red", "dark_blue"]))
            ]
        );
        let mut o = TestOptions::default();
        assert_eq!(
            params.iter().map(|p| (p.get)(&o)).collect::<Vec<_>>(),
            ["false", "dark_blue"]
        );
        (params[0].set)(&mut o, OptionArg::Bool(true)).unwrap();
        (params[1].set)(&mut o, OptionArg::Text("RED")).unwrap();
        assert_eq!((o.verbose, o.colour), (true, Colour::Red));
        assert_eq!(
            (params[1].set)(&mut o, OptionArg::Text("green")),
            Err("must be 'red' or 'dark_blue'; got 'green'".to_string())
        );
        assert_eq!(
            (params[0].set)(&mut o, OptionArg::Null),
            Err("must be true or false; got NULL".to_string())
        );
        assert_eq!(o.colour, Colour::Red, "a refused value changes nothing");
        assert_eq!(accepted_values(&["a", "b", "c"]), "'a', 'b' or 'c'");
        assert_eq!(accepted_values(&["a"]), "'a'");
    }

    #[test]
    fn every_table_declares_the_host_paths_it_reads() {
        for t in ALL {
            // The one table that reads no host file: the process's own alerts, in memory.
            if t.decl.function == "alert_transitions" {
                assert!(
                    (t.function)().reads.is_empty(),
                    "alert_transitions() reads no host file"
                );
                continue;
            }
            assert!(
                !t.host_paths.is_empty(),
                "{}() declares no HOST_PATHS: under lockdown it would read the host unchecked",
                t.decl.function
            );
        }
    }

    /// docs/security.md's table lists, for each table, exactly the paths it declares.
    #[test]
    fn security_doc_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/security.md");
        let doc = std::fs::read_to_string(path).expect("docs/security.md");
        let table = doc
            .split("<!-- security-table")
            .nth(1)
            .expect("docs/security.md has the security table marker");
        let roots = sysmon_kernel::procfs::Roots::default();
        for t in ALL {
            let name = format!("| `{}()` |", t.decl.function);
            let row = table
                .lines()
                .skip(1)
                .take_while(|l| l.starts_with('|'))
                .find(|l| l.starts_with(&name))
                .unwrap_or_else(|| panic!("docs/security.md's table has no row for {}()", t.decl.function));
            let reads = row.split('|').nth(2).unwrap_or_default();
            let listed: Vec<&str> = reads
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|p| p.starts_with('/'))
                .collect();
            let mut declared: Vec<String> = t
                .host_paths
                .iter()
                .map(|p| p.path(&roots).display().to_string())
                .collect();
            declared.dedup();
            assert_eq!(listed, declared, "docs/security.md's row of {}()", t.decl.function);
        }
    }
}
