//! The running alerts of a process: each alert's evaluation thread, the watchdog that
//! interrupts an evaluation at `every`, and the registry `alerts()` lists.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sysmon_kernel::host;
use sysmon_kernel::procfs::syscalls::thread_cpu_ns;
use sysmon_kernel::sync::{lock, panic_text};
use sysmon_kernel::time::Timestamp;
use sysmon_live::LiveState;
use sysmon_live::alerts::{Series, Transition};

use crate::notify::{Notifier, Payload};
use crate::state::{Change, Instance, Instances, Rows};
use crate::{AlertRow, Rule, STOP_GRACE, json, render_summary};

/// Runs an alert's query; the SQL binding gives each alert one, on a connection of its own.
pub trait Evaluator: Send {
    fn evaluate(&mut self) -> Result<Rows, String>;
}

/// Interrupts the evaluation running on an [`Evaluator`]'s connection (from another thread).
pub trait Interrupt: Send + Sync {
    fn interrupt(&self);
}

/// Interrupts evaluations that run past their deadline: one thread for every alert of a
/// registry, started with the first.
#[derive(Default)]
pub struct Watchdog {
    inner: Arc<(Mutex<WatchInner>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct WatchInner {
    next_id: u64,
    armed: Vec<(u64, Instant, Arc<dyn Interrupt>)>,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watchdog")
    }
}

/// Disarms its watch when dropped.
pub struct Armed<'a> {
    dog: &'a Watchdog,
    id: u64,
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        lock(&self.dog.inner.0).armed.retain(|a| a.0 != self.id);
    }
}

impl Watchdog {
    /// Interrupts `target` at `deadline` unless the returned guard is dropped first.
    pub fn arm(&self, deadline: Instant, target: Arc<dyn Interrupt>) -> Result<Armed<'_>, String> {
        self.ensure_thread()?;
        let (m, cv) = &*self.inner;
        let mut inner = lock(m);
        inner.next_id += 1;
        let id = inner.next_id;
        inner.armed.push((id, deadline, target));
        cv.notify_all();
        Ok(Armed { dog: self, id })
    }

    fn ensure_thread(&self) -> Result<(), String> {
        let mut t = lock(&self.thread);
        if t.is_some() {
            return Ok(());
        }
        let inner = self.inner.clone();
        let handle = std::thread::Builder::new()
            .name("sysmon-alert-watchdog".into())
            .spawn(move || {
                let (m, cv) = &*inner;
                let mut g = lock(m);
                loop {
                    let now = Instant::now();
                    let mut due = Vec::new();
                    g.armed.retain(|a| {
                        if a.1 <= now {
                            due.push(a.2.clone());
                            false
                        } else {
                            true
                        }
                    });
                    if !due.is_empty() {
                        drop(g);
                        for d in due {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.interrupt()));
                        }
                        g = lock(m);
                        continue;
                    }
                    let wait = g
                        .armed
                        .iter()
                        .map(|a| a.1.saturating_duration_since(now))
                        .min()
                        .unwrap_or(Duration::from_secs(3600));
                    g = match cv.wait_timeout(g, wait) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
            })
            .map_err(|e| format!("cannot start the alerts' watchdog thread: {e}"))?;
        *t = Some(handle);
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Status {
    instances: Vec<Instance>,
    evaluations: u64,
    failed: u64,
    skipped: u64,
    last_evaluated_us: Option<i64>,
    last_evaluation_seconds: Option<f64>,
    cpu_ns: u64,
    last_error: Option<String>,
}

struct Shared {
    status: Mutex<Status>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// One running alert.
pub struct Alert {
    pub rule: Rule,
    pub started_at: Timestamp,
    shared: Arc<Shared>,
    notifier: Option<Arc<Notifier>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    live: Arc<LiveState>,
}

impl std::fmt::Debug for Alert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alert").field("name", &self.rule.name).finish()
    }
}

