//! `alert_transitions()`: the recent state changes of the running alerts, and the recorded
//! `alerts` table of an alert's `dir`.
//!
//! The alert engine (`sysmon_alert`) puts each transition on the process's
//! [`AlertBoard`](sysmon_live::alerts::AlertBoard). The SQL function shows the board's recent
//! ring (the last [`RECENT_MAX`](sysmon_live::alerts::RECENT_MAX)); a recorder of the
//! `alerts` table takes, at each tick, the transitions queued for its own folder (the
//! [`Tick::dir`]), each exactly once, so `read_recording(dir, 'alerts')` returns every
//! transition of the alerts started with that `dir`.

use std::io;

use super::{Input, Table, Tick};
use crate::schema::Timestamp;
use sysmon_kernel::access::HostPath;
use sysmon_kernel::host;
use sysmon_live::LiveState;
use sysmon_live::alerts::Transition;
use sysmon_live::ring::Window;

crate::declare_table! {
    /// One row per state change of an alert instance: it appeared (`pending`), held for the
    /// alert's `for` (`firing`), was notified again after `repeat` (`repeat`), or is gone
    /// (`resolved`). Live: the process's recent transitions. Recorded as `alerts` in the
    /// `dir` of the alerts that name one.
    pub struct AlertTransitionRow => "alert_transitions", recorded as "alerts" every interval when named {
        /// When the evaluation that saw the change ran.
        ts: Timestamp [""],
        /// Host name at that time.
        hostname: String [""],
        /// The order of the process's transitions, from 1 at its first.
        seq: u64 [""],
        /// The alert's name (`alert_metrics`' first argument).
        alertname: String [""],
        /// `pending`, `firing`, `repeat` or `resolved`.
        state: String [""],
        /// The alert's `severity`; NULL when it has none.
        severity: Option<String> [""],
        /// The instance's labels as a JSON object: its row's non-numeric columns, such as `{"mount_point":"/"}` (`{}` when the query returns only numbers).
        labels: String [""],
        /// The row's first numeric column (Prometheus' `$value`); NULL when it has none or it is NULL.
        value: Option<f64> [""],
        /// Every column of the row as a JSON object.
        row: String [""],
        /// The alert's `summary` with the row's columns filled in; NULL when it has none.
        summary: Option<String> [""],
        /// When the instance first appeared (its `pending` transition).
        active_since: Timestamp [""],
    }
}

impl AlertTransitionRow {
    fn of(t: &Transition, hostname: &str) -> AlertTransitionRow {
        AlertTransitionRow {
            ts: Timestamp::from_micros(t.ts_us),
            hostname: hostname.to_string(),
            seq: t.seq,
            alertname: t.alertname.clone(),
            state: t.state.to_string(),
            severity: t.severity.clone(),
            labels: t.labels_json.clone(),
            value: t.value,
            row: t.row_json.clone(),
            summary: t.summary.clone(),
            active_since: Timestamp::from_micros(t.active_since_us),
        }
    }
}

/// The transitions a query or a tick gets.
#[derive(Clone, Debug, Default)]
pub struct AlertEvents(pub Vec<Transition>);

impl Input for AlertEvents {
    const WINDOWED: bool = false;
    const READS: bool = true;
    const FILES: &'static [&'static str] = &[];
    const DRAINED: bool = true;

    fn live(state: &LiveState, _: Window, _: &[usize]) -> io::Result<Self> {
        Ok(AlertEvents(state.alerts().recent()))
    }

    /// What was queued for this recorder's folder since its previous tick.
    fn tick(state: &LiveState, tick: &Tick, _: Option<&Self>) -> io::Result<Self> {
        Ok(AlertEvents(state.alerts().drain(&tick.dir)))
    }
}

/// `alert_transitions()`.
pub struct AlertTransitions;

impl Table for AlertTransitions {
    type Row = AlertTransitionRow;
    type Options = ();
    type Input = AlertEvents;
    const SUMMARY: &'static str = "The recent state changes of the running alerts (pending, firing, repeat, resolved); recorded as alerts in an alert's dir.";
    const EXAMPLE: &'static str =
        "SELECT ts, alertname, state, labels, value FROM alert_transitions() ORDER BY seq DESC LIMIT 20";
    const FILES: &'static [&'static str] = &[];
    const HOST_PATHS: &'static [HostPath] = &[];

    fn rows(input: &AlertEvents, _: &LiveState, _: &()) -> io::Result<Vec<AlertTransitionRow>> {
        let hostname = host::hostname();
        Ok(input.0.iter().map(|t| AlertTransitionRow::of(t, &hostname)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use sysmon_kernel::procfs::Roots;
    use sysmon_kernel::sample::Collector;

    fn transition(name: &str) -> Transition {
        Transition {
            seq: 0,
            ts_us: 5_000_000,
            alertname: name.into(),
            state: "pending",
            severity: Some("page".into()),
            labels_json: r#"{"mount_point":"/"}"#.into(),
            value: Some(93.5),
            row_json: r#"{"mount_point":"/","used_pct":93.5}"#.into(),
            summary: Some("/ is 93.5% full".into()),
            active_since_us: 5_000_000,
        }
    }

    #[test]
    fn live_rows_are_the_recent_ring_and_a_tick_takes_its_folder_once() {
        let state = LiveState::new(Roots::test_fixture("modern"));
        state
            .alerts()
            .push(Some(Path::new("/rec")), vec![transition("disk_full")]);
        state.alerts().push(None, vec![transition("other")]);
        let live = AlertEvents::live(&state, Window::Default, &[]).unwrap();
        let rows = AlertTransitions::rows(&live, &state, &()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].alertname, "disk_full");
        assert_eq!(rows[0].seq, 1);
        assert_eq!(rows[0].value, Some(93.5));
        assert_eq!(rows[0].ts.micros, 5_000_000);

        let host = Arc::new(Collector::new(Roots::test_fixture("modern")).sample().unwrap());
        let tick = Tick {
            prev_host: host.clone(),
            host,
            dir: Arc::from(PathBuf::from("/rec")),
        };
        assert_eq!(AlertEvents::tick(&state, &tick, None).unwrap().0.len(), 1);
        assert!(AlertEvents::tick(&state, &tick, None).unwrap().0.is_empty());
    }
}
