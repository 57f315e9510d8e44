//! The sampling thread: waits for each tick, reads the host, hands the sample on.
//!
//! Per tick it does the reads (the [`Collector`]'s kept-open files, `pread` from offset 0 into
//! kept buffers, and the reads of the tables due at the tick, see [`sysmon_tables::recorded`]), one
//! `Arc` for the sample, a push into the live ring and a non-blocking send to the writer
//! thread. Everything else (rows of the windowed tables, encoding, files) is the writer's.
//!
//! Tick `k` is due at `k × interval` of the wall clock (microseconds since the epoch). The
//! thread sleeps until the next due time (interruptible by a stop request), samples, and
//! counts the slots it skipped as missed: a late tick is never made up by a burst.
//!
//! Every row a tick records carries the tick's time as `ts` ([`tick_ts`]): the tick's due time
//! when its reads began within [`TS_TOLERANCE_US`] of it (as Prometheus aligns scrape
//! timestamps), else the moment they began. Rows of one tick share one `ts` in every table, rows
//! of hosts on one interval line up, and the column compresses to almost nothing. Window lengths
//! and rates are measured on the monotonic clock and are not affected.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use super::{Config, Shared, thread_cpu_ns, wall_us};
use sysmon_kernel::sample::{Collector, HostSample};
use sysmon_live::LiveState;
use sysmon_tables::Tick;
use sysmon_tables::recorded::{RecordedTable, TickRows};
use sysmon_tables::schema::Cadence;

/// How late (microseconds) a tick's reads may begin and its rows still carry its due time as
/// `ts`: 2 ms, Prometheus's tolerance for the same alignment (`ScrapeTimestampTolerance`). On a
/// real hour at 1 Hz, 96% of the ticks began within it (median 0.2 ms late); aligned, the
/// default tables' merged files were 3% smaller (docs/recorder.md, "Round four").
pub const TS_TOLERANCE_US: i64 = 2_000;

/// The `ts` of a tick due at `due_us` whose reads began at `read_us` (microseconds since the
/// epoch): `due_us` when the reads began at most [`TS_TOLERANCE_US`] after it, else `read_us`
/// (a late tick, or a wall clock stepped back, keeps the moment of its reads).
pub fn tick_ts(due_us: i64, read_us: i64) -> i64 {
    if (0..=TS_TOLERANCE_US).contains(&read_us.saturating_sub(due_us)) {
        due_us
    } else {
        read_us
    }
}

/// One tick, as the writer receives it.
pub struct Sampled {
    /// The `ts` of every row of this tick (microseconds since the epoch, see [`tick_ts`]).
    pub ts: i64,
    /// The host sample (shared with the live ring).
    pub host: Arc<HostSample>,
    /// The reads of the tables due at this tick: (index into `config.tables`, reads).
    pub tables: Vec<(usize, Box<dyn TickRows>)>,
}

/// The recorded tables as the sampling thread drives them.
pub struct Tables {
    tables: Vec<(usize, Cadence, Box<dyn RecordedTable>)>,
    prev_host: Arc<HostSample>,
    dir: Arc<std::path::Path>,
}

impl Tables {
    /// The drivers of `config`'s tables; the first tick's window starts at `baseline`.
    pub fn new(config: &Config, baseline: Arc<HostSample>) -> Tables {
        Tables {
            tables: config
                .tables
                .iter()
                .enumerate()
                .map(|(i, t)| (i, t.cadence, (t.entry.recorder)()))
                .collect(),
            prev_host: baseline,
            dir: Arc::from(config.dir.as_path()),
        }
    }

    /// The reads of one tick: every host-cadence table, and the process-cadence ones when
    /// `process_due`. A table whose reads fail is left out of this tick, with `on_error` told.
    pub fn tick(
        &mut self,
        state: &LiveState,
        host: Arc<HostSample>,
        process_due: bool,
        mut on_error: impl FnMut(usize, std::io::Error),
    ) -> Sampled {
        let tick = Tick {
            prev_host: std::mem::replace(&mut self.prev_host, host.clone()),
            host,
            dir: self.dir.clone(),
        };
        let mut tables = Vec::with_capacity(self.tables.len());
        for (i, cadence, t) in &mut self.tables {
            if *cadence == Cadence::Process && !process_due {
                continue;
            }
            match t.sample(state, &tick) {
                Ok(rows) => tables.push((*i, rows)),
                Err(e) => on_error(*i, e),
            }
        }
        Sampled {
            ts: tick.host.ts.micros,
            host: tick.host,
            tables,
        }
    }

