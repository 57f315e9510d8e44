//! The state of an alert's instances, as a pure function of its evaluations.
//!
//! Each row the query returns is one instance, named by its labels: the row's non-numeric
//! columns (Prometheus names series by their labels, not their values, so a disk whose
//! `used_pct` moves from 91 to 92 stays the same instance). An instance is `pending` when it
//! first appears, `firing` once it has been present for the alert's `for` (at once when `for`
//! is 0, without a `pending` step, as Prometheus does), and `resolved` when a later
//! evaluation no longer returns it. A firing instance is notified again every `repeat`.
//! [`Instances::step`] takes one evaluation's rows and says what changed; the engine records
//! and delivers that.

use std::time::Duration;

/// One value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Number(f64),
    Text(String),
}

/// What an evaluation returned: the columns (name, whether numeric) and the rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<(String, bool)>,
    pub rows: Vec<Vec<Value>>,
}

/// An instance as it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub labels: Vec<(String, String)>,
    /// Every column of its latest row.
    pub row: Vec<(String, Value)>,
    /// The first numeric column of its latest row.
    pub value: Option<f64>,
    pub firing: bool,
    pub since_us: i64,
    pub fired_at_us: Option<i64>,
    /// When it was last notified (firing or repeat).
    pub notified_at_us: Option<i64>,
}

/// A change an evaluation made.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// `pending`, `firing`, `repeat` or `resolved`.
    pub state: &'static str,
    pub instance: Instance,
    /// Whether receivers hear of it: firing, repeat, and the resolution of a firing instance
    /// (a pending instance that goes away was never announced).
    pub notify: bool,
}

/// The instances of one alert.
#[derive(Debug, Default)]
pub struct Instances {
    pub live: Vec<Instance>,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Instances {
    /// Applies one evaluation at `now_us`; what changed, in order: new and advanced instances
    /// in the rows' order, then the resolved ones. Rows with the labels of an earlier row of
    /// the same evaluation are the same instance (the first row is kept).
    pub fn step(&mut self, now_us: i64, rows: &Rows, for_: Duration, repeat: Duration) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut seen: Vec<Instance> = Vec::with_capacity(rows.rows.len());
        for r in &rows.rows {
            let labels = labels_of(&rows.columns, r);
            if seen.iter().any(|i| i.labels == labels) {
                continue;
            }
            let row: Vec<(String, Value)> = rows
                .columns
                .iter()
                .map(|c| c.0.clone())
                .zip(r.iter().cloned())
                .collect();
            let value = rows
                .columns
                .iter()
                .zip(r)
                .find(|(c, _)| c.1)
                .and_then(|(_, v)| match v {
                    Value::Number(n) => Some(*n),
                    _ => None,
                });
            let mut inst = match self.live.iter().position(|i| i.labels == labels) {
                Some(p) => self.live.swap_remove(p),
                None => {
                    let fresh = Instance {
                        labels,
                        row: Vec::new(),
                        value: None,
                        firing: false,
                        since_us: now_us,
                        fired_at_us: None,
                        notified_at_us: None,
                    };
                    if !for_.is_zero() {
                        let mut shown = fresh.clone();
                        shown.row = row.clone();
                        shown.value = value;
                        changes.push(Change {
                            state: "pending",
                            instance: shown,
                            notify: false,
                        });
                    }
                    fresh
                }
            };
            inst.row = row;
            inst.value = value;
            if !inst.firing && now_us.saturating_sub(inst.since_us) >= micros(for_) {
                inst.firing = true;
                inst.fired_at_us = Some(now_us);
                inst.notified_at_us = Some(now_us);
                changes.push(Change {
                    state: "firing",
                    instance: inst.clone(),
                    notify: true,
                });
            } else if inst.firing
                && inst
                    .notified_at_us
                    .is_some_and(|n| now_us.saturating_sub(n) >= micros(repeat))
            {
                inst.notified_at_us = Some(now_us);
                changes.push(Change {
                    state: "repeat",
                    instance: inst.clone(),
                    notify: true,
                });
            }
            seen.push(inst);
        }
        for gone in self.live.drain(..) {
            changes.push(Change {
                state: "resolved",
                notify: gone.firing,
                instance: gone,
            });
        }
        self.live = seen;
        changes
    }
}

