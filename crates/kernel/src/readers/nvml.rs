//! NVIDIA's management library (NVML), opened at run time.
//!
//! `libnvidia-ml.so.1` ships with the NVIDIA driver, not with sysmon: [`Nvml::open`] opens it
//! with `dlopen`, so sysmon loads and runs on hosts without it, and looks the ~15 functions
//! sysmon calls up with `dlsym` (a function an old driver lacks answers
//! `NVML_ERROR_FUNCTION_NOT_FOUND` for its values only). The library is never closed, and
//! `nvmlShutdown` is never called (initialising a GPU driver can take a second): the
//! [`GpuReader`](crate::readers::gpu::GpuReader) of a process's
//! live state (sysmon-core's `LiveState`) opens it once and retries `nvmlInit_v2` until it
//! succeeds.
//!
//! [`Nvml`] implements [`GpuApi`], the interface the `gpus` table
//! reads through; the table's unit tests use a fake instead.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_ulonglong, c_void};

use crate::readers::gpu::{Clock, GpuApi, GpuMemory, GpuUtilization, NvmlError};

/// The library's file name (the driver installs the `.so.1`; the bare `.so` is a dev package's).
pub const LIBRARY: &str = "libnvidia-ml.so.1";

// nvmlReturn_t values sysmon tells apart (nvml.h).
pub const SUCCESS: i32 = 0;
pub const ERROR_NOT_SUPPORTED: i32 = 3;
pub const ERROR_NO_PERMISSION: i32 = 4;
pub const ERROR_INSUFFICIENT_SIZE: i32 = 7;
pub const ERROR_DRIVER_NOT_LOADED: i32 = 9;
pub const ERROR_LIBRARY_NOT_FOUND: i32 = 12;
pub const ERROR_FUNCTION_NOT_FOUND: i32 = 13;
pub const ERROR_GPU_NOT_FOUND: i32 = 28;

type Device = *mut c_void;
type Ret = c_int;

#[repr(C)]
#[derive(Default)]
struct Utilization {
    gpu: c_uint,
    memory: c_uint,
}

