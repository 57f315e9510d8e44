//! `system_gpus()`: one row per NVIDIA GPU, read through NVML.
//!
//! [`GpuApi`] is the interface between NVML and the rows: one call per value, each of which may
//! fail on its own. [`Nvml`](sysmon_kernel::readers::nvml::Nvml) implements it over the driver's library, opened at run time; the
//! unit tests below use a fake. [`GpuReader`] is what a [`LiveState`] keeps: the opened
//! library and whether it was initialised. [`rows`] is the pure step from the API's answers to
//! rows: a value NVML does not support on a GPU (a fan on a passively cooled board) or fails to
//! read is NULL, never 0, and a host without the NVIDIA driver or a GPU has no rows and no
//! error.

use std::io;
use std::sync::Arc;

use super::{Now, Table};
use crate::schema::Timestamp;
use sysmon_kernel::access::HostPath;
use sysmon_kernel::host;
pub use sysmon_kernel::readers::gpu::{
    Clock, GpuApi, GpuMemory, GpuReader, GpuUtilization, INIT_RETRY, NvmlError, Opener, describe,
};
use sysmon_live::LiveState;

crate::declare_table! {
    /// One row per NVIDIA GPU that NVML lists (nvidia-smi's GPUs), read through the driver's
    /// `libnvidia-ml.so.1`, opened at run time. No NVIDIA driver or no GPU: no rows. A value the
    /// GPU does not report (the fan of a passively cooled board) or that cannot be read is NULL.
    pub struct GpusRow => "system_gpus", recorded as "gpus" every interval by default if present {
        /// When the GPUs were read.
        ts: Timestamp [""],
        /// Host name at that time.
        hostname: String [""],
        /// NVML's index of the GPU, as nvidia-smi's `index` (CUDA may number GPUs otherwise).
        index: u32 [""],
        /// The GPU's UUID, `GPU-...` (nvidia-smi `uuid`).
        uuid: Option<String> [""],
        /// Product name, e.g. `NVIDIA H100 80GB HBM3` (nvidia-smi `name`).
        name: Option<String> [""],
        /// Share of the last sample period (1/6 s to 1 s by product) in which a kernel ran (`utilization.gpu`).
        utilization_pct: Option<f64> ["percent"],
        /// Share of the last sample period in which device memory was read or written (`utilization.memory`).
        memory_utilization_pct: Option<f64> ["percent"],
        /// Device memory (`memory.total`).
        memory_total_bytes: Option<u64> ["bytes"],
        /// Device memory allocated (`memory.used`; the driver's own reservation left out where NVML reports it apart).
        memory_used_bytes: Option<u64> ["bytes"],
        /// GPU core temperature (`temperature.gpu`).
        temperature_celsius: Option<f64> ["celsius"],
        /// Board power draw (`power.draw`; averaged over 1 s on Ampere and newer).
        power_watts: Option<f64> ["watts"],
        /// Power management limit (`power.limit`).
        power_limit_watts: Option<f64> ["watts"],
        /// Current SM clock (`clocks.sm`).
        sm_clock_mhz: Option<f64> ["MHz"],
        /// Current memory clock (`clocks.mem`).
        memory_clock_mhz: Option<f64> ["MHz"],
        /// Fan speed as a share of its maximum (`fan.speed`); NULL where the board has no fan.
        fan_pct: Option<f64> ["percent"],
        /// Compute processes running on the GPU (the rows of `nvidia-smi --query-compute-apps`).
        processes: Option<u64> [""],
    }
}

/// The rows `api` gives: none when it says there is no GPU; an error when the GPUs cannot be
/// counted for another reason (a driver/library version mismatch, no permission).
pub fn rows(api: &dyn GpuApi, ts: Timestamp, hostname: &str) -> Result<Vec<GpusRow>, NvmlError> {
    let n = match api.count() {
        Ok(n) => n,
        Err(e) if e.means_no_gpu() => 0,
        Err(e) => return Err(e),
    };
    Ok((0..n).map(|i| row(api, i, ts, hostname)).collect())
}

