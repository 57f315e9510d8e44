//! NVIDIA GPUs through NVML: the interface the `system_gpus()` rows are read through
//! ([`GpuApi`], implemented over the driver's library by [`Nvml`]), and the [`GpuReader`] a
//! process keeps (the opened library and whether it was initialised).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::readers::nvml::{self, Nvml};

/// An NVML return code other than success (`nvmlReturn_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NvmlError(pub i32);

impl NvmlError {
    /// Whether the error means there is nothing to read: no library, no driver loaded, no GPU,
    /// or a library too old to have the functions sysmon needs.
    pub fn means_no_gpu(self) -> bool {
        matches!(
            self.0,
            nvml::ERROR_LIBRARY_NOT_FOUND
                | nvml::ERROR_DRIVER_NOT_LOADED
                | nvml::ERROR_GPU_NOT_FOUND
                | nvml::ERROR_FUNCTION_NOT_FOUND
        )
    }
}

impl fmt::Display for NvmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NVML error {}", self.0)
    }
}

/// `nvmlUtilization_t`: percentages over the driver's last sample period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuUtilization {
    pub gpu_pct: u32,
    pub memory_pct: u32,
}

/// Device memory, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuMemory {
    pub total_bytes: u64,
    pub used_bytes: u64,
}

/// The clocks read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Sm,
    Memory,
}

/// What the `gpus` table asks of NVML, by GPU index, in NVML's own units.
pub trait GpuApi: Send + Sync {
    /// Initialises the library (`nvmlInit_v2`): needed once before the other calls.
    fn init(&self) -> Result<(), NvmlError>;
    /// The driver's version, e.g. `580.159.04`.
    fn driver_version(&self) -> Result<String, NvmlError>;
    /// NVML's own text for `e` (`nvmlErrorString`).
    fn error_text(&self, _e: NvmlError) -> Option<String> {
        None
    }
    /// The number of GPUs.
    fn count(&self) -> Result<u32, NvmlError>;
    fn uuid(&self, index: u32) -> Result<String, NvmlError>;
    fn name(&self, index: u32) -> Result<String, NvmlError>;
    fn utilization(&self, index: u32) -> Result<GpuUtilization, NvmlError>;
    fn memory(&self, index: u32) -> Result<GpuMemory, NvmlError>;
    fn temperature_celsius(&self, index: u32) -> Result<u32, NvmlError>;
    fn power_milliwatts(&self, index: u32) -> Result<u32, NvmlError>;
    fn power_limit_milliwatts(&self, index: u32) -> Result<u32, NvmlError>;
    fn clock_mhz(&self, index: u32, clock: Clock) -> Result<u32, NvmlError>;
    fn fan_pct(&self, index: u32) -> Result<u32, NvmlError>;
    /// The number of compute processes on the GPU.
    fn compute_processes(&self, index: u32) -> Result<u32, NvmlError>;
}

/// How long a failed `nvmlInit_v2` is remembered before it is tried again.
pub const INIT_RETRY: Duration = Duration::from_secs(10);

/// Opens the library: [`Nvml::open`], or a fake in tests.
pub type Opener = Box<dyn FnMut() -> Result<Arc<dyn GpuApi>, NvmlError> + Send>;

/// NVML as a process's live state (sysmon-core's `LiveState`) keeps it: the library, opened on first use and then kept (opening
/// fails the same way until the driver is installed, so a failed open is kept too), and
/// initialised once: a failed `nvmlInit_v2` (the driver's module not loaded yet) is tried
/// again at most every [`INIT_RETRY`], so a driver loaded after the process started is found.
pub struct GpuReader {
    open: Opener,
    library: Option<Result<Arc<dyn GpuApi>, NvmlError>>,
    initialised: bool,
    failed: Option<(Instant, NvmlError)>,
}

impl fmt::Debug for GpuReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuReader")
            .field("opened", &self.library.as_ref().map(|l| l.is_ok()))
            .field("initialised", &self.initialised)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Default for GpuReader {
    /// The driver's NVML.
    fn default() -> Self {
        GpuReader::new(Box::new(|| Nvml::open().map(|n| Arc::new(n) as Arc<dyn GpuApi>)))
    }
}