/// The alerts of a process, by name.
#[derive(Debug, Default)]
pub struct Alerts {
    running: Mutex<BTreeMap<String, Arc<Alert>>>,
    watchdog: Arc<Watchdog>,
}

impl Alerts {
    /// Every running alert's rows, by name.
    pub fn rows(&self) -> Vec<AlertRow> {
        let all: Vec<Arc<Alert>> = lock(&self.running).values().cloned().collect();
        all.iter().flat_map(|a| a.rows()).collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Alert>> {
        lock(&self.running).get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Alert>> {
        lock(&self.running).values().cloned().collect()
    }

    /// Stops every alert (the process exits), giving the queues `grace` each.
    pub fn stop_all(&self, grace: Duration) {
        let all: Vec<Arc<Alert>> = std::mem::take(&mut *lock(&self.running)).into_values().collect();
        for a in &all {
            a.request_stop();
        }
        for a in all {
            a.finish(grace);
        }
    }
}

/// Starts alert `rule` on `live`, evaluated by `evaluator` (interrupted through `interrupt`).
/// An alert of the same name already running is refused.
pub fn start(
    live: &Arc<LiveState>,
    alerts: &Alerts,
    rule: Rule,
    evaluator: Box<dyn Evaluator>,
    interrupt: Arc<dyn Interrupt>,
) -> Result<Arc<Alert>, String> {
    let mut running = lock(&alerts.running);
    if running.contains_key(&rule.name) {
        return Err(format!(
            "an alert named '{}' is already running; stop it first with stop_alert('{}'), or choose another name",
            rule.name, rule.name
        ));
    }
    let notifier = match &rule.webhook {
        Some(w) => Some(Arc::new(Notifier::start(&rule.name, w.clone())?)),
        None => None,
    };
    let alert = Arc::new(Alert {
        rule,
        started_at: Timestamp::now(),
        shared: Arc::new(Shared {
            status: Mutex::new(Status::default()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        }),
        notifier,
        thread: Mutex::new(None),
        live: live.clone(),
    });
    live.alerts().set_series(&alert.rule.name, Vec::new());
    let a = alert.clone();
    let dog = alerts.watchdog.clone();
    let handle = std::thread::Builder::new()
        .name(format!("sysmon-alert-{}", alert.rule.name))
        .spawn(move || {
            let mut evaluator = evaluator;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&a, &mut *evaluator, &dog, &interrupt)
            }));
            if let Err(p) = r {
                lock(&a.shared.status).last_error = Some(format!(
                    "internal error: the alert's thread panicked: {}",
                    panic_text(&*p)
                ));
            }
        });
    let handle = match handle {
        Ok(h) => h,
        Err(e) => {
            live.alerts().remove(&alert.rule.name);
            if let Some(n) = &alert.notifier {
                n.stop(Duration::ZERO);
            }
            return Err(format!("cannot start the alert's thread: {e}"));
        }
    };
    *lock(&alert.thread) = Some(handle);
    running.insert(alert.rule.name.clone(), alert.clone());
    Ok(alert)
}

/// Stops alert `name`; its final rows.
pub fn stop(alerts: &Alerts, name: &str) -> Result<Vec<AlertRow>, String> {
    let alert = lock(&alerts.running).remove(name);
    let Some(alert) = alert else {
        let names: Vec<String> = lock(&alerts.running).keys().cloned().collect();
        let running = if names.is_empty() {
            "none is running".to_string()
        } else {
            format!("running: {}", names.join(", "))
        };
        return Err(format!("no alert named '{name}' is running ({running}; see alerts())"));
    };
    alert.request_stop();
    alert.finish(STOP_GRACE);
    Ok(alert.rows())
}

impl Alert {
    fn request_stop(&self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
    }

    /// Waits for the thread, then gives the webhook queue `grace`.
    fn finish(&self, grace: Duration) {
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
        if let Some(n) = &self.notifier {
            n.stop(grace);
        }
        self.live.alerts().remove(&self.rule.name);
    }

