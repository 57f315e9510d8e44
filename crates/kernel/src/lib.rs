//! sysmon-kernel: what sysmon reads from the Linux kernel, and nothing above it. It depends on
//! no other sysmon crate.
//!
//! * [`procfs`]: parsers of `/proc` and `/sys` files, kept-open files, the netlink sockets
//!   (root injectable for fixture trees: [`procfs::Roots`]);
//! * [`sample`]: one reading of the host-wide files, and the [`Collector`](sample::Collector)
//!   that takes it with kept-open descriptors;
//! * [`readers`]: the per-table readers a process keeps (CPU clocks, disk classes, the
//!   `statvfs` guard, GPUs, network links, processes, sensors);
//! * [`readers::nvml`]: NVIDIA's management library, opened at run time (the GPU reader's);
//! * [`clock`]: the monotonic clock windows are measured on (real and fake);
//! * [`time`]: [`Timestamp`](time::Timestamp), wall-clock microseconds since the epoch;
//! * [`bound`]: the longest wait a call may make inside a query;
//! * [`access`]: which host paths a function reads, and whether DuckDB's lockdown allows them;
//! * [`host`], [`interval`], [`sync`]: static host facts, DuckDB interval text, a poison-proof
//!   lock.
//!
//! Linux only: the readers need `/proc` and `/sys`.

pub mod access;
pub mod bound;
pub mod clock;
pub mod host;
pub mod interval;
pub mod procfs;
pub mod readers;
pub mod sample;
pub mod sync;
pub mod time;