    /// At stop: the reads of the tables whose input is a queue only the recorder empties
    /// ([`sysmon_tables::Input::DRAINED`], the alerts' transitions), over the last host
    /// sample, at `now_us`; `None` when the recorder has none of them.
    pub fn last_drain(
        &mut self,
        state: &LiveState,
        now_us: i64,
        mut on_error: impl FnMut(usize, std::io::Error),
    ) -> Option<Sampled> {
        if !self.tables.iter().any(|(_, _, t)| t.drained()) {
            return None;
        }
        let tick = Tick {
            prev_host: self.prev_host.clone(),
            host: self.prev_host.clone(),
            dir: self.dir.clone(),
        };
        let mut tables = Vec::new();
        for (i, _, t) in &mut self.tables {
            if !t.drained() {
                continue;
            }
            match t.sample(state, &tick) {
                Ok(rows) => tables.push((*i, rows)),
                Err(e) => on_error(*i, e),
            }
        }
        Some(Sampled {
            ts: now_us,
            host: tick.host,
            tables,
        })
    }
}

/// The slot of the next tick strictly after `now_us`, for an interval of `iv_us`.
pub fn next_slot(now_us: i64, iv_us: i64) -> i64 {
    now_us.div_euclid(iv_us) + 1
}

pub fn run(
    config: Config,
    shared: Arc<Shared>,
    state: Arc<LiveState>,
    collector: Collector,
    baseline: Arc<HostSample>,
    tx: SyncSender<Sampled>,
) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        body(&config, &shared, &state, collector, baseline, &tx)
    }));
    if let Err(panic) = result {
        let what = super::panic_text(&*panic);
        shared.error(format!("internal error: the sampling thread panicked: {what}"));
    }
    // Dropping `tx` (at return) tells the writer to make its final flush.
}

