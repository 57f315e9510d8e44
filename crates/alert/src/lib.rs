//! Alerts: a SQL query is the condition, `for` keeps it honest, a webhook hears it.
//!
//! An alert ([`Rule`]) is a query run every `every` by an [`Evaluator`] (the SQL binding's:
//! a connection of its own, so evaluations never share the user's); each row it returns is
//! one instance, named by its non-numeric columns ([`state`]). This crate knows nothing of
//! DuckDB: it schedules the evaluations, keeps the instances' states, writes what they show
//! to the process's [`AlertBoard`](sysmon_live::alerts::AlertBoard) (the `/metrics` `ALERTS`
//! series, the dashboard, `alert_transitions()` and the recorded `alerts` table read it), and
//! hands notifications to the alert's webhook [`notify::Notifier`]. Design rules:
//!
//! * **One thread per alert**, which only evaluates and keeps state: a webhook is posted by
//!   the alert's own delivery thread, so no receiver can delay an evaluation.
//! * **No pile-up.** An evaluation that runs longer than `every` is interrupted at `every`
//!   (the [`Watchdog`]) and shows as an evaluation error; the slots it overran are counted in
//!   `evaluations_skipped`, never run late in a burst.
//! * **Nothing is lost silently**: a notification the receiver has not taken waits (in
//!   order) up to a bound, and what falls off is counted (see [`notify`]).
//! * **Panic-safe**: the threads' bodies run inside `catch_unwind`; a panic shows in
//!   `last_error` and stops that alert only.

pub mod engine;
pub mod json;
pub mod notify;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

pub use engine::{Alert, Alerts, Evaluator, Interrupt, Watchdog, start, stop};
use sysmon_tables::schema::Timestamp;

/// `every`: how often the query runs.
pub const EVERY_DEFAULT: Duration = Duration::from_secs(15);
pub const EVERY_MIN: Duration = Duration::from_secs(1);
pub const EVERY_MAX: Duration = Duration::from_secs(86_400);
/// `"for"`: how long an instance is pending before it fires.
pub const FOR_MAX: Duration = Duration::from_secs(30 * 86_400);
/// `repeat`: how often a firing instance is notified again.
pub const REPEAT_DEFAULT: Duration = Duration::from_secs(4 * 3600);
pub const REPEAT_MIN: Duration = Duration::from_secs(1);
pub const REPEAT_MAX: Duration = Duration::from_secs(30 * 86_400);
/// How long a stopped alert's queue may take to deliver what it holds.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Where an alert records its transitions: a recorder's folder (for `s3://`, its spool).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertDir {
    /// The recorder's `Config::dir`: the key of the board's queue its `alerts` table drains.
    pub key: PathBuf,
    /// As `alerts()` shows it: the folder, or `s3://bucket/prefix`.
    pub shown: String,
}

/// A checked alert.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub query: String,
    pub every: Duration,
    pub for_: Duration,
    pub repeat: Duration,
    pub severity: Option<String>,
    pub summary: Option<String>,
    pub webhook: Option<notify::Webhook>,
    pub dir: Option<AlertDir>,
}

/// Checks an alert's name: what Prometheus and Alertmanager take as a label value and a URL
/// path part alike.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_first = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if !ok_first || !ok_rest || name.len() > 128 {
        return Err(format!(
            "name must start with a letter or '_' and hold only letters, digits, '_', '-', '.' and ':' (at most 128), such as 'disk_full'; got '{}'",
            name.chars().take(140).collect::<String>()
        ));
    }
    Ok(())
}

/// Checks a `summary` against the query's columns: each `{column}` must name one (`{{` and
/// `}}` are a literal brace).
pub fn check_summary(summary: &str, columns: &[String]) -> Result<(), String> {
    for name in placeholders(summary)? {
        if !columns.contains(&name) {
            return Err(format!(
                "summary names '{{{name}}}', which is not a column of the query; its columns: {}",
                columns.join(", ")
            ));
        }
    }
    Ok(())
}

