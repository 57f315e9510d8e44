//! The live state of a process: every kept-open reader and every ring of recent samples, in
//! one [`LiveState`] built from a [`Roots`].
//!
//! The process object ([`sysmon_core::process`]) owns one; live queries and every recorder of the
//! process share it, so a sample taken by either serves the other's windows. Tests build
//! their own from a fixture tree, with a [`FakeClock`] where they need to control time. It
//! knows nothing of recorders or servers: they are started on it, not kept in it.

pub mod alerts;
pub mod registry;
pub mod ring;
pub mod wait;

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ring::{Ring, Window};
use sysmon_kernel::procfs::Roots;
use sysmon_kernel::procfs::syscalls::UserNames;
use sysmon_kernel::readers::disk_class::DiskClasses;
use sysmon_kernel::readers::freq::FreqReader;
use sysmon_kernel::readers::gpu::GpuReader;
use sysmon_kernel::readers::links::LinkReader;
use sysmon_kernel::readers::processes::{ProcessCollector, ProcessFields, ProcessSnapshot, ProcessTimes};
use sysmon_kernel::readers::sensors::SensorReader;
use sysmon_kernel::readers::stat_guard::{StatGuard, StatPolicy, statvfs};
use sysmon_kernel::sample::{Collector, HostSample};
use sysmon_kernel::sync::lock;

pub use sysmon_kernel::clock::{Clock, FakeClock, SystemClock};

/// Everything a process keeps between queries: readers with open files and caches (NVML
/// among them), the rings windows start from, and the stuck-mount guard.
#[derive(Debug)]
pub struct LiveState {
    roots: Roots,
    clock: Arc<dyn Clock>,
    host: Mutex<Collector>,
    host_ring: Mutex<Ring<HostSample>>,
    processes: Mutex<ProcessCollector>,
    process_ring: Mutex<Ring<ProcessTimes>>,
    freq: Mutex<FreqReader>,
    links: Mutex<LinkReader>,
    sensors: Mutex<SensorReader>,
    disk_classes: Mutex<DiskClasses>,
    gpus: Mutex<GpuReader>,
    stat_guard: Arc<StatGuard>,
    user_names: Arc<Mutex<UserNames>>,
    /// What the running alerts show (written by `sysmon_alert`).
    alerts: alerts::AlertBoard,
    /// Whether `SYSMON_TEST_<NAME>_ROOT` may redirect a table (see [`Self::table_roots`]).
    test_hooks: bool,
}

impl LiveState {
    /// A state reading below `roots`, on the real clock, with the real `statvfs`.
    pub fn new(roots: Roots) -> LiveState {
        let user_names = Arc::new(Mutex::new(UserNames::default()));
        LiveState {
            host: Mutex::new(Collector::new(roots.clone())),
            host_ring: Mutex::new(Ring::default()),
            processes: Mutex::new(ProcessCollector::with_user_names(roots.clone(), user_names.clone())),
            user_names,
            test_hooks: false,
            alerts: alerts::AlertBoard::default(),
            process_ring: Mutex::new(Ring::default()),
            freq: Mutex::new(FreqReader::new(roots.clone())),
            links: Mutex::new(LinkReader::default()),
            sensors: Mutex::new(SensorReader::default()),
            disk_classes: Mutex::new(DiskClasses::default()),
            gpus: Mutex::new(GpuReader::default()),
            stat_guard: StatGuard::new(Arc::new(statvfs), StatPolicy::default()),
            clock: Arc::new(SystemClock),
            roots,
        }
    }

