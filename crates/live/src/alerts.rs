//! The alerts' live state: what each running alert shows now (its instances, for `/metrics`'
//! `ALERTS` series and the dashboard), the recent transitions (`alert_transitions()`), and
//! the transitions waiting for the recorder of their alert's `dir` (the `alerts` table).
//!
//! The alert engine (`sysmon_alert`) writes here; the tables, the recorder and the server
//! read here, so none of them depends on the engine. Everything is bounded: the recent ring
//! keeps [`RECENT_MAX`] transitions; each folder's queue keeps [`QUEUE_MAX`] and counts what
//! it had to drop ([`AlertBoard::queue_dropped`]), so a folder whose recorder was stopped
//! cannot grow the process without end.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sysmon_kernel::sync::lock;

/// Transitions kept for `alert_transitions()`.
pub const RECENT_MAX: usize = 10_000;
/// Transitions kept per recording folder while no recorder takes them.
pub const QUEUE_MAX: usize = 100_000;

/// One instance of an alert as it stands: the rows of `ALERTS{...}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub alertname: String,
    /// `pending` or `firing` (a resolved instance is gone).
    pub state: &'static str,
    pub severity: Option<String>,
    /// The instance's labels (its row's non-numeric columns), in the query's column order.
    pub labels: Vec<(String, String)>,
    /// The first numeric column of its row (Prometheus' `$value`); `None` when there is none
    /// or it was NULL.
    pub value: Option<f64>,
    /// When the instance first appeared (µs since the epoch).
    pub active_since_us: i64,
    /// The summary with the row's values filled in.
    pub summary: Option<String>,
}

/// One change of an instance's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// Order of the process's transitions, from 1.
    pub seq: u64,
    /// When it happened (µs since the epoch): the evaluation that saw it.
    pub ts_us: i64,
    pub alertname: String,
    /// `pending`, `firing`, `resolved`, or `repeat` (a firing instance notified again).
    pub state: &'static str,
    pub severity: Option<String>,
    /// The labels as a JSON object (`{"mount_point":"/"}`), keys in the query's order.
    pub labels_json: String,
    pub value: Option<f64>,
    /// Every column of the row, labels and values, as a JSON object.
    pub row_json: String,
    pub summary: Option<String>,
    /// When the instance first appeared.
    pub active_since_us: i64,
}

/// What the alerts of a process show (one per [`crate::LiveState`]).
#[derive(Debug, Default)]
pub struct AlertBoard {
    series: Mutex<BTreeMap<String, Arc<Vec<Series>>>>,
    recent: Mutex<Recent>,
    queues: Mutex<HashMap<PathBuf, Queue>>,
}

#[derive(Debug, Default)]
struct Recent {
    next_seq: u64,
    ring: VecDeque<Transition>,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Transition>,
    dropped: u64,
}

impl AlertBoard {
    /// Replaces alert `name`'s instances (after each of its evaluations).
    pub fn set_series(&self, name: &str, series: Vec<Series>) {
        lock(&self.series).insert(name.to_string(), Arc::new(series));
    }

    /// Forgets alert `name` (it was stopped).
    pub fn remove(&self, name: &str) {
        lock(&self.series).remove(name);
    }

    /// Every running alert's instances, by alert name.
    pub fn series(&self) -> Vec<(String, Arc<Vec<Series>>)> {
        lock(&self.series).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Adds transitions (their `seq` is given here), to the recent ring and, when `dir` is
    /// set, to that folder's queue for its recorder. Returns the transitions as numbered.
    pub fn push(&self, dir: Option<&Path>, mut items: Vec<Transition>) -> Vec<Transition> {
        {
            let mut recent = lock(&self.recent);
            for t in &mut items {
                recent.next_seq += 1;
                t.seq = recent.next_seq;
                if recent.ring.len() == RECENT_MAX {
                    recent.ring.pop_front();
                }
                recent.ring.push_back(t.clone());
            }
        }
        if let Some(dir) = dir {
            let mut queues = lock(&self.queues);
            let q = queues.entry(dir.to_path_buf()).or_default();
            for t in &items {
                if q.items.len() == QUEUE_MAX {
                    q.items.pop_front();
                    q.dropped += 1;
                }
                q.items.push_back(t.clone());
            }
        }
        items
    }

    /// The recent transitions, oldest first.
    pub fn recent(&self) -> Vec<Transition> {
        lock(&self.recent).ring.iter().cloned().collect()
    }

    /// Takes every transition waiting for the recorder of folder `dir` (the recorder's tick of
    /// the `alerts` table): each is handed out once.
    pub fn drain(&self, dir: &Path) -> Vec<Transition> {
        match lock(&self.queues).get_mut(dir) {
            Some(q) => q.items.drain(..).collect(),
            None => Vec::new(),
        }
    }

    /// Transitions waiting for folder `dir`'s recorder.
    pub fn queued(&self, dir: &Path) -> usize {
        lock(&self.queues).get(dir).map_or(0, |q| q.items.len())
    }

    /// Transitions folder `dir`'s queue dropped because no recorder took them in time.
    pub fn queue_dropped(&self, dir: &Path) -> u64 {
        lock(&self.queues).get(dir).map_or(0, |q| q.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> Transition {
        Transition {
            seq: 0,
            ts_us: 1,
            alertname: name.into(),
            state: "firing",
            severity: None,
            labels_json: "{}".into(),
            value: None,
            row_json: "{}".into(),
            summary: None,
            active_since_us: 1,
        }
    }

    #[test]
    fn numbers_transitions_and_hands_each_to_its_folder_once() {
        let b = AlertBoard::default();
        let d = Path::new("/rec");
        let out = b.push(Some(d), vec![t("a"), t("b")]);
        assert_eq!(out.iter().map(|t| t.seq).collect::<Vec<_>>(), [1, 2]);
        b.push(None, vec![t("c")]);
        assert_eq!(b.recent().len(), 3);
        assert_eq!(b.queued(d), 2);
        let got = b.drain(d);
        assert_eq!(got.iter().map(|t| t.alertname.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(b.drain(d).is_empty());
        assert!(b.drain(Path::new("/other")).is_empty());
    }

    #[test]
    fn bounds_the_ring_and_counts_what_a_queue_drops() {
        let b = AlertBoard::default();
        let d = Path::new("/rec");
        b.push(Some(d), (0..QUEUE_MAX + 5).map(|_| t("a")).collect());
        assert_eq!(b.queued(d), QUEUE_MAX);
        assert_eq!(b.queue_dropped(d), 5);
        assert_eq!(b.recent().len(), RECENT_MAX);
        assert_eq!(b.recent().last().unwrap().seq, (QUEUE_MAX + 5) as u64);
    }

    #[test]
    fn series_replace_and_remove() {
        let b = AlertBoard::default();
        b.set_series("x", vec![]);
        b.set_series("x", vec![]);
        assert_eq!(b.series().len(), 1);
        b.remove("x");
        assert!(b.series().is_empty());
    }
}