fn placeholders(summary: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = summary.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                if name.is_empty() {
                    return Err(
                        "summary has an empty '{}'; name a column, such as '{mount_point}', or write '{{' for a brace"
                            .into(),
                    );
                }
                out.push(name);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `summary` with each `{column}` replaced by the row's value (a number with at most two
/// decimals, NULL as `NULL`).
pub fn render_summary(summary: &str, row: &[(String, state::Value)]) -> String {
    let mut out = String::with_capacity(summary.len());
    let mut chars = summary.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                match row.iter().find(|(k, _)| *k == name).map(|(_, v)| v) {
                    Some(state::Value::Text(t)) => out.push_str(t),
                    Some(state::Value::Number(n)) => out.push_str(&short_number(*n)),
                    Some(state::Value::Null) => out.push_str("NULL"),
                    None => {
                        out.push('{');
                        out.push_str(&name);
                        out.push('}');
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn short_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{n:.0}");
    }
    let s = format!("{n:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

sysmon_tables::declare_table! {
    /// One row per running alert and instance (an alert with no instance: one row, state
    /// `inactive`). `alert_metrics` returns the row of the alert it started, `stop_alert` its
    /// final rows.
    pub struct AlertRow => "alerts" {
        /// The alert's name.
        name: String [""],
        /// `inactive` (no instance), `pending` (present for less than `for`) or `firing`.
        state: String [""],
        /// The instance's labels as a JSON object (its row's non-numeric columns); NULL when inactive.
        labels: Option<String> [""],
        /// The first numeric column of the instance's latest row (Prometheus' `$value`); NULL when inactive or it has none.
        value: Option<f64> [""],
        /// Every column of the instance's latest row as a JSON object; NULL when inactive.
        row: Option<String> [""],
        /// When the instance first appeared; NULL when inactive.
        active_since: Option<Timestamp> [""],
        /// When it started firing; NULL unless firing.
        fired_at: Option<Timestamp> [""],
        /// The alert's `summary` with the row's columns filled in; NULL when inactive or without a summary.
        summary: Option<String> [""],
        /// The alert's `severity`; NULL when it has none.
        severity: Option<String> [""],
        /// The condition: the query (each row one instance).
        query: String [""],
        /// How often the query runs.
        every_seconds: f64 ["seconds"],
        /// How long an instance is pending before it fires.
        for_seconds: f64 ["seconds"],
        /// How often a firing instance is notified again.
        repeat_seconds: f64 ["seconds"],
        /// The webhook, without its password or query string; NULL when it has none.
        webhook: Option<String> [""],
        /// Where its transitions are recorded (`read_recording(dir, 'alerts')`); NULL when nowhere.
        dir: Option<String> [""],
        /// When the alert was started.
        started_at: Timestamp [""],
        /// Evaluations run.
        evaluations: u64 [""],
        /// Evaluations that failed (the query's error, or interrupted at `every`).
        evaluations_failed: u64 [""],
        /// Slots skipped because an evaluation overran `every` (never run late in a burst).
        evaluations_skipped: u64 [""],
        /// When the last evaluation ran; NULL before the first.
        last_evaluated_at: Option<Timestamp> [""],
        /// How long the last evaluation took; NULL before the first.
        last_evaluation_seconds: Option<f64> ["seconds"],
        /// CPU time of all its evaluations.
        evaluation_cpu_seconds: f64 ["seconds"],
        /// The last evaluation's error; NULL when it succeeded.
        last_error: Option<String> [""],
        /// Notifications the webhook accepted (HTTP 2xx).
        notifications_sent: u64 [""],
        /// Posts that failed and were retried (each retry counts).
        notifications_failed: u64 [""],
        /// Notifications waiting for the webhook.
        notifications_pending: u64 [""],
        /// Notifications given up (the queue held 1,000, or one waited a day), never silently lost.
        notifications_dropped: u64 [""],
        /// When a post was last tried; NULL before the first.
        last_delivery_at: Option<Timestamp> [""],
        /// `delivered` or `failed`; NULL before the first post or without a webhook.
        last_delivery_status: Option<String> [""],
        /// The HTTP status of the last post; NULL before the first or when no answer came.
        last_delivery_http_status: Option<i32> [""],
        /// Why the last post failed; NULL when it succeeded.
        last_delivery_error: Option<String> [""],
        /// Transitions that waited for `dir`'s recorder so long that they were dropped (the recorder was stopped); NULL without `dir`.
        transitions_dropped: Option<u64> [""],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use state::Value;

    #[test]
    fn names_are_checked() {
        assert!(check_name("disk_full").is_ok());
        assert!(check_name("svc:nginx.down-1").is_ok());
        for bad in ["", "1x", "a b", "a/b", "a\"b", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn summaries_name_columns_and_render() {
        let cols = vec!["mount_point".to_string(), "used_pct".to_string()];
        assert!(check_summary("{mount_point} is {used_pct}% full {{x}}", &cols).is_ok());
        let e = check_summary("{mountpoint} is full", &cols).unwrap_err();
        assert!(
            e.contains("'{mountpoint}'") && e.contains("mount_point, used_pct"),
            "{e}"
        );
        assert!(check_summary("{} x", &cols).is_err());
        let row = vec![
            ("mount_point".to_string(), Value::Text("/".into())),
            ("used_pct".to_string(), Value::Number(93.456)),
        ];
        assert_eq!(
            render_summary("{mount_point} is {used_pct}% full {{x}}", &row),
            "/ is 93.46% full {x}"
        );
        assert_eq!(short_number(90.0), "90");
        assert_eq!(short_number(0.5), "0.5");
    }
}