    /// The same state on another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> LiveState {
        self.clock = clock;
        self
    }

    /// The same state with another `statvfs` guard (a stand-in `statvfs`, in tests).
    pub fn with_stat_guard(mut self, guard: Arc<StatGuard>) -> LiveState {
        self.stat_guard = guard;
        self
    }

    /// The same state with another NVML (a fake, in tests).
    pub fn with_gpus(mut self, gpus: GpuReader) -> LiveState {
        self.gpus = Mutex::new(gpus);
        self
    }

    /// The same state whose tables a test may redirect to fixture trees through the
    /// environment (the process's state; see [`Self::table_roots`]).
    pub fn with_test_roots(mut self) -> LiveState {
        self.test_hooks = true;
        self
    }

    /// What the running alerts show: their instances and transitions.
    pub fn alerts(&self) -> &alerts::AlertBoard {
        &self.alerts
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// The roots the table of SQL function `function` reads below: this state's, except in a state made
    /// [`with_test_roots`](Self::with_test_roots) (the process's) when a test asks otherwise: with `SYSMON_TEST_HOOKS=1` and `SYSMON_TEST_<NAME>_ROOT=<dir>` in
    /// the environment at query time (`<NAME>`: the function's name without `system_`, upper
    /// case, as `SYSMON_TEST_USERS_ROOT`), the fixture tree `<dir>` ([`Roots::fixture`]).
    pub fn table_roots(&self, function: &str) -> Roots {
        if self.test_hooks && std::env::var_os("SYSMON_TEST_HOOKS").is_some_and(|v| v == "1") {
            let name = function.trim_start_matches("system_").to_ascii_uppercase();
            if let Some(dir) = std::env::var_os(format!("SYSMON_TEST_{name}_ROOT")) {
                return Roots::fixture(dir);
            }
        }
        self.roots.clone()
    }

    /// The name of user `uid` (`None` if it has none), from the cache every table shares.
    pub fn user_name(&self, uid: u32) -> Option<String> {
        lock(&self.user_names).name(uid)
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn stat_guard(&self) -> &Arc<StatGuard> {
        &self.stat_guard
    }

    /// The cpufreq/cpuinfo reader (see [`FreqReader`]).
    pub fn freq(&self) -> MutexGuard<'_, FreqReader> {
        lock(&self.freq)
    }

    /// The kept-open sysfs files of network interfaces.
    pub fn links(&self) -> MutexGuard<'_, LinkReader> {
        lock(&self.links)
    }

    /// The sensors' kept-open input files, listed again every [`RESCAN`](sysmon_kernel::readers::sensors::RESCAN).
    pub fn sensors(&self) -> MutexGuard<'_, SensorReader> {
        lock(&self.sensors)
    }

    /// The sysfs class of each block device, looked up once per name.
    pub fn disk_classes(&self) -> MutexGuard<'_, DiskClasses> {
        lock(&self.disk_classes)
    }

    /// NVML, opened once and initialised when it first succeeds (see [`GpuReader`]).
    pub fn gpus(&self) -> MutexGuard<'_, GpuReader> {
        lock(&self.gpus)
    }

    /// Takes a fresh host sample and keeps it in the ring.
    pub fn sample_now(&self) -> io::Result<Arc<HostSample>> {
        let mut sample = lock(&self.host).sample()?;
        sample.instant = self.clock.now();
        let sample = Arc::new(sample);
        self.publish(sample.clone());
        Ok(sample)
    }

    /// Keeps a sample taken elsewhere (a recorder) in the ring.
    pub fn publish(&self, sample: Arc<HostSample>) {
        lock(&self.host_ring).push(sample.instant, sample);
    }

    /// The kept host samples no older than `max_age` (on this state's clock), oldest first:
    /// the ring as it is thinned (see [`ring`]), every sample for the last seconds and sparser
    /// ones further back. For a history line (`sysmon top`'s sparklines) without a second
    /// history of its own; it takes no sample.
    pub fn recent_host_samples(&self, max_age: Duration) -> Vec<Arc<HostSample>> {
        let ring = lock(&self.host_ring);
        // A clock younger than `max_age` (a fake one): every kept sample.
        match self.clock.now().checked_sub(max_age).or(ring.oldest()) {
            Some(since) => ring.since(since).map(|(_, s)| s.clone()).collect(),
            None => Vec::new(),
        }
    }

    /// A fresh host sample and the base sample `window` asks for (see [`Self::windowed`]).
    pub fn window_pair(&self, window: Window) -> io::Result<(Arc<HostSample>, Arc<HostSample>)> {
        let (_, base, now) = self.windowed(
            &self.host_ring,
            window,
            crate::wait::HOST_RECORDER,
            || self.sample_now(),
            |s| (s.instant, s.clone()),
        )?;
        Ok((base, now))
    }

    /// The host reader of [`Self::sample_now`] (`sysmon top` sets its
    /// [`Collector::skip_snmp`]).
    pub fn host_collector(&self) -> MutexGuard<'_, Collector> {
        lock(&self.host)
    }

    /// The process reader of [`Self::process_snapshot`] (`sysmon top` sets its
    /// [`ProcessCollector::reuse_io`]).
    pub fn process_collector(&self) -> MutexGuard<'_, ProcessCollector> {
        lock(&self.processes)
    }

    /// Takes a process snapshot and keeps its CPU times in the process ring.
    pub fn process_snapshot(&self, fields: ProcessFields) -> io::Result<(ProcessSnapshot, Arc<ProcessTimes>)> {
        let mut snap = lock(&self.processes).snapshot(fields)?;
        snap.instant = self.clock.now();
        let times = Arc::new(snap.times());
        self.publish_process_times(snap.instant, times.clone());
        Ok((snap, times))
    }

    /// Keeps process CPU times taken elsewhere in the process ring.
    pub fn publish_process_times(&self, at: Instant, times: Arc<ProcessTimes>) {
        lock(&self.process_ring).push(at, times);
    }

    /// A fresh process snapshot, the kept CPU times `window` starts from, and the window's
    /// length.
    pub fn process_pair(
        &self,
        window: Window,
        fields: ProcessFields,
    ) -> io::Result<(Arc<ProcessTimes>, Duration, ProcessSnapshot)> {
        let (at, base, (now, _)) = self.windowed(
            &self.process_ring,
            window,
            crate::wait::PROCESS_RECORDER,
            || self.process_snapshot(fields),
            |(s, t)| (s.instant, t.clone()),
        )?;
        Ok((base, now.instant.saturating_duration_since(at), now))
    }

    /// Takes a reading (`take` keeps it in `ring`) and finds the kept entry `window` starts
    /// at. When none is old enough, waits until the youngest usable one is (the reading just
    /// taken, on a process's first call) and takes a fresh reading: only a first call, or a
    /// window longer than the kept history, ever waits. Returns the base's time, the base,
    /// and the reading the window ends with.
    fn windowed<T, S>(
        &self,
        ring: &Mutex<Ring<T>>,
        window: Window,
        recorder: &str,
        mut take: impl FnMut() -> io::Result<S>,
        key: impl Fn(&S) -> (Instant, Arc<T>),
    ) -> io::Result<(Instant, Arc<T>, S)> {
        let now = take()?;
        let (at, current) = key(&now);
        let (found, nearest) = {
            let ring = lock(ring);
            (ring.select(at, window), ring.nearest_younger(at, window))
        };
        if let Some((base_at, base)) = found {
            return Ok((base_at, base, now));
        }
        let (base_at, base) = nearest.unwrap_or((at, current));
        self.wait_for_base(base_at + window.min_age(), window, || lock(ring).oldest(), recorder)?;
        Ok((base_at, base, take()?))
    }

    /// The one place a live query waits: until a kept base reading is `ready_at` old enough,
    /// at most [`crate::wait::BOUND`]; a longer wait is refused at once with an error that
    /// says what to do (see [`crate::wait`]).
    pub fn wait_for_base(
        &self,
        ready_at: Instant,
        window: Window,
        oldest: impl FnOnce() -> Option<Instant>,
        recorder: &str,
    ) -> io::Result<()> {
        crate::wait::for_base(&*self.clock, ready_at, window, oldest, recorder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> (LiveState, Arc<FakeClock>) {
        let clock = Arc::new(FakeClock::default());
        let state = LiveState::new(Roots::test_fixture("modern")).with_clock(clock.clone());
        (state, clock)
    }

    #[test]
    fn first_call_waits_then_calls_reuse_the_ring() {
        let (state, clock) = fake();
        let start = clock.now();
        let (b, n) = state.window_pair(Window::Default).unwrap();
        assert_eq!(n.instant.duration_since(b.instant), Duration::from_millis(100));
        assert_eq!(
            clock.now(),
            start + Duration::from_millis(100),
            "the first call waited 100 ms"
        );
        for _ in 0..5 {
            clock.advance(Duration::from_millis(3));
            let before = clock.now();
            let (b, n) = state.window_pair(Window::Default).unwrap();
            assert!(n.instant.duration_since(b.instant) >= Duration::from_millis(100));
            assert_eq!(clock.now(), before, "a kept sample made the call wait");
        }
        let w = Duration::from_millis(150);
        let (b, n) = state.window_pair(Window::Exactly(w)).unwrap();
        let got = n.instant.duration_since(b.instant);
        assert!(got >= w && got <= 2 * w, "{got:?}");
    }

    #[test]
    fn long_window_waits_for_the_youngest_usable_sample() {
        let (state, clock) = fake();
        state.sample_now().unwrap();
        clock.advance(Duration::from_millis(400));
        let before = clock.now();
        let w = Duration::from_secs(1);
        let (b, n) = state.window_pair(Window::Exactly(w)).unwrap();
        assert_eq!(n.instant.duration_since(b.instant), w);
        assert_eq!(clock.now(), before + Duration::from_millis(600), "waited only the rest");
    }

    #[test]
    fn recent_host_samples_are_the_ring_oldest_first() {
        let (state, clock) = fake();
        assert!(state.recent_host_samples(Duration::from_secs(60)).is_empty());
        let mut taken = Vec::new();
        for _ in 0..5 {
            taken.push(state.sample_now().unwrap().instant);
            clock.advance(Duration::from_secs(1));
        }
        let got: Vec<Instant> = state
            .recent_host_samples(Duration::from_secs(60))
            .iter()
            .map(|s| s.instant)
            .collect();
        assert_eq!(got, taken, "every sample of the last seconds, oldest first");
        // Now 5 s after the first: the last 2.5 s hold the two newest.
        let got = state.recent_host_samples(Duration::from_millis(2500));
        assert_eq!(got.iter().map(|s| s.instant).collect::<Vec<_>>(), taken[3..]);
        // No sample was taken by asking.
        assert_eq!(state.recent_host_samples(Duration::from_secs(60)).len(), 5);
    }

    #[test]
    fn process_pairs_reuse_kept_times() {
        let (state, clock) = fake();
        let (_, w, snap) = state.process_pair(Window::Default, ProcessFields::default()).unwrap();
        assert_eq!(w, Duration::from_millis(100));
        assert!(!snap.processes.is_empty());
        clock.advance(Duration::from_millis(50));
        let before = clock.now();
        let (_, w, _) = state.process_pair(Window::Default, ProcessFields::default()).unwrap();
        assert_eq!(w, Duration::from_millis(150));
        assert_eq!(clock.now(), before, "a kept snapshot made the call wait");
    }
}