impl GpuReader {
    pub fn new(open: Opener) -> GpuReader {
        GpuReader {
            open,
            library: None,
            initialised: false,
            failed: None,
        }
    }

    /// The initialised library at time `now`, or why not ([`NvmlError::means_no_gpu`] for a
    /// host without the driver or a GPU).
    pub fn api(&mut self, now: Instant) -> Result<Arc<dyn GpuApi>, NvmlError> {
        let lib = self.library.get_or_insert_with(&mut self.open).clone()?;
        if self.initialised {
            return Ok(lib);
        }
        if let Some((at, e)) = self.failed
            && now.saturating_duration_since(at) < INIT_RETRY
        {
            return Err(e);
        }
        match lib.init() {
            Ok(()) => {
                self.initialised = true;
                self.failed = None;
                Ok(lib)
            }
            Err(e) => {
                self.failed = Some((now, e));
                Err(e)
            }
        }
    }

    /// `e` as a sentence, with NVML's own text where the library is open.
    pub fn describe(&self, e: NvmlError) -> String {
        let lib = self.library.as_ref().and_then(|l| l.as_ref().ok());
        describe(lib.map(|l| &**l), e)
    }
}

/// `e` as a sentence, with `api`'s own text for it where there is one.
pub fn describe(api: Option<&dyn GpuApi>, e: NvmlError) -> String {
    let text = api.and_then(|a| a.error_text(e));
    match text {
        Some(t) => format!("cannot read the GPUs through NVML ({}): {t} ({e})", nvml::LIBRARY),
        None => format!("cannot read the GPUs through NVML ({}): {e}", nvml::LIBRARY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    /// An NVML whose `init` fails while `init_fails` is set, counting its calls; no GPU answers.
    #[derive(Default)]
    struct Initialising {
        inits: AtomicU32,
        init_fails: AtomicBool,
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
            Ok("580.159.04".to_string())
        }
        fn count(&self) -> Result<u32, NvmlError> {
            Ok(0)
        }
        fn uuid(&self, _: u32) -> Result<String, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
        fn name(&self, _: u32) -> Result<String, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
        fn utilization(&self, _: u32) -> Result<GpuUtilization, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
        fn memory(&self, _: u32) -> Result<GpuMemory, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
        fn temperature_celsius(&self, _: u32) -> Result<u32, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
        fn power_milliwatts(&self, _: u32) -> Result<u32, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
        fn power_limit_milliwatts(&self, _: u32) -> Result<u32, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
        fn clock_mhz(&self, _: u32, _: Clock) -> Result<u32, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
        fn fan_pct(&self, _: u32) -> Result<u32, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
        fn compute_processes(&self, _: u32) -> Result<u32, NvmlError> {
            Err(NvmlError(nvml::ERROR_NOT_SUPPORTED))
        }
    }

    #[test]
    fn reader_opens_once_and_retries_init_every_init_retry() {
        let lib = Arc::new(Initialising::default());
        lib.init_fails.store(true, Ordering::SeqCst);
        let opens = Arc::new(AtomicU32::new(0));
        let (l, o) = (lib.clone(), opens.clone());
        let mut reader = GpuReader::new(Box::new(move || {
            o.fetch_add(1, Ordering::SeqCst);
            Ok(l.clone() as Arc<dyn GpuApi>)
        }));
        let t0 = Instant::now();
        let e = reader.api(t0).err().unwrap();
        assert!(e.means_no_gpu(), "driver not loaded: no GPU, not an error");
        lib.init_fails.store(false, Ordering::SeqCst);
        assert!(reader.api(t0 + INIT_RETRY - Duration::from_millis(1)).is_err());
        assert_eq!(lib.inits.load(Ordering::SeqCst), 1, "the failure is remembered");
        assert!(reader.api(t0 + INIT_RETRY).is_ok(), "tried again after INIT_RETRY");
        assert!(reader.api(t0 + INIT_RETRY * 10).is_ok());
        assert_eq!(lib.inits.load(Ordering::SeqCst), 2, "initialised once, then kept");
        assert_eq!(opens.load(Ordering::SeqCst), 1, "opened once");
        assert!(reader.describe(NvmlError(4)).contains(nvml::LIBRARY));
    }
}
