//! The sampling thread: waits for each tick, reads the host, hands the sample on.
//!
//! Per tick it does the reads (the [`Collector`]'s kept-open files, `pread` from offset 0 into
//! kept buffers), one `Arc` for the sample, a push into the live ring and a non-blocking send
//! to the writer thread. Everything else (rows, encoding, files) is the writer's.
//!
//! Tick `k` is due at `k × interval` of the wall clock (microseconds since the epoch). The
//! thread sleeps until the next due time (interruptible by a stop request), samples, and
//! counts the slots it skipped as missed: a late tick is never made up by a burst.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use super::tables::{AnySnap, Cadence, ErasedSnapshot, Source};
use super::{Config, Shared, thread_cpu_ns, wall_us};
use crate::sample::{Collector, HostSample};

/// One tick, as the writer receives it.
pub struct Tick {
    /// The host sample (shared with the live ring).
    pub host: Arc<HostSample>,
    /// Snapshots taken at this tick, of the snapshot tables due (host-cadence ones every tick,
    /// process-cadence ones at `process_interval`): (index into `config.tables`, snapshot).
    pub snaps: Vec<(usize, AnySnap)>,
}

/// The slot of the next tick strictly after `now_us`, for an interval of `iv_us`.
pub fn next_slot(now_us: i64, iv_us: i64) -> i64 {
    now_us.div_euclid(iv_us) + 1
}

pub fn run(config: Config, shared: Arc<Shared>, collector: Collector, tx: SyncSender<Tick>) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&config, &shared, collector, &tx)));
    if let Err(panic) = result {
        let what = super::panic_text(&*panic);
        shared.error(format!("internal error: the sampling thread panicked: {what}"));
    }
    // Dropping `tx` (at return) tells the writer to make its final flush.
}

fn body(config: &Config, shared: &Shared, mut collector: Collector, tx: &SyncSender<Tick>) {
    let iv_us = i64::try_from(config.interval.as_micros()).unwrap_or(i64::MAX).max(1);
    let piv_us = i64::try_from(config.process_interval.as_micros())
        .unwrap_or(i64::MAX)
        .max(1);
    let mut snapshotters: Vec<(usize, Cadence, ErasedSnapshot)> = config
        .tables
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t.source {
            Source::Snapshot(make) => Some((i, t.cadence, make())),
            Source::Host(_) => None,
        })
        .collect();
    let mut last_slot: Option<i64> = None;
    let mut last_process_slot: Option<i64> = None;
    let mut slot = next_slot(wall_us(), iv_us);
    loop {
        // Sleep until the slot's due time on the wall clock.
        let due = slot.saturating_mul(iv_us);
        loop {
            let now = wall_us();
            if now >= due {
                break;
            }
            let wait = Duration::from_micros((due - now) as u64);
            if shared.sleep_until(Instant::now() + wait) {
                return;
            }
        }
        if shared.stop_requested() {
            return;
        }
        let now = wall_us();
        let served = now.div_euclid(iv_us);
        if let Some(last) = last_slot
            && served > last + 1
        {
            shared
                .samples_missed
                .fetch_add((served - last - 1) as u64, Ordering::Relaxed);
        }
        last_slot = Some(served);
        match collector.sample() {
            Ok(sample) => {
                let host = Arc::new(sample);
                crate::live::publish(host.clone());
                let mut snaps = Vec::new();
                let pslot = now.div_euclid(piv_us);
                let process_tick = last_process_slot != Some(pslot);
                last_process_slot = Some(pslot);
                for (i, cadence, s) in snapshotters.iter_mut() {
                    if *cadence == Cadence::Process && !process_tick {
                        continue;
                    }
                    match (s.take)() {
                        Ok(snap) => snaps.push((*i, snap)),
                        Err(e) => shared.error(format!("cannot sample {}: {e}", config.tables[*i].name())),
                    }
                }
                match tx.try_send(Tick { host, snaps }) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        shared.samples_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
                shared.samples_taken.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                shared.samples_missed.fetch_add(1, Ordering::Relaxed);
                shared.error(format!("cannot sample the host: {e}"));
            }
        }
        shared.sampler_cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
        slot = next_slot(wall_us(), iv_us).max(served + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_aligned_on_the_wall_clock() {
        assert_eq!(next_slot(0, 1_000_000), 1);
        assert_eq!(next_slot(999_999, 1_000_000), 1);
        assert_eq!(next_slot(1_000_000, 1_000_000), 2);
        assert_eq!(next_slot(1_234_567, 250_000), 5);
    }

    #[test]
    fn host_cadence_snapshot_tables_are_taken_every_tick() {
        use super::super::tables::find;
        use crate::procfs::Roots;
        let config = Config {
            dir: std::env::temp_dir(),
            interval: Duration::from_millis(20),
            process_interval: Duration::from_secs(3600),
            flush_interval: Duration::from_secs(1),
            tables: ["metrics", "sensors", "cgroups"]
                .iter()
                .map(|n| find(n).unwrap())
                .collect(),
            retention: None,
            max_bytes: None,
            host: "h".into(),
        };
        let shared = Arc::new(Shared::new());
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || body(&config, &shared, Collector::new(Roots::default()), &tx))
        };
        let ticks: Vec<Tick> = (0..4)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("a tick"))
            .collect();
        shared.request_stop();
        thread.join().unwrap();
        let with = |i: usize| ticks.iter().filter(|t| t.snaps.iter().any(|(j, _)| *j == i)).count();
        assert_eq!(with(1), 4, "sensors (host cadence) at every tick");
        assert!((1..=2).contains(&with(2)), "cgroups (process cadence) once an hour");
        assert_eq!(with(0), 0, "metrics come from the host sample");
    }
}
