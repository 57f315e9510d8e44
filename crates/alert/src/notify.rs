//! Webhook delivery: Alertmanager's webhook JSON, posted in order, retried until it lands or
//! is counted as dropped.
//!
//! Each alert with a `webhook` has one [`Notifier`]: a queue and one thread that posts its
//! head. The evaluation only appends to the queue, so a slow or dead receiver never holds up
//! an evaluation (this alert's or another's). A failed post (a connection error, a time-out,
//! a status other than 2xx) is retried with doubling backoff, from [`BACKOFF_MIN`] up to
//! [`BACKOFF_MAX`], and the queue waits behind it: a receiver that was down receives every
//! notification, once and in order, when it is back. What cannot wait is counted in
//! `notifications_dropped`, never silently lost: the oldest notification when the queue holds
//! [`QUEUE_MAX`], and any older than [`MAX_AGE`]. Redirects are not followed (a webhook that
//! answers 3xx has moved: the error says so), and the URL never appears in an error or a row
//! with its password or query string ([`Webhook::shown`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sysmon_kernel::sync::lock;

use crate::json;
use crate::state::Change;

/// Notifications one alert's queue holds at most.
pub const QUEUE_MAX: usize = 1000;
/// How long a notification may wait for its receiver.
pub const MAX_AGE: Duration = Duration::from_secs(86_400);
/// The first retry's wait, doubled at each failure up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// One post's time-out (connect and answer).
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// A checked webhook URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    url: String,
    shown: String,
}

impl Webhook {
    /// Accepts an `http://` or `https://` URL with a host.
    pub fn parse(raw: &str) -> Result<Webhook, String> {
        let accepts = "an http:// or https:// URL, such as 'http://127.0.0.1:9093/hook'";
        let lower = raw.to_ascii_lowercase();
        let rest = if let Some(r) = lower.strip_prefix("http://") {
            r
        } else if let Some(r) = lower.strip_prefix("https://") {
            r
        } else {
            let scheme = raw.split_once("://").map(|(s, _)| s).unwrap_or("");
            let what = if scheme.is_empty() {
                "has no scheme".to_string()
            } else {
                format!("has scheme '{scheme}'")
            };
            return Err(format!("webhook {what}; accepted: {accepts}"));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        if host.is_empty() || host.starts_with(':') {
            return Err(format!("webhook has no host; accepted: {accepts}"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "webhook contains spaces or control characters; accepted: {accepts}"
            ));
        }
        Ok(Webhook {
            url: raw.to_string(),
            shown: redact(raw),
        })
    }

    /// The URL as rows and errors show it: a password and the query string replaced by `***`.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `scheme://user:secret@host/path?token=x` → `scheme://user:***@host/path?***`.
fn redact(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return "***".to_string();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, _)) => (b, true),
        None => (rest.split('#').next().unwrap_or(rest), false),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{user}:***@{host}")
        }
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}{}", if query { "?***" } else { "" })
}

/// What a receiver of alert `name` is told of one evaluation's changes with `status`
/// (`firing` or `resolved`): Alertmanager's webhook payload, version 4.
pub struct Payload<'a> {
    pub alertname: &'a str,
    pub severity: Option<&'a str>,
    pub host: &'a str,
    pub summary: &'a dyn Fn(&crate::state::Instance) -> Option<String>,
}

