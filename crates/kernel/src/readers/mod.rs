//! The readers a process keeps between queries (open files, caches, a library handle), one
//! module per kind of host fact. Each returns the kernel's facts as plain structs; turning
//! them into a table's rows happens in sysmon-core's `tables`.
//!
//! | module | reader | for the table |
//! |---|---|---|
//! | [`freq`] | [`FreqReader`](freq::FreqReader), [`frequencies`](freq::frequencies) | `system_cpus()` |
//! | [`disk_class`] | [`DiskClasses`](disk_class::DiskClasses), [`classify`](disk_class::classify) | `system_disks()` |
//! | [`stat_guard`] | [`StatGuard`](stat_guard::StatGuard) | `system_filesystems()` |
//! | [`gpu`] | [`GpuReader`](gpu::GpuReader), [`GpuApi`](gpu::GpuApi) | `system_gpus()` |
//! | [`links`] | [`LinkReader`](links::LinkReader), [`link_info`](links::link_info) | `system_networks()` |
//! | [`processes`] | [`ProcessCollector`](processes::ProcessCollector) | `system_processes()` |
//! | [`sensors`] | [`SensorReader`](sensors::SensorReader) | `system_sensors()` |
//! | [`signal`] | [`signal_process`](signal::signal_process) | `sysmon top`'s `k` (not a table) |

pub mod disk_class;
pub mod freq;
pub mod gpu;
pub mod links;
pub mod nvml;
pub mod processes;
pub mod sensors;
pub mod signal;
pub mod stat_guard;