#[repr(C)]
#[derive(Default)]
struct MemoryV1 {
    total: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

/// `nvmlMemory_v2_t`: `used` leaves out what the driver reserves, as nvidia-smi shows it.
#[repr(C)]
#[derive(Default)]
struct MemoryV2 {
    version: c_uint,
    total: c_ulonglong,
    reserved: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

/// `NVML_STRUCT_VERSION(Memory, 2)`: the struct's size with the version in the top byte.
const MEMORY_V2_VERSION: c_uint = std::mem::size_of::<MemoryV2>() as c_uint | (2 << 24);

/// Bytes reserved per process entry: `nvmlProcessInfo_t` is 24 bytes (16 before v2); only the
/// count is read, so the entries just need room.
const PROCESS_ENTRY_BYTES: usize = 64;

/// The functions looked up in the library. `None`: this driver's NVML lacks it.
struct Fns {
    init: unsafe extern "C" fn() -> Ret,
    error_string: Option<unsafe extern "C" fn(Ret) -> *const c_char>,
    driver_version: Option<unsafe extern "C" fn(*mut c_char, c_uint) -> Ret>,
    count: unsafe extern "C" fn(*mut c_uint) -> Ret,
    handle: unsafe extern "C" fn(c_uint, *mut Device) -> Ret,
    uuid: Option<unsafe extern "C" fn(Device, *mut c_char, c_uint) -> Ret>,
    name: Option<unsafe extern "C" fn(Device, *mut c_char, c_uint) -> Ret>,
    utilization: Option<unsafe extern "C" fn(Device, *mut Utilization) -> Ret>,
    memory_v2: Option<unsafe extern "C" fn(Device, *mut MemoryV2) -> Ret>,
    memory_v1: Option<unsafe extern "C" fn(Device, *mut MemoryV1) -> Ret>,
    temperature: Option<unsafe extern "C" fn(Device, c_int, *mut c_uint) -> Ret>,
    power_usage: Option<unsafe extern "C" fn(Device, *mut c_uint) -> Ret>,
    power_limit: Option<unsafe extern "C" fn(Device, *mut c_uint) -> Ret>,
    clock: Option<unsafe extern "C" fn(Device, c_int, *mut c_uint) -> Ret>,
    fan_speed: Option<unsafe extern "C" fn(Device, *mut c_uint) -> Ret>,
    /// `nvmlDeviceGetComputeRunningProcesses` (`_v3`, else `_v2`, else the first version).
    processes: Option<unsafe extern "C" fn(Device, *mut c_uint, *mut c_void) -> Ret>,
}

/// The opened library (not yet initialised: see [`GpuApi::init`]). Its functions are
/// thread-safe (NVML's own guarantee).
pub struct Nvml {
    fns: Fns,
}

/// Looks `name` up in `lib`, as a function pointer of type `F`.
///
/// # Safety
/// `F` must be the C signature of the library's function `name`.
unsafe fn symbol<F: Copy>(lib: *mut c_void, name: &str) -> Option<F> {
    let cname = CString::new(name).ok()?;
    // SAFETY: `lib` is a handle dlopen returned and never closed; `cname` is NUL-terminated.
    let p = unsafe { libc::dlsym(lib, cname.as_ptr()) };
    if p.is_null() {
        return None;
    }
    debug_assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: `F` is a function pointer type of `name`'s signature (the caller's promise),
    // the same size as the data pointer dlsym returns.
    Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
}

fn open_library() -> Result<Nvml, NvmlError> {
    let cname = CString::new(LIBRARY).map_err(|_| NvmlError(ERROR_LIBRARY_NOT_FOUND))?;
    // SAFETY: a NUL-terminated file name; the handle is kept for the life of the process.
    let lib = unsafe { libc::dlopen(cname.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if lib.is_null() {
        return Err(NvmlError(ERROR_LIBRARY_NOT_FOUND));
    }
    // SAFETY: each type given to `symbol` below is that function's prototype in nvml.h, and `lib` is a live handle.
    unsafe {
        let (Some(init), Some(count), Some(handle)) = (
            symbol(lib, "nvmlInit_v2"),
            symbol(lib, "nvmlDeviceGetCount_v2"),
            symbol(lib, "nvmlDeviceGetHandleByIndex_v2"),
        ) else {
            return Err(NvmlError(ERROR_FUNCTION_NOT_FOUND));
        };
        Ok(Nvml {
            fns: Fns {
                init,
                error_string: symbol(lib, "nvmlErrorString"),
                driver_version: symbol(lib, "nvmlSystemGetDriverVersion"),
                count,
                handle,
                uuid: symbol(lib, "nvmlDeviceGetUUID"),
                name: symbol(lib, "nvmlDeviceGetName"),
                utilization: symbol(lib, "nvmlDeviceGetUtilizationRates"),
                memory_v2: symbol(lib, "nvmlDeviceGetMemoryInfo_v2"),
                memory_v1: symbol(lib, "nvmlDeviceGetMemoryInfo"),
                temperature: symbol(lib, "nvmlDeviceGetTemperature"),
                power_usage: symbol(lib, "nvmlDeviceGetPowerUsage"),
                power_limit: symbol(lib, "nvmlDeviceGetPowerManagementLimit"),
                clock: symbol(lib, "nvmlDeviceGetClockInfo"),
                fan_speed: symbol(lib, "nvmlDeviceGetFanSpeed"),
                processes: symbol(lib, "nvmlDeviceGetComputeRunningProcesses_v3")
                    .or_else(|| symbol(lib, "nvmlDeviceGetComputeRunningProcesses_v2"))
                    .or_else(|| symbol(lib, "nvmlDeviceGetComputeRunningProcesses")),
            },
        })
    }
}

fn check(rc: Ret) -> Result<(), NvmlError> {
    if rc == SUCCESS { Ok(()) } else { Err(NvmlError(rc)) }
}

/// A string NVML wrote into `buf` (NUL-terminated).
fn buf_string(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Nvml {
    /// Opens the driver's library and looks its functions up; `ERROR_LIBRARY_NOT_FOUND`
    /// where it is not installed.
    pub fn open() -> Result<Nvml, NvmlError> {
        open_library()
    }

    fn device(&self, index: u32) -> Result<Device, NvmlError> {
        let mut d: Device = std::ptr::null_mut();
        // SAFETY: `d` is a valid out-pointer.
        check(unsafe { (self.fns.handle)(index, &mut d) })?;
        Ok(d)
    }

    fn string(
        &self,
        index: u32,
        f: Option<unsafe extern "C" fn(Device, *mut c_char, c_uint) -> Ret>,
    ) -> Result<String, NvmlError> {
        let f = f.ok_or(NvmlError(ERROR_FUNCTION_NOT_FOUND))?;
        let d = self.device(index)?;
        let mut buf = [0 as c_char; 256];
        // SAFETY: `buf` holds the length passed (more than NVML's 96-byte maximum).
        check(unsafe { f(d, buf.as_mut_ptr(), buf.len() as c_uint) })?;
        Ok(buf_string(&buf))
    }

    fn uint(&self, index: u32, f: Option<unsafe extern "C" fn(Device, *mut c_uint) -> Ret>) -> Result<u32, NvmlError> {
        let f = f.ok_or(NvmlError(ERROR_FUNCTION_NOT_FOUND))?;
        let d = self.device(index)?;
        let mut v: c_uint = 0;
        // SAFETY: `v` is a valid out-pointer.
        check(unsafe { f(d, &mut v) })?;
        Ok(v)
    }
}

impl GpuApi for Nvml {
    fn init(&self) -> Result<(), NvmlError> {
        // SAFETY: nvmlInit_v2 takes no arguments; NVML counts initialisations.
        check(unsafe { (self.fns.init)() })
    }

    fn driver_version(&self) -> Result<String, NvmlError> {
        let f = self.fns.driver_version.ok_or(NvmlError(ERROR_FUNCTION_NOT_FOUND))?;
        let mut buf = [0 as c_char; 96];
        // SAFETY: `buf` holds the length passed (NVML needs 80).
        check(unsafe { f(buf.as_mut_ptr(), buf.len() as c_uint) })?;
        Ok(buf_string(&buf))
    }

    fn error_text(&self, e: NvmlError) -> Option<String> {
        let f = self.fns.error_string?;
        // SAFETY: nvmlErrorString returns a static NUL-terminated string (or null).
        let p = unsafe { f(e.0) };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-null, static (the library is never closed), NUL-terminated.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    fn count(&self) -> Result<u32, NvmlError> {
        let mut n: c_uint = 0;
        // SAFETY: `n` is a valid out-pointer.
        check(unsafe { (self.fns.count)(&mut n) })?;
        Ok(n)
    }

    fn uuid(&self, index: u32) -> Result<String, NvmlError> {
        self.string(index, self.fns.uuid)
    }

    fn name(&self, index: u32) -> Result<String, NvmlError> {
        self.string(index, self.fns.name)
    }

    fn utilization(&self, index: u32) -> Result<GpuUtilization, NvmlError> {
        let f = self.fns.utilization.ok_or(NvmlError(ERROR_FUNCTION_NOT_FOUND))?;
        let d = self.device(index)?;
        let mut u = Utilization::default();
        // SAFETY: `u` is a valid out-pointer of nvmlUtilization_t's layout.
        check(unsafe { f(d, &mut u) })?;
        Ok(GpuUtilization {
            gpu_pct: u.gpu,
            memory_pct: u.memory,
        })
    }

    fn memory(&self, index: u32) -> Result<GpuMemory, NvmlError> {
        let d = self.device(index)?;
        if let Some(f) = self.fns.memory_v2 {
            let mut m = MemoryV2 {
                version: MEMORY_V2_VERSION,
                ..MemoryV2::default()
            };
            // SAFETY: `m` has nvmlMemory_v2_t's layout and its version field set.
            let rc = unsafe { f(d, &mut m) };
            if rc == SUCCESS {
                return Ok(GpuMemory {
                    total_bytes: m.total,
                    used_bytes: m.used,
                });
            }
            // Drivers that know the function but not this struct version fall through.
        }
        let f = self.fns.memory_v1.ok_or(NvmlError(ERROR_FUNCTION_NOT_FOUND))?;
        let mut m = MemoryV1::default();
        // SAFETY: `m` has nvmlMemory_t's layout.
        check(unsafe { f(d, &mut m) })?;
        Ok(GpuMemory {
            total_bytes: m.total,
            used_bytes: m.used,
        })
    }

    fn temperature_celsius(&self, index: u32) -> Result<u32, NvmlError> {
        let f = self.fns.temperature.ok_or(NvmlError(ERROR_FUNCTION_NOT_FOUND))?;
        let d = self.device(index)?;
        let mut v: c_uint = 0;
        // SAFETY: `v` is a valid out-pointer; sensor 0 is NVML_TEMPERATURE_GPU.
        check(unsafe { f(d, 0, &mut v) })?;
        Ok(v)
    }

    fn power_milliwatts(&self, index: u32) -> Result<u32, NvmlError> {
        self.uint(index, self.fns.power_usage)
    }

    fn power_limit_milliwatts(&self, index: u32) -> Result<u32, NvmlError> {
        self.uint(index, self.fns.power_limit)
    }

    fn clock_mhz(&self, index: u32, clock: Clock) -> Result<u32, NvmlError> {
        let f = self.fns.clock.ok_or(NvmlError(ERROR_FUNCTION_NOT_FOUND))?;
        let d = self.device(index)?;
        // nvmlClockType_t: NVML_CLOCK_SM 1, NVML_CLOCK_MEM 2.
        let ty = match clock {
            Clock::Sm => 1,
            Clock::Memory => 2,
        };
        let mut v: c_uint = 0;
        // SAFETY: `v` is a valid out-pointer.
        check(unsafe { f(d, ty, &mut v) })?;
        Ok(v)
    }

    fn fan_pct(&self, index: u32) -> Result<u32, NvmlError> {
        self.uint(index, self.fns.fan_speed)
    }

    fn compute_processes(&self, index: u32) -> Result<u32, NvmlError> {
        let f = self.fns.processes.ok_or(NvmlError(ERROR_FUNCTION_NOT_FOUND))?;
        let d = self.device(index)?;
        let mut n: c_uint = 0;
        // SAFETY: a zero count with no array asks only for the count.
        let rc = unsafe { f(d, &mut n, std::ptr::null_mut()) };
        if rc == SUCCESS {
            return Ok(n);
        }
        if rc != ERROR_INSUFFICIENT_SIZE {
            return Err(NvmlError(rc));
        }
        // Processes may start between the calls: ask with room to spare, a few times.
        for _ in 0..4 {
            let entries = n as usize + 16;
            let mut buf = vec![0u64; entries * PROCESS_ENTRY_BYTES / 8];
            let mut count = entries as c_uint;
            // SAFETY: `buf` has room for `count` entries of up to PROCESS_ENTRY_BYTES each,
            // more than any nvmlProcessInfo_t version, and is 8-byte aligned.
            let rc = unsafe { f(d, &mut count, buf.as_mut_ptr().cast()) };
            match rc {
                SUCCESS => return Ok(count),
                ERROR_INSUFFICIENT_SIZE => n = count.max(n.saturating_mul(2)),
                _ => return Err(NvmlError(rc)),
            }
        }
        Err(NvmlError(ERROR_INSUFFICIENT_SIZE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layouts_match_nvml_h() {
        assert_eq!(std::mem::size_of::<MemoryV2>(), 40);
        assert_eq!(MEMORY_V2_VERSION, 0x0200_0028);
        assert_eq!(std::mem::size_of::<MemoryV1>(), 24);
        assert_eq!(std::mem::size_of::<Utilization>(), 8);
    }

    #[test]
    fn buffers_stop_at_the_nul() {
        let mut b = [0 as c_char; 8];
        for (i, c) in b"GPU-1\0zz".iter().enumerate() {
            b[i] = *c as c_char;
        }
        assert_eq!(buf_string(&b), "GPU-1");
    }

    #[test]
    fn no_library_means_no_gpu() {
        // Where the driver is installed this opens it; elsewhere it must fail as "no GPU".
        match Nvml::open().and_then(|n| n.init().map(|()| n)) {
            Ok(n) => assert!(n.count().is_ok()),
            Err(e) => assert!(e.means_no_gpu(), "{e:?}"),
        }
    }
}