/// A row's labels: its non-numeric columns, NULL ones left out (as Prometheus drops an empty
/// label).
fn labels_of(columns: &[(String, bool)], row: &[Value]) -> Vec<(String, String)> {
    columns
        .iter()
        .zip(row)
        .filter(|(c, _)| !c.1)
        .filter_map(|(c, v)| match v {
            Value::Text(t) => Some((c.0.clone(), t.clone())),
            Value::Number(n) => Some((c.0.clone(), n.to_string())),
            Value::Null => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn rows(disks: &[(&str, f64)]) -> Rows {
        Rows {
            columns: vec![("mount_point".into(), false), ("used_pct".into(), true)],
            rows: disks
                .iter()
                .map(|(m, p)| vec![Value::Text(m.to_string()), Value::Number(*p)])
                .collect(),
        }
    }

    fn states(c: &[Change]) -> Vec<&str> {
        c.iter().map(|c| c.state).collect()
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved() {
        let mut i = Instances::default();
        let for_ = Duration::from_secs(10);
        let rep = Duration::from_secs(3600);
        let c = i.step(0, &rows(&[("/", 91.0)]), for_, rep);
        assert_eq!(states(&c), ["pending"]);
        assert!(!c[0].notify);
        assert_eq!(c[0].instance.value, Some(91.0));
        assert!(
            i.step(9 * S, &rows(&[("/", 92.0)]), for_, rep).is_empty(),
            "not before `for`"
        );
        let c = i.step(10 * S, &rows(&[("/", 93.0)]), for_, rep);
        assert_eq!(states(&c), ["firing"]);
        assert!(c[0].notify);
        assert_eq!(c[0].instance.since_us, 0);
        assert_eq!(c[0].instance.value, Some(93.0), "the latest value");
        assert!(i.step(11 * S, &rows(&[("/", 93.0)]), for_, rep).is_empty());
        let c = i.step(12 * S, &rows(&[]), for_, rep);
        assert_eq!(states(&c), ["resolved"]);
        assert!(c[0].notify);
        assert!(i.live.is_empty());
    }

    #[test]
    fn for_zero_fires_at_once_and_a_pending_instance_that_goes_is_not_announced() {
        let mut i = Instances::default();
        let c = i.step(0, &rows(&[("/", 95.0)]), Duration::ZERO, Duration::from_secs(60));
        assert_eq!(states(&c), ["firing"]);
        let mut j = Instances::default();
        j.step(
            0,
            &rows(&[("/", 95.0)]),
            Duration::from_secs(5),
            Duration::from_secs(60),
        );
        let c = j.step(S, &rows(&[]), Duration::from_secs(5), Duration::from_secs(60));
        assert_eq!(states(&c), ["resolved"]);
        assert!(!c[0].notify);
    }

    #[test]
    fn repeat_renotifies_a_firing_instance() {
        let mut i = Instances::default();
        let rep = Duration::from_secs(60);
        i.step(0, &rows(&[("/", 95.0)]), Duration::ZERO, rep);
        assert!(i.step(59 * S, &rows(&[("/", 95.0)]), Duration::ZERO, rep).is_empty());
        assert_eq!(
            states(&i.step(60 * S, &rows(&[("/", 95.0)]), Duration::ZERO, rep)),
            ["repeat"]
        );
        assert!(i.step(61 * S, &rows(&[("/", 95.0)]), Duration::ZERO, rep).is_empty());
        assert_eq!(
            states(&i.step(120 * S, &rows(&[("/", 95.0)]), Duration::ZERO, rep)),
            ["repeat"]
        );
    }

    #[test]
    fn instances_are_named_by_labels_not_values() {
        let mut i = Instances::default();
        let f = Duration::from_secs(1);
        let r = Duration::from_secs(60);
        let c = i.step(0, &rows(&[("/", 91.0), ("/home", 97.0), ("/", 99.0)]), f, r);
        assert_eq!(
            states(&c),
            ["pending", "pending"],
            "a repeated label set is one instance"
        );
        let c = i.step(S, &rows(&[("/home", 98.0)]), f, r);
        assert_eq!(states(&c), ["firing", "resolved"]);
        assert_eq!(c[0].instance.labels, [("mount_point".to_string(), "/home".to_string())]);
        assert_eq!(c[1].instance.labels, [("mount_point".to_string(), "/".to_string())]);
        // Only numbers: one instance with no labels.
        let only = Rows {
            columns: vec![("mem_used_pct".into(), true)],
            rows: vec![vec![Value::Number(97.0)]],
        };
        let mut k = Instances::default();
        let c = k.step(0, &only, Duration::ZERO, r);
        assert!(c[0].instance.labels.is_empty());
        assert_eq!(c[0].instance.value, Some(97.0));
    }
}