fn row(api: &dyn GpuApi, i: u32, ts: Timestamp, hostname: &str) -> GpusRow {
    let util = api.utilization(i).ok();
    let mem = api.memory(i).ok();
    let watts = |mw: u32| f64::from(mw) / 1000.0;
    GpusRow {
        ts,
        hostname: hostname.to_string(),
        index: i,
        uuid: api.uuid(i).ok(),
        name: api.name(i).ok(),
        utilization_pct: util.map(|u| f64::from(u.gpu_pct)),
        memory_utilization_pct: util.map(|u| f64::from(u.memory_pct)),
        memory_total_bytes: mem.map(|m| m.total_bytes),
        memory_used_bytes: mem.map(|m| m.used_bytes),
        temperature_celsius: api.temperature_celsius(i).ok().map(f64::from),
        power_watts: api.power_milliwatts(i).ok().map(watts),
        power_limit_watts: api.power_limit_milliwatts(i).ok().map(watts),
        sm_clock_mhz: api.clock_mhz(i, Clock::Sm).ok().map(f64::from),
        memory_clock_mhz: api.clock_mhz(i, Clock::Memory).ok().map(f64::from),
        fan_pct: api.fan_pct(i).ok().map(f64::from),
        processes: api.compute_processes(i).ok().map(u64::from),
    }
}

/// The state's NVML now, or `None` where there is none (no library, driver or GPU).
fn api(state: &LiveState) -> io::Result<Option<Arc<dyn GpuApi>>> {
    let now = state.now();
    let mut reader = state.gpus();
    match reader.api(now) {
        Ok(a) => Ok(Some(a)),
        Err(e) if e.means_no_gpu() => Ok(None),
        Err(e) => Err(io::Error::other(reader.describe(e))),
    }
}

/// The host's GPUs now, through the state's NVML: no rows without the driver or a GPU.
pub fn collect(state: &LiveState, ts: Timestamp, hostname: &str) -> io::Result<Vec<GpusRow>> {
    let Some(api) = api(state)? else {
        return Ok(Vec::new());
    };
    rows(&*api, ts, hostname).map_err(|e| io::Error::other(describe(Some(&*api), e)))
}

/// Whether NVML lists at least one GPU: the recorder then records `gpus` by default.
pub fn present(state: &LiveState) -> bool {
    let now = state.now();
    let api = state.gpus().api(now);
    api.and_then(|a| a.count()).is_ok_and(|n| n > 0)
}

/// NVML's state for `system_info()`: whether it could be opened and initialised, and the
/// driver's version.
pub fn driver(state: &LiveState) -> (bool, Option<String>) {
    let now = state.now();
    let api = state.gpus().api(now);
    match api {
        Ok(a) => (true, a.driver_version().ok()),
        Err(_) => (false, None),
    }
}

/// `system_gpus()`.
pub struct Gpus;