impl Payload<'_> {
    /// The body for `changes` (all of one status).
    pub fn body(&self, status: &str, changes: &[&Change], now_us: i64) -> String {
        let group_labels = json::object_of_strings([("alertname", self.alertname)]);
        let mut alerts = Vec::with_capacity(changes.len());
        let mut common: Option<Vec<(String, String)>> = None;
        for c in changes {
            let labels = self.labels(c);
            common = Some(match common {
                None => labels.clone(),
                Some(prev) => prev.into_iter().filter(|p| labels.contains(p)).collect(),
            });
            let mut annotations: Vec<(String, String)> = Vec::new();
            if let Some(s) = (self.summary)(&c.instance) {
                annotations.push(("summary".into(), s));
            }
            if let Some(v) = c.instance.value {
                annotations.push(("value".into(), v.to_string()));
            }
            let ends = if status == "resolved" {
                json::rfc3339(now_us)
            } else {
                "0001-01-01T00:00:00Z".to_string()
            };
            alerts.push(format!(
                r#"{{"status":{},"labels":{},"annotations":{},"startsAt":{},"endsAt":{},"generatorURL":"","fingerprint":{}}}"#,
                json::string(status),
                json::object_of_strings(labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                json::object_of_strings(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                json::string(&json::rfc3339(c.instance.fired_at_us.unwrap_or(c.instance.since_us))),
                json::string(&ends),
                json::string(&fingerprint(&labels)),
            ));
        }
        let common = common.unwrap_or_default();
        format!(
            r#"{{"version":"4","groupKey":{},"truncatedAlerts":0,"status":{},"receiver":"sysmon","groupLabels":{},"commonLabels":{},"commonAnnotations":{{}},"externalURL":"","alerts":[{}]}}"#,
            json::string(&format!("{{}}:{{alertname=\"{}\"}}", self.alertname)),
            json::string(status),
            group_labels,
            json::object_of_strings(common.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            alerts.join(","),
        )
    }

    /// An instance's labels as receivers see them: `alertname`, `severity`, `host`, then the
    /// row's own (a row label of the same name wins).
    fn labels(&self, c: &Change) -> Vec<(String, String)> {
        let mut out = vec![("alertname".to_string(), self.alertname.to_string())];
        if let Some(s) = self.severity {
            out.push(("severity".into(), s.into()));
        }
        out.push(("host".into(), self.host.into()));
        for (k, v) in &c.instance.labels {
            out.retain(|(o, _)| o != k || k == "alertname");
            if k != "alertname" {
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }
}

/// A stable hex id of a label set (FNV-1a, 64 bits).
fn fingerprint(labels: &[(String, String)]) -> String {
    let mut sorted: Vec<_> = labels.iter().collect();
    sorted.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in sorted {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The delivery counters of one alert, as `alerts()` shows them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivery {
    pub sent: u64,
    /// Posts that failed (each retry counts).
    pub failed_attempts: u64,
    pub pending: u64,
    pub dropped: u64,
    /// `delivered` (HTTP status in `last_status_code`), `failed`, or `None` before any post.
    pub last_status: Option<&'static str>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_attempt_us: Option<i64>,
}

struct Queued {
    body: String,
    queued_at: Instant,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Queued>,
    stats: Delivery,
    stop: bool,
}

/// One alert's webhook queue and its delivery thread.
pub struct Notifier {
    shared: Arc<(Mutex<Inner>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
    webhook: Webhook,
}

impl Notifier {
    /// Starts the delivery thread of `webhook`.
    pub fn start(name: &str, webhook: Webhook) -> Result<Notifier, String> {
        let shared: Arc<(Mutex<Inner>, Condvar)> = Arc::default();
        let s = shared.clone();
        let hook = webhook.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sysmon-alert-hook-{name}"))
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&s, &hook)));
                if let Err(p) = r {
                    let mut inner = lock(&s.0);
                    inner.stats.last_status = Some("failed");
                    inner.stats.last_error = Some(format!(
                        "internal error: the delivery thread panicked: {}",
                        sysmon_kernel::sync::panic_text(&*p)
                    ));
                }
            })
            .map_err(|e| format!("cannot start the webhook's delivery thread: {e}"))?;
        Ok(Notifier {
            shared,
            thread: Mutex::new(Some(thread)),
            webhook,
        })
    }

    pub fn webhook(&self) -> &Webhook {
        &self.webhook
    }

    /// Queues one notification (the oldest is dropped, and counted, when the queue is full).
    pub fn push(&self, body: String) {
        let (m, cv) = &*self.shared;
        let mut inner = lock(m);
        if inner.queue.len() >= QUEUE_MAX {
            inner.queue.pop_front();
            inner.stats.dropped += 1;
        }
        inner.queue.push_back(Queued {
            body,
            queued_at: Instant::now(),
        });
        inner.stats.pending = inner.queue.len() as u64;
        cv.notify_all();
    }

    pub fn stats(&self) -> Delivery {
        let mut s = lock(&self.shared.0).stats.clone();
        s.pending = lock(&self.shared.0).queue.len() as u64;
        s
    }

    /// Gives the queue up to `grace` to drain, then stops the thread; what is still queued is
    /// counted as dropped.
    pub fn stop(&self, grace: Duration) -> Delivery {
        let (m, cv) = &*self.shared;
        let deadline = Instant::now() + grace;
        {
            let mut inner = lock(m);
            while !inner.queue.is_empty() {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                inner = match cv.wait_timeout(inner, deadline - now) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
            }
            inner.stop = true;
            let left = inner.queue.len() as u64;
            inner.queue.clear();
            inner.stats.dropped += left;
            inner.stats.pending = 0;
            cv.notify_all();
        }
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
        self.stats()
    }
}

fn run(shared: &(Mutex<Inner>, Condvar), hook: &Webhook) {
    let (m, cv) = shared;
    // reqwest is built without a TLS provider of its own: rustls with ring (as the S3 client).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let client = reqwest::Client::builder()
        .timeout(POST_TIMEOUT)
        .connect_timeout(POST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sysmon/", env!("CARGO_PKG_VERSION")))
        .build();
    let (runtime, client) = match (runtime, client) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) => return fail_forever(shared, format!("cannot start the HTTP client: {e}")),
        (_, Err(e)) => return fail_forever(shared, format!("cannot start the HTTP client: {}", e.without_url())),
    };
    let mut backoff = BACKOFF_MIN;
    loop {
        let body = {
            let mut inner = lock(m);
            loop {
                if inner.stop {
                    return;
                }
                while inner.queue.front().is_some_and(|q| q.queued_at.elapsed() > MAX_AGE) {
                    inner.queue.pop_front();
                    inner.stats.dropped += 1;
                }
                if let Some(q) = inner.queue.front() {
                    break q.body.clone();
                }
                inner = match cv.wait(inner) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
            }
        };
        let result = runtime.block_on(async {
            let r = client
                .post(hook.url())
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            match r {
                Ok(resp) => Ok(resp.status()),
                Err(e) => Err(describe(&e)),
            }
        });
        let mut inner = lock(m);
        inner.stats.last_attempt_us = Some(sysmon_kernel::time::Timestamp::now().micros);
        match result {
            Ok(status) if status.is_success() => {
                inner.queue.pop_front();
                inner.stats.sent += 1;
                inner.stats.last_status = Some("delivered");
                inner.stats.last_status_code = Some(i32::from(status.as_u16()));
                inner.stats.last_error = None;
                inner.stats.pending = inner.queue.len() as u64;
                backoff = BACKOFF_MIN;
                cv.notify_all();
                continue;
            }
            Ok(status) => {
                inner.stats.last_status_code = Some(i32::from(status.as_u16()));
                let what = if status.is_redirection() {
                    " (a redirect: webhooks are not followed to another URL; give the new one)"
                } else {
                    ""
                };
                inner.stats.last_error = Some(format!("{} answered HTTP {status}{what}", hook.shown()));
            }
            Err(e) => {
                inner.stats.last_status_code = None;
                inner.stats.last_error = Some(format!("{}: {e}", hook.shown()));
            }
        }
        inner.stats.failed_attempts += 1;
        inner.stats.last_status = Some("failed");
        // Wait out the backoff, unless stopped.
        let until = Instant::now() + backoff;
        backoff = (backoff * 2).min(BACKOFF_MAX);
        loop {
            if inner.stop {
                return;
            }
            let now = Instant::now();
            if now >= until {
                break;
            }
            inner = match cv.wait_timeout(inner, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// A reqwest error without its URL (which may carry a secret), with its causes.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        format!("no answer within {} s", POST_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut causes = Vec::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        causes.push(s.to_string());
        src = s.source();
    }
    match causes.last() {
        Some(root) => format!("{kind}: {root}"),
        None => kind,
    }
}

fn fail_forever(shared: &(Mutex<Inner>, Condvar), error: String) {
    let (m, cv) = shared;
    let mut inner = lock(m);
    inner.stats.last_status = Some("failed");
    inner.stats.last_error = Some(error);
    while !inner.stop {
        inner = match cv.wait(inner) {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Instance, Value};
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn webhook_urls_are_checked_and_shown_without_secrets() {
        assert!(Webhook::parse("http://127.0.0.1:9093/hook").is_ok());
        assert!(Webhook::parse("HTTPS://example.com").is_ok());
        let e = Webhook::parse("file:///etc/passwd").unwrap_err();
        assert!(e.contains("scheme 'file'") && e.contains("http://"), "{e}");
        assert!(Webhook::parse("127.0.0.1:9093").unwrap_err().contains("no scheme"));
        assert!(Webhook::parse("http://").unwrap_err().contains("no host"));
        assert!(Webhook::parse("http:// x").is_err());
        let w = Webhook::parse("https://bot:s3cr3t@hooks.example.com/services/T0?token=abc").unwrap();
        assert_eq!(w.shown(), "https://bot:***@hooks.example.com/services/T0?***");
        assert!(!w.shown().contains("s3cr3t") && !w.shown().contains("abc"));
        assert_eq!(Webhook::parse("http://h:1/p").unwrap().shown(), "http://h:1/p");
    }

    fn change(state: &'static str, mount: &str) -> Change {
        Change {
            state,
            notify: true,
            instance: Instance {
                labels: vec![("mount_point".into(), mount.into())],
                row: vec![
                    ("mount_point".into(), Value::Text(mount.into())),
                    ("used_pct".into(), Value::Number(93.5)),
                ],
                value: Some(93.5),
                firing: true,
                since_us: 1_796_613_120_000_000,
                fired_at_us: Some(1_796_613_120_000_000),
                notified_at_us: None,
            },
        }
    }

    #[test]
    fn the_payload_is_alertmanagers() {
        let summary = |i: &Instance| Some(format!("{} is full", i.labels[0].1));
        let p = Payload {
            alertname: "disk_full",
            severity: Some("page"),
            host: "web-1",
            summary: &summary,
        };
        let a = change("firing", "/");
        let b = change("firing", "/home");
        let body = p.body("firing", &[&a, &b], 1_796_613_180_000_000);
        assert!(
            body.starts_with(r#"{"version":"4","groupKey":"{}:{alertname=\"disk_full\"}""#),
            "{body}"
        );
        assert!(body.contains(r#""status":"firing""#));
        assert!(
            body.contains(r#""commonLabels":{"alertname":"disk_full","severity":"page","host":"web-1"}"#),
            "{body}"
        );
        assert!(
            body.contains(
                r#""labels":{"alertname":"disk_full","severity":"page","host":"web-1","mount_point":"/home"}"#
            )
        );
        assert!(
            body.contains(r#""annotations":{"summary":"/ is full","value":"93.5"}"#),
            "{body}"
        );
        assert!(body.contains(r#""startsAt":"2026-12-07T03:12:00.000Z","endsAt":"0001-01-01T00:00:00Z""#));
        let r = p.body("resolved", &[&a], 1_796_613_180_000_000);
        assert!(r.contains(r#""endsAt":"2026-12-07T03:13:00.000Z""#), "{r}");
        assert_ne!(
            fingerprint(&[("a".into(), "b".into())]),
            fingerprint(&[("a".into(), "c".into())])
        );
    }

    /// A receiver on 127.0.0.1 that answers `status` and hands each body to the test.
    fn receiver(status: &'static str) -> (String, std::sync::mpsc::Receiver<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://user:pw@{}/hook?token=t", l.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            let _ = write!(s, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                            if tx.send(body.to_string()).is_err() {
                                return;
                            }
                            break;
                        }
                    }
                }
            }
        });
        (url, rx)
    }

    #[test]
    fn delivers_in_order_and_counts() {
        let (url, rx) = receiver("200 OK");
        let n = Notifier::start("t", Webhook::parse(&url).unwrap()).unwrap();
        for i in 0..3 {
            n.push(format!("{{\"n\":{i}}}"));
        }
        for i in 0..3 {
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(30)).unwrap(),
                format!("{{\"n\":{i}}}")
            );
        }
        let s = n.stop(Duration::from_secs(30));
        assert_eq!((s.sent, s.dropped, s.pending), (3, 0, 0));
        assert_eq!(s.last_status, Some("delivered"));
        assert_eq!(s.last_status_code, Some(200));
    }

    #[test]
    fn a_failing_receiver_is_retried_and_what_is_left_at_stop_is_dropped_and_no_secret_shows() {
        let (url, rx) = receiver("500 Internal Server Error");
        let n = Notifier::start("t", Webhook::parse(&url).unwrap()).unwrap();
        n.push("{}".into());
        rx.recv_timeout(Duration::from_secs(30)).unwrap();
        rx.recv_timeout(Duration::from_secs(30)).unwrap(); // retried
        let s = n.stop(Duration::ZERO);
        assert_eq!(s.sent, 0);
        assert!(s.failed_attempts >= 1);
        assert_eq!(s.dropped, 1);
        let e = s.last_error.unwrap();
        assert!(
            e.contains("HTTP 500") && !e.contains("pw@") && !e.contains("token=t"),
            "{e}"
        );
    }

    #[test]
    fn an_unreachable_receiver_reports_a_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let n = Notifier::start("t", Webhook::parse(&format!("http://127.0.0.1:{port}/x")).unwrap()).unwrap();
        n.push("{}".into());
        let deadline = Instant::now() + Duration::from_secs(30);
        while n.stats().failed_attempts == 0 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
        let s = n.stop(Duration::ZERO);
        assert!(s.last_error.unwrap().contains("cannot connect"));
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let n = Notifier::start("t", Webhook::parse(&format!("http://127.0.0.1:{port}/x")).unwrap()).unwrap();
        for _ in 0..QUEUE_MAX + 3 {
            n.push("{}".into());
        }
        let s = n.stats();
        assert_eq!(s.dropped, 3);
        assert_eq!(s.pending, QUEUE_MAX as u64);
        n.stop(Duration::ZERO);
    }
}
