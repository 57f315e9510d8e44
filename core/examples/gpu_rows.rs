//! Prints `system_gpus()`'s rows from the real NVML layer as CSV, in the order and units of
//! `nvidia-smi --query-gpu=index,uuid,name,utilization.gpu,utilization.memory,memory.total,
//! memory.used,temperature.gpu,power.draw,power.limit,clocks.sm,clocks.mem,fan.speed
//! --format=csv,noheader,nounits` (memory in MiB, `[N/A]` for NULL), then the compute process
//! count and what reading the GPUs costs.
//!
//! `cargo run -p sysmon-core --example gpu_rows [-- --repeat N]`

use std::time::{Duration, Instant};

use sysmon_tables::gpus;
use sysmon_tables::schema::Timestamp;

fn main() {
    let repeat: usize = std::env::args()
        .skip_while(|a| a != "--repeat")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let state = &sysmon_core::process::process().live;
    let t0 = Instant::now();
    let (available, version) = gpus::driver(state);
    let init = t0.elapsed();
    println!(
        "# nvml_available={available} nvidia_driver_version={} present={} init_ms={:.1}",
        version.as_deref().unwrap_or("NULL"),
        gpus::present(state),
        init.as_secs_f64() * 1e3
    );
    let rows = match gpus::collect(state, Timestamp::now(), "h") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gpu_rows: {e}");
            std::process::exit(1);
        }
    };
    let na = "[N/A]".to_string();
    let num = |v: Option<f64>, decimals: usize| v.map_or(na.clone(), |v| format!("{v:.decimals$}"));
    let mib = |v: Option<u64>| v.map_or(na.clone(), |v| format!("{}", v / (1 << 20)));
    for g in &rows {
        println!(
            "{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}",
            g.index,
            g.uuid.as_deref().unwrap_or("[N/A]"),
            g.name.as_deref().unwrap_or("[N/A]"),
            num(g.utilization_pct, 0),
            num(g.memory_utilization_pct, 0),
            mib(g.memory_total_bytes),
            mib(g.memory_used_bytes),
            num(g.temperature_celsius, 0),
            num(g.power_watts, 2),
            num(g.power_limit_watts, 2),
            num(g.sm_clock_mhz, 0),
            num(g.memory_clock_mhz, 0),
            num(g.fan_pct, 0),
        );
    }
    for g in &rows {
        println!(
            "# gpu {} processes={} memory_used_bytes={} memory_total_bytes={}",
            g.index,
            g.processes.map_or(na.clone(), |p| p.to_string()),
            g.memory_used_bytes.map_or(na.clone(), |p| p.to_string()),
            g.memory_total_bytes.map_or(na.clone(), |p| p.to_string()),
        );
    }
    if !available {
        return;
    }
    let mut times: Vec<Duration> = (0..repeat)
        .map(|_| {
            let t = Instant::now();
            let r = gpus::collect(state, Timestamp::now(), "h");
            let d = t.elapsed();
            assert!(r.is_ok());
            d
        })
        .collect();
    times.sort();
    if let Some(median) = times.get(times.len() / 2) {
        println!(
            "# collect over {} calls: median {:.1} us, min {:.1} us, max {:.1} us ({} GPUs)",
            times.len(),
            median.as_secs_f64() * 1e6,
            times[0].as_secs_f64() * 1e6,
            times[times.len() - 1].as_secs_f64() * 1e6,
            rows.len()
        );
    }
}