impl Table for Gpus {
    type Row = GpusRow;
    type Options = ();
    type Input = Now;
    const SUMMARY: &'static str = "One row per NVIDIA GPU through NVML: utilization, memory, temperature, power, clocks, fan, processes; none without the driver.";
    const EXAMPLE: &'static str =
        "SELECT index, name, utilization_pct, memory_used_bytes, temperature_celsius, power_watts FROM system_gpus()";
    /// NVML talks to the driver through its device files.
    const FILES: &'static [&'static str] = &["/dev/nvidia*", "/proc/driver/nvidia"];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Dir("/dev"), HostPath::Proc];

    fn rows(_: &Now, state: &LiveState, _: &()) -> io::Result<Vec<GpusRow>> {
        collect(state, Timestamp::now(), &host::hostname())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Row;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::time::Duration;
    use sysmon_kernel::procfs::Roots;
    use sysmon_kernel::readers::nvml::{self, Nvml};
    use sysmon_live::FakeClock;

    const NOT_SUPPORTED: NvmlError = NvmlError(nvml::ERROR_NOT_SUPPORTED);

    /// A fake NVML: per GPU, each value or the error NVML would give.
    struct Fake {
        count: Result<u32, NvmlError>,
        /// GPU index → whether it answers at all (a lost GPU fails every call).
        lost: Vec<u32>,
        fan: Result<u32, NvmlError>,
        power: Result<u32, NvmlError>,
    }

    impl Fake {
        fn gpus(n: u32) -> Fake {
            Fake {
                count: Ok(n),
                lost: Vec::new(),
                fan: Err(NOT_SUPPORTED),
                power: Ok(312_456),
            }
        }
        fn alive(&self, i: u32) -> Result<(), NvmlError> {
            if self.lost.contains(&i) {
                Err(NvmlError(15))
            } else {
                Ok(())
            }
        }
    }

    impl GpuApi for Fake {
        fn init(&self) -> Result<(), NvmlError> {
            Ok(())
        }
        fn driver_version(&self) -> Result<String, NvmlError> {
            Ok("580.159.04".to_string())
        }
        fn count(&self) -> Result<u32, NvmlError> {
            self.count
        }
        fn uuid(&self, i: u32) -> Result<String, NvmlError> {
            self.alive(i)
                .map(|_| format!("GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd"))
        }
        fn name(&self, i: u32) -> Result<String, NvmlError> {
            self.alive(i).map(|_| "NVIDIA H200".to_string())
        }
        fn utilization(&self, i: u32) -> Result<GpuUtilization, NvmlError> {
            self.alive(i).map(|_| GpuUtilization {
                gpu_pct: 97,
                memory_pct: 41 + i,
            })
        }
        fn memory(&self, i: u32) -> Result<GpuMemory, NvmlError> {
            self.alive(i).map(|_| GpuMemory {
                total_bytes: 150_754_820_096,
                used_bytes: 1_234_567_168,
            })
        }
        fn temperature_celsius(&self, i: u32) -> Result<u32, NvmlError> {
            self.alive(i).map(|_| 34)
        }
        fn power_milliwatts(&self, i: u32) -> Result<u32, NvmlError> {
            self.alive(i).and(self.power)
        }
        fn power_limit_milliwatts(&self, i: u32) -> Result<u32, NvmlError> {
            self.alive(i).map(|_| 700_000)
        }
        fn clock_mhz(&self, i: u32, clock: Clock) -> Result<u32, NvmlError> {
            self.alive(i).map(|_| match clock {
                Clock::Sm => 1980,
                Clock::Memory => 3201,
            })
        }
        fn fan_pct(&self, i: u32) -> Result<u32, NvmlError> {
            self.alive(i).and(self.fan)
        }
        fn compute_processes(&self, i: u32) -> Result<u32, NvmlError> {
            self.alive(i).map(|_| 2)
        }
    }

    fn ts() -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000)
    }

    #[test]
    fn values_in_the_columns_units() {
        let r = rows(&Fake::gpus(1), ts(), "h").unwrap();
        assert_eq!(r.len(), 1);
        let g = &r[0];
        assert_eq!((g.ts, g.hostname.as_str(), g.index), (ts(), "h", 0));
        assert_eq!(g.uuid.as_deref(), Some("GPU-00000000-aaaa-bbbb-cccc-dddddddddddd"));
        assert_eq!(g.name.as_deref(), Some("NVIDIA H200"));
        assert_eq!((g.utilization_pct, g.memory_utilization_pct), (Some(97.0), Some(41.0)));
        assert_eq!(g.memory_total_bytes, Some(150_754_820_096));
        assert_eq!(g.memory_used_bytes, Some(1_234_567_168));
        assert_eq!(g.temperature_celsius, Some(34.0));
        assert_eq!(g.power_watts, Some(312.456), "milliwatts become watts");
        assert_eq!(g.power_limit_watts, Some(700.0));
        assert_eq!((g.sm_clock_mhz, g.memory_clock_mhz), (Some(1980.0), Some(3201.0)));
        assert_eq!(g.processes, Some(2));
    }

    #[test]
    fn unsupported_values_are_null_not_zero() {
        let mut f = Fake::gpus(1);
        f.power = Err(NOT_SUPPORTED);
        let g = &rows(&f, ts(), "h").unwrap()[0];
        assert_eq!(g.fan_pct, None, "a board without a fan");
        assert_eq!(g.power_watts, None);
        assert_eq!(g.power_limit_watts, Some(700.0));
        f.fan = Ok(55);
        assert_eq!(rows(&f, ts(), "h").unwrap()[0].fan_pct, Some(55.0));
    }

    #[test]
    fn a_lost_gpu_keeps_its_row_with_nulls() {
        let mut f = Fake::gpus(3);
        f.lost = vec![1];
        let r = rows(&f, ts(), "h").unwrap();
        assert_eq!(r.iter().map(|g| g.index).collect::<Vec<_>>(), [0, 1, 2]);
        let lost = &r[1];
        assert_eq!(
            (lost.uuid.as_ref(), lost.memory_total_bytes, lost.processes),
            (None, None, None)
        );
        assert_eq!(r[2].memory_utilization_pct, Some(43.0));
        // Every column of the lost GPU but ts, hostname and index is NULL.
        let t = GpusRow::TABLE;
        for (c, col) in t.columns.iter().enumerate().skip(3) {
            assert!(matches!(lost.cell(c), crate::schema::Cell::Null), "{}", col.name);
        }
    }

    #[test]
    fn no_driver_or_no_gpu_is_no_rows_other_failures_are_errors() {
        for code in [
            nvml::ERROR_LIBRARY_NOT_FOUND,
            nvml::ERROR_DRIVER_NOT_LOADED,
            nvml::ERROR_GPU_NOT_FOUND,
            nvml::ERROR_FUNCTION_NOT_FOUND,
        ] {
            let mut f = Fake::gpus(2);
            f.count = Err(NvmlError(code));
            assert_eq!(rows(&f, ts(), "h").unwrap().len(), 0, "code {code}");
        }
        assert!(rows(&Fake::gpus(0), ts(), "h").unwrap().is_empty());
        let mut f = Fake::gpus(2);
        f.count = Err(NvmlError(18)); // NVML_ERROR_LIB_RM_VERSION_MISMATCH
        assert_eq!(rows(&f, ts(), "h").unwrap_err(), NvmlError(18));
        assert!(NvmlError(18).to_string().contains("18"));
    }

    /// A state whose NVML is `fake`, on a fake clock; `inits` counts `init` calls, which fail
    /// while `init_fails` is set.
    struct Driver {
        state: LiveState,
        clock: Arc<FakeClock>,
        inits: Arc<AtomicU32>,
        init_fails: Arc<AtomicBool>,
    }

    struct Initialising {
        fake: Fake,
        inits: Arc<AtomicU32>,
        init_fails: Arc<AtomicBool>,
    }

    impl GpuApi for Initialising {
        fn init(&self) -> Result<(), NvmlError> {
            self.inits.fetch_add(1, Ordering::SeqCst);
            match self.init_fails.load(Ordering::SeqCst) {
                true => Err(NvmlError(nvml::ERROR_DRIVER_NOT_LOADED)),
                false => Ok(()),
            }
        }
        fn driver_version(&self) -> Result<String, NvmlError> {
            self.fake.driver_version()
        }
        fn count(&self) -> Result<u32, NvmlError> {
            self.fake.count()
        }
        fn uuid(&self, i: u32) -> Result<String, NvmlError> {
            self.fake.uuid(i)
        }
        fn name(&self, i: u32) -> Result<String, NvmlError> {
            self.fake.name(i)
        }
        fn utilization(&self, i: u32) -> Result<GpuUtilization, NvmlError> {
            self.fake.utilization(i)
        }
        fn memory(&self, i: u32) -> Result<GpuMemory, NvmlError> {
            self.fake.memory(i)
        }
        fn temperature_celsius(&self, i: u32) -> Result<u32, NvmlError> {
            self.fake.temperature_celsius(i)
        }
        fn power_milliwatts(&self, i: u32) -> Result<u32, NvmlError> {
            self.fake.power_milliwatts(i)
        }
        fn power_limit_milliwatts(&self, i: u32) -> Result<u32, NvmlError> {
            self.fake.power_limit_milliwatts(i)
        }
        fn clock_mhz(&self, i: u32, clock: Clock) -> Result<u32, NvmlError> {
            self.fake.clock_mhz(i, clock)
        }
        fn fan_pct(&self, i: u32) -> Result<u32, NvmlError> {
            self.fake.fan_pct(i)
        }
        fn compute_processes(&self, i: u32) -> Result<u32, NvmlError> {
            self.fake.compute_processes(i)
        }
    }

    fn driver_with(gpus: u32, init_fails: bool) -> Driver {
        let clock = Arc::new(FakeClock::default());
        let inits = Arc::new(AtomicU32::new(0));
        let fails = Arc::new(AtomicBool::new(init_fails));
        let (i, f) = (inits.clone(), fails.clone());
        let reader = GpuReader::new(Box::new(move || {
            Ok(Arc::new(Initialising {
                fake: Fake::gpus(gpus),
                inits: i.clone(),
                init_fails: f.clone(),
            }) as Arc<dyn GpuApi>)
        }));
        let state = LiveState::new(Roots::test_fixture("modern"))
            .with_clock(clock.clone())
            .with_gpus(reader);
        Driver {
            state,
            clock,
            inits,
            init_fails: fails,
        }
    }

    #[test]
    fn init_is_retried_at_most_every_ten_seconds_then_kept() {
        let d = driver_with(2, true);
        let read = || collect(&d.state, ts(), "h").unwrap().len();
        assert_eq!(read(), 0, "driver not loaded: no rows, no error");
        assert_eq!(d.inits.load(Ordering::SeqCst), 1);
        d.init_fails.store(false, Ordering::SeqCst);
        d.clock.advance(INIT_RETRY - Duration::from_millis(1));
        assert_eq!(read(), 0, "the failure is remembered for INIT_RETRY");
        assert!(!present(&d.state) && driver(&d.state) == (false, None));
        assert_eq!(d.inits.load(Ordering::SeqCst), 1);
        d.clock.advance(Duration::from_millis(1));
        assert_eq!(read(), 2, "the driver loaded meanwhile is found");
        assert!(present(&d.state));
        assert_eq!(driver(&d.state), (true, Some("580.159.04".to_string())));
        d.clock.advance(INIT_RETRY * 10);
        assert_eq!(read(), 2);
        assert_eq!(d.inits.load(Ordering::SeqCst), 2, "initialised once, then kept");
    }

    #[test]
    fn recorded_by_default_only_where_a_gpu_is_present() {
        use crate::recorded::{defaults, resolve};
        let names = |d: &Driver| defaults(&d.state).iter().map(|t| t.name()).collect::<Vec<_>>();
        let with = driver_with(1, false);
        assert!(names(&with).contains(&"gpus"), "{:?}", names(&with));
        for without in [driver_with(0, false), driver_with(1, true)] {
            let n = names(&without);
            assert!(!n.contains(&"gpus") && n.contains(&"metrics"), "{n:?}");
        }
        assert_eq!(resolve(&["gpus".into()]).unwrap()[0].name(), "gpus", "named, always");
        let r = GpusRow::TABLE.recorded.unwrap();
        assert_eq!(r.cadence, crate::schema::Cadence::Host);
    }

    #[test]
    fn other_failures_are_errors_with_nvmls_text() {
        let reader = GpuReader::new(Box::new(|| Err(NvmlError(nvml::ERROR_NO_PERMISSION))));
        let state = LiveState::new(Roots::test_fixture("modern")).with_gpus(reader);
        let e = collect(&state, ts(), "h").unwrap_err().to_string();
        assert!(e.contains("libnvidia-ml.so.1") && e.contains("NVML error 4"), "{e}");
        let none = LiveState::new(Roots::test_fixture("modern")).with_gpus(GpuReader::new(Box::new(|| {
            Err(NvmlError(nvml::ERROR_LIBRARY_NOT_FOUND))
        })));
        assert!(collect(&none, ts(), "h").unwrap().is_empty());
        assert_eq!(driver(&none), (false, None));
    }

    #[test]
    fn live_host_agrees_with_nvml() {
        // On a host without the driver: no rows, no error, not present. With it: one row per GPU.
        let state = LiveState::new(Roots::default());
        let r = collect(&state, Timestamp::now(), "h").expect("no error");
        let (available, version) = driver(&state);
        match Nvml::open().and_then(|n| n.init().map(|()| n)) {
            Ok(n) => {
                assert_eq!(r.len() as u32, n.count().unwrap());
                assert!(available && version.is_some());
                assert_eq!(present(&state), !r.is_empty());
            }
            Err(_) => {
                assert!(r.is_empty() && !present(&state) && !available && version.is_none());
            }
        }
    }
}