fn body(
    config: &Config,
    shared: &Shared,
    state: &LiveState,
    mut collector: Collector,
    baseline: Arc<HostSample>,
    tx: &SyncSender<Sampled>,
) {
    let iv_us = i64::try_from(config.interval.as_micros()).unwrap_or(i64::MAX).max(1);
    let piv_us = i64::try_from(config.process_interval.as_micros())
        .unwrap_or(i64::MAX)
        .max(1);
    let mut tables = Tables::new(config, baseline);
    let mut last_slot: Option<i64> = None;
    let mut last_process_slot: Option<i64> = None;
    let mut slot = next_slot(wall_us(), iv_us);
    'ticks: loop {
        // Sleep until the slot's due time on the wall clock.
        let due = slot.saturating_mul(iv_us);
        loop {
            let now = wall_us();
            if now >= due {
                break;
            }
            let wait = Duration::from_micros((due - now) as u64);
            if shared.sleep_until(Instant::now() + wait) {
                break 'ticks;
            }
        }
        if shared.stop_requested() {
            break 'ticks;
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
            Ok(mut sample) => {
                sample.instant = state.now();
                let host = Arc::new(sample);
                state.publish(host.clone());
                let pslot = now.div_euclid(piv_us);
                let process_due = last_process_slot != Some(pslot);
                last_process_slot = Some(pslot);
                let mut sampled = tables.tick(state, host, process_due, |i, e| {
                    shared.error(format!("cannot sample {}: {e}", config.tables[i].name()))
                });
                sampled.ts = tick_ts(served.saturating_mul(iv_us), sampled.host.ts.micros);
                match tx.try_send(sampled) {
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
    // What is queued for the recorder alone (the alerts' last transitions) goes into the final
    // flush; the writer is still running, so a blocking send.
    if let Some(last) = tables.last_drain(state, wall_us(), |i, e| {
        shared.error(format!("cannot sample {}: {e}", config.tables[i].name()))
    }) {
        let _ = tx.send(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_within_the_tolerance_carries_its_due_time() {
        let due = 1_700_000_000_000_000;
        assert_eq!(tick_ts(due, due), due);
        assert_eq!(tick_ts(due, due + 1), due);
        assert_eq!(tick_ts(due, due + TS_TOLERANCE_US), due);
        // Late: the moment of the reads.
        assert_eq!(tick_ts(due, due + TS_TOLERANCE_US + 1), due + TS_TOLERANCE_US + 1);
        // A wall clock stepped back between the wake-up and the reads.
        assert_eq!(tick_ts(due, due - 5), due - 5);
        assert_eq!(tick_ts(i64::MIN, i64::MAX), i64::MAX);
    }

    #[test]
    fn slots_are_aligned_on_the_wall_clock() {
        assert_eq!(next_slot(0, 1_000_000), 1);
        assert_eq!(next_slot(999_999, 1_000_000), 1);
        assert_eq!(next_slot(1_000_000, 1_000_000), 2);
        assert_eq!(next_slot(1_234_567, 250_000), 5);
    }

    /// At stop, the alerts' transitions queued since the last tick are taken once more (an
    /// alert stopped at process exit left its last one behind before); a recorder without
    /// the alerts table takes no last tick.
    #[test]
    fn the_last_drain_takes_what_is_queued_for_the_folder() {
        use sysmon_kernel::procfs::Roots;
        use sysmon_live::alerts::Transition;
        use sysmon_tables::recorded::find;
        let state = LiveState::new(Roots::test_fixture("modern"));
        let dir = std::env::temp_dir().join("sysmon-last-drain");
        let config = |names: &[&str]| Config {
            dir: dir.clone(),
            remote: None,
            interval: Duration::from_millis(20),
            process_interval: Duration::from_secs(3600),
            flush_interval: Duration::from_secs(1),
            publish_interval: Duration::from_secs(1),
            tables: names.iter().map(|n| find(n).unwrap()).collect(),
            retention: None,
            max_bytes: None,
            host: "h".into(),
            checked_at: std::time::Instant::now(),
            faults: sysmon_store::faults::Hooks::default(),
        };
        let sample = || Arc::new(Collector::new(Roots::test_fixture("modern")).sample().unwrap());
        let mut without = Tables::new(&config(&["metrics"]), sample());
        assert!(without.last_drain(&state, 1, |i, e| panic!("table {i}: {e}")).is_none());
        let mut tables = Tables::new(&config(&["metrics", "alerts"]), sample());
        let t = Transition {
            seq: 0,
            ts_us: 5_000_000,
            alertname: "disk_full".into(),
            state: "resolved",
            severity: None,
            labels_json: "{}".into(),
            value: None,
            row_json: "{}".into(),
            summary: None,
            active_since_us: 4_000_000,
        };
        state.alerts().push(Some(&dir), vec![t]);
        assert_eq!(state.alerts().queued(&dir), 1);
        let last = tables.last_drain(&state, 7, |i, e| panic!("table {i}: {e}")).unwrap();
        assert_eq!(last.ts, 7);
        let only: Vec<usize> = last.tables.iter().map(|(i, _)| *i).collect();
        assert_eq!(only, vec![1], "the alerts table alone, not another metrics row");
        assert_eq!(state.alerts().queued(&dir), 0, "taken");
    }

    /// Host-cadence tables are read at every tick (sensors and gpus among them: a snapshot
    /// table once was taken only at process ticks, so sensors were never recorded), the
    /// process-cadence ones only at the ticks where `process_interval` is due.
    #[test]
    fn host_cadence_tables_every_tick_process_cadence_when_due() {
        use sysmon_kernel::procfs::Roots;
        use sysmon_tables::recorded::find;
        let state = LiveState::new(Roots::test_fixture("modern"));
        let config = Config {
            dir: std::env::temp_dir(),
            remote: None,
            interval: Duration::from_millis(20),
            process_interval: Duration::from_secs(3600),
            flush_interval: Duration::from_secs(1),
            publish_interval: Duration::from_secs(1),
            tables: ["metrics", "sensors", "cgroups"]
                .iter()
                .map(|n| find(n).unwrap())
                .collect(),
            retention: None,
            max_bytes: None,
            host: "h".into(),
            checked_at: std::time::Instant::now(),
            faults: sysmon_store::faults::Hooks::default(),
        };
        let sample = || Arc::new(Collector::new(Roots::test_fixture("modern")).sample().unwrap());
        let mut tables = Tables::new(&config, sample());
        let ticks: Vec<Sampled> = (0..4)
            .map(|i| tables.tick(&state, sample(), i == 0, |i, e| panic!("table {i}: {e}")))
            .collect();
        let with = |i: usize| ticks.iter().filter(|t| t.tables.iter().any(|(j, _)| *j == i)).count();
        assert_eq!(with(0), 4, "metrics at every tick");
        assert_eq!(with(1), 4, "sensors (host cadence) at every tick");
        assert_eq!(with(2), 1, "cgroups (process cadence) when due only");
    }
}