    /// Sleeps until `until` or a stop; true when stopped.
    fn sleep_until(&self, until: Instant) -> bool {
        let mut stop = lock(&self.shared.stop);
        loop {
            if *stop {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            stop = match self.shared.wake.wait_timeout(stop, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// The alert's rows: one per instance, or one `inactive` row.
    pub fn rows(&self) -> Vec<AlertRow> {
        let st = lock(&self.shared.status);
        let d = self.notifier.as_ref().map(|n| n.stats()).unwrap_or_default();
        let r = &self.rule;
        let base = AlertRow {
            name: r.name.clone(),
            state: "inactive".into(),
            labels: None,
            value: None,
            row: None,
            active_since: None,
            fired_at: None,
            summary: None,
            severity: r.severity.clone(),
            query: r.query.clone(),
            every_seconds: r.every.as_secs_f64(),
            for_seconds: r.for_.as_secs_f64(),
            repeat_seconds: r.repeat.as_secs_f64(),
            webhook: r.webhook.as_ref().map(|w| w.shown().to_string()),
            dir: r.dir.as_ref().map(|d| d.shown.clone()),
            started_at: self.started_at,
            evaluations: st.evaluations,
            evaluations_failed: st.failed,
            evaluations_skipped: st.skipped,
            last_evaluated_at: st.last_evaluated_us.map(Timestamp::from_micros),
            last_evaluation_seconds: st.last_evaluation_seconds,
            evaluation_cpu_seconds: st.cpu_ns as f64 / 1e9,
            last_error: st.last_error.clone(),
            notifications_sent: d.sent,
            notifications_failed: d.failed_attempts,
            notifications_pending: d.pending,
            notifications_dropped: d.dropped,
            last_delivery_at: d.last_attempt_us.map(Timestamp::from_micros),
            last_delivery_status: d.last_status.map(str::to_string),
            last_delivery_http_status: d.last_status_code,
            last_delivery_error: d.last_error.clone(),
            transitions_dropped: r.dir.as_ref().map(|d| self.live.alerts().queue_dropped(&d.key)),
        };
        if st.instances.is_empty() {
            return vec![base];
        }
        st.instances
            .iter()
            .map(|i| AlertRow {
                state: if i.firing { "firing" } else { "pending" }.into(),
                labels: Some(labels_json(i)),
                value: i.value,
                row: Some(json::object_of_values(&i.row)),
                active_since: Some(Timestamp::from_micros(i.since_us)),
                fired_at: i.fired_at_us.map(Timestamp::from_micros),
                summary: self.summary(i),
                ..base.clone()
            })
            .collect()
    }

    fn summary(&self, i: &Instance) -> Option<String> {
        self.rule.summary.as_deref().map(|s| render_summary(s, &i.row))
    }
}

fn labels_json(i: &Instance) -> String {
    json::object_of_strings(i.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The alert's thread: evaluate at once, then every `every` on the monotonic clock.
fn run(alert: &Alert, evaluator: &mut dyn Evaluator, dog: &Watchdog, interrupt: &Arc<dyn Interrupt>) {
    let every = alert.rule.every;
    let mut instances = Instances::default();
    let hostname = host::hostname();
    let mut due = Instant::now();
    loop {
        if alert.sleep_until(due) {
            return;
        }
        let started = Instant::now();
        let cpu0 = thread_cpu_ns();
        let result = match dog.arm(started + every, interrupt.clone()) {
            Ok(_armed) => evaluator.evaluate(),
            Err(e) => Err(e),
        };
        let took = started.elapsed();
        let cpu = thread_cpu_ns().saturating_sub(cpu0);
        let now_us = Timestamp::now().micros;
        let changes = match &result {
            Ok(rows) => instances.step(now_us, rows, alert.rule.for_, alert.rule.repeat),
            Err(_) => Vec::new(),
        };
        {
            let mut st = lock(&alert.shared.status);
            st.evaluations += 1;
            st.last_evaluated_us = Some(now_us);
            st.last_evaluation_seconds = Some(took.as_secs_f64());
            st.cpu_ns += cpu;
            match &result {
                Ok(_) => st.last_error = None,
                Err(e) => {
                    st.failed += 1;
                    st.last_error = Some(if took >= every {
                        format!(
                            "the evaluation took longer than every ({}) and was interrupted: {e}",
                            sysmon_kernel::interval::describe(every)
                        )
                    } else {
                        e.clone()
                    });
                }
            }
            st.instances = instances.live.clone();
        }
        publish(alert, &instances, &changes, now_us, &hostname);
        // The next slot after now: slots an overrun evaluation covered are skipped, counted.
        due += every;
        let now = Instant::now();
        if due <= now {
            let behind = now.duration_since(due).as_micros() / every.as_micros().max(1) + 1;
            lock(&alert.shared.status).skipped += u64::try_from(behind).unwrap_or(u64::MAX);
            due += every * u32::try_from(behind).unwrap_or(u32::MAX);
        }
    }
}

/// Writes one evaluation's outcome: the board's series, the transitions (for
/// `alert_transitions()` and the `dir`'s recorder), the notifications.
fn publish(alert: &Alert, instances: &Instances, changes: &[Change], now_us: i64, hostname: &str) {
    let r = &alert.rule;
    let board = alert.live.alerts();
    board.set_series(
        &r.name,
        instances
            .live
            .iter()
            .map(|i| Series {
                alertname: r.name.clone(),
                state: if i.firing { "firing" } else { "pending" },
                severity: r.severity.clone(),
                labels: i.labels.clone(),
                value: i.value,
                active_since_us: i.since_us,
                summary: alert.summary(i),
            })
            .collect(),
    );
    if changes.is_empty() {
        return;
    }
    let transitions: Vec<Transition> = changes
        .iter()
        .map(|c| Transition {
            seq: 0,
            ts_us: now_us,
            alertname: r.name.clone(),
            state: c.state,
            severity: r.severity.clone(),
            labels_json: labels_json(&c.instance),
            value: c.instance.value,
            row_json: json::object_of_values(&c.instance.row),
            summary: alert.summary(&c.instance),
            active_since_us: c.instance.since_us,
        })
        .collect();
    board.push(r.dir.as_ref().map(|d| d.key.as_path()), transitions);
    let Some(n) = &alert.notifier else { return };
    let summary = |i: &Instance| alert.summary(i);
    let payload = Payload {
        alertname: &r.name,
        severity: r.severity.as_deref(),
        host: hostname,
        summary: &summary,
    };
    let firing: Vec<&Change> = changes.iter().filter(|c| c.notify && c.state != "resolved").collect();
    let resolved: Vec<&Change> = changes.iter().filter(|c| c.notify && c.state == "resolved").collect();
    if !firing.is_empty() {
        n.push(payload.body("firing", &firing, now_us));
    }
    if !resolved.is_empty() {
        n.push(payload.body("resolved", &resolved, now_us));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Value;
    use crate::{AlertDir, EVERY_MIN};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use sysmon_kernel::procfs::Roots;

    /// Returns the rows the test puts in `next`; blocks while `hang` is set, until interrupted.
    struct Fake {
        next: Arc<Mutex<Result<Rows, String>>>,
        hang: Arc<AtomicBool>,
        interrupted: Arc<AtomicBool>,
    }

    impl Evaluator for Fake {
        fn evaluate(&mut self) -> Result<Rows, String> {
            while self.hang.load(Ordering::SeqCst) {
                if self.interrupted.swap(false, Ordering::SeqCst) {
                    return Err("INTERRUPT Error: Interrupted!".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            lock(&self.next).clone()
        }
    }

    struct Flag(Arc<AtomicBool>);
    impl Interrupt for Flag {
        fn interrupt(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn rule(name: &str, dir: Option<AlertDir>) -> Rule {
        Rule {
            name: name.into(),
            query: "SELECT 1".into(),
            every: EVERY_MIN,
            for_: Duration::ZERO,
            repeat: Duration::from_secs(3600),
            severity: Some("page".into()),
            summary: Some("{m} is full".into()),
            webhook: None,
            dir,
        }
    }

    fn rows(ms: &[&str]) -> Rows {
        Rows {
            columns: vec![("m".into(), false), ("pct".into(), true)],
            rows: ms
                .iter()
                .map(|m| vec![Value::Text(m.to_string()), Value::Number(95.0)])
                .collect(),
        }
    }

    fn wait(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn evaluates_publishes_and_stops() {
        let live = Arc::new(LiveState::new(Roots::test_fixture("modern")));
        let alerts = Alerts::default();
        let next = Arc::new(Mutex::new(Ok(rows(&["/"]))));
        let flag = Arc::new(AtomicBool::new(false));
        let fake = Fake {
            next: next.clone(),
            hang: Arc::new(AtomicBool::new(false)),
            interrupted: flag.clone(),
        };
        let dir = AlertDir {
            key: PathBuf::from("/rec"),
            shown: "/rec".into(),
        };
        start(
            &live,
            &alerts,
            rule("disk", Some(dir)),
            Box::new(fake),
            Arc::new(Flag(flag.clone())),
        )
        .unwrap();
        wait("firing", || alerts.rows().first().is_some_and(|r| r.state == "firing"));
        let row = &alerts.rows()[0];
        assert_eq!(row.labels.as_deref(), Some(r#"{"m":"/"}"#));
        assert_eq!(row.summary.as_deref(), Some("/ is full"));
        assert_eq!(row.value, Some(95.0));
        assert_eq!(live.alerts().series()[0].1[0].state, "firing");
        let e = start(
            &live,
            &alerts,
            rule("disk", None),
            Box::new(Fake {
                next: next.clone(),
                hang: Arc::new(AtomicBool::new(false)),
                interrupted: flag.clone(),
            }),
            Arc::new(Flag(flag.clone())),
        )
        .unwrap_err();
        assert!(e.contains("already running"), "{e}");
        *lock(&next) = Ok(rows(&[]));
        wait("resolved", || {
            alerts.rows().first().is_some_and(|r| r.state == "inactive")
        });
        let recorded = live.alerts().drain(std::path::Path::new("/rec"));
        assert_eq!(
            recorded.iter().map(|t| t.state).collect::<Vec<_>>(),
            ["firing", "resolved"]
        );
        *lock(&next) = Err("Catalog Error: no such table".into());
        wait("the error", || {
            alerts.rows()[0].last_error.as_deref() == Some("Catalog Error: no such table")
        });
        let last = stop(&alerts, "disk").unwrap();
        assert_eq!(last[0].name, "disk");
        assert!(last[0].evaluations_failed >= 1);
        assert!(alerts.rows().is_empty());
        assert!(live.alerts().series().is_empty());
        assert!(stop(&alerts, "disk").unwrap_err().contains("no alert named 'disk'"));
    }

    #[test]
    fn a_slow_evaluation_is_interrupted_at_every_and_skips_slots() {
        let live = Arc::new(LiveState::new(Roots::test_fixture("modern")));
        let alerts = Alerts::default();
        let flag = Arc::new(AtomicBool::new(false));
        let hang = Arc::new(AtomicBool::new(true));
        let fake = Fake {
            next: Arc::new(Mutex::new(Ok(rows(&[])))),
            hang: hang.clone(),
            interrupted: flag.clone(),
        };
        start(&live, &alerts, rule("slow", None), Box::new(fake), Arc::new(Flag(flag))).unwrap();
        wait("an interrupted evaluation", || alerts.rows()[0].evaluations_failed >= 1);
        let row = &alerts.rows()[0];
        let e = row.last_error.clone().unwrap();
        assert!(e.contains("took longer than every (1 s)"), "{e}");
        assert!(row.last_evaluation_seconds.unwrap() >= 1.0);
        wait("a skipped slot", || alerts.rows()[0].evaluations_skipped >= 1);
        hang.store(false, Ordering::SeqCst);
        stop(&alerts, "slow").unwrap();
    }
}
