//! The server's thread: a `current_thread` tokio runtime, the accept loop, hyper's HTTP/1
//! connections, and the answer to each request (method, token, path, route).

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::auth;
use super::metrics::{self, Snapshot};
use super::{CONNECTION_MAX, HEAD_TIMEOUT, MAX_CONNECTIONS, MAX_HEAD_BYTES, Shared};
use sysmon_kernel::procfs::syscalls::thread_cpu_ns;
use sysmon_kernel::sync::panic_text;
use sysmon_live::LiveState;
use sysmon_live::ring::Window;
use sysmon_tables::schema::Row;

/// What every request of one server needs.
pub struct Context {
    pub live: Arc<LiveState>,
    pub dir: Option<PathBuf>,
    /// The bucket the history is read from (`dir := 's3://...'`).
    pub bucket: Option<Arc<crate::view::bucket::Bucket>>,
    pub token: String,
    /// The cookie's name: `sysmon_token_<port>` (cookies are shared by every port of a host).
    pub cookie: String,
    pub shared: Arc<Shared>,
}

/// The server thread's body: serves until asked to stop, then drops every connection. `ready`
/// gets `Ok` once it serves, or why it cannot.
pub fn run(listener: std::net::TcpListener, ctx: Context, ready: Sender<Result<(), String>>) {
    let shared = ctx.shared.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(listener, ctx, &ready)));
    let failed = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(p) => Some(format!("the server's thread panicked: {}", panic_text(&*p))),
    };
    if let Some(e) = failed {
        // Ignored when the server had started (nobody waits any more).
        let _ = ready.send(Err(e.clone()));
        shared.error(e);
    }
    shared.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
    shared.finish();
}

fn serve(listener: std::net::TcpListener, ctx: Context, ready: &Sender<Result<(), String>>) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
    if let Some(b) = &ctx.bucket {
        rt.block_on(b.check())?;
    }
    let _ = ready.send(Ok(()));
    let ctx = Arc::new(ctx);
    let result = rt.block_on(async {
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| format!("cannot register the socket: {e}"))?;
        let accept = tokio::spawn(accept_loop(listener, ctx.clone()));
        ctx.shared.stop.notified().await;
        accept.abort();
        Ok(())
    });
    // Dropping the runtime drops the listener and every connection task.
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

/// Decrements the open-connection count when a connection task ends (or is dropped).
struct Open(Arc<Context>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.shared.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, ctx: Arc<Context>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors, mostly: wait a little rather than spin.
                ctx.shared.error(format!("cannot accept a connection: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let sh = &ctx.shared;
        if sh.connections_open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            sh.connections_refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        sh.connections_open.fetch_add(1, Ordering::Relaxed);
        let open = Open(ctx.clone());
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let ctx = open.0.clone();
            let svc_ctx = ctx.clone();
            let service = hyper::service::service_fn(move |req| {
                let ctx = svc_ctx.clone();
                async move { Ok::<_, Infallible>(answer(&ctx, &req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_header_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_MAX, conn).await {
                Ok(Ok(())) | Err(_) => {}
                // A head too large (hyper answered 431), too slow, or malformed.
                Ok(Err(_)) => {
                    ctx.shared.requests_refused.fetch_add(1, Ordering::Relaxed);
                }
            }
            ctx.shared.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
            drop(open);
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn refuse(ctx: &Context, status: StatusCode, why: &str) -> Response<Full<Bytes>> {
    ctx.shared.requests_refused.fetch_add(1, Ordering::Relaxed);
    let mut r = reply(status, "text/plain; charset=utf-8", format!("{why}\n"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sysmon\""),
        );
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    r
}

/// How a request proved it knows the token.
#[derive(PartialEq, Eq)]
enum Auth {
    Header,
    Cookie,
    Query,
}

fn authenticate(ctx: &Context, req: &Request<Incoming>, query: &str) -> Option<Auth> {
    let token = ctx.token.as_bytes();
    if let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| auth::bearer(h.as_bytes()))
        && auth::token_matches(given, token)
    {
        return Some(Auth::Header);
    }
    for h in req.headers().get_all(header::COOKIE) {
        if let Some(given) = auth::cookie(h.as_bytes(), &ctx.cookie)
            && auth::token_matches(given, token)
        {
            return Some(Auth::Cookie);
        }
    }
    let by_query = auth::query_pairs(query).any(|(k, v)| k == "token" && auth::token_matches(v.as_bytes(), token));
    by_query.then_some(Auth::Query)
}

/// The answer to one request.
pub async fn answer(ctx: &Context, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        return refuse(ctx, StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served");
    }
    let query = req.uri().query().unwrap_or("");
    let Some(how) = authenticate(ctx, req, query) else {
        return refuse(
            ctx,
            StatusCode::UNAUTHORIZED,
            "unauthorized: open the url that serve_metrics() returned (it has ?token=...), or send the header 'Authorization: Bearer <token>'",
        );
    };
    let path = match auth::clean_path(req.uri().path()) {
        Ok(p) => p,
        Err(why) => return refuse(ctx, StatusCode::BAD_REQUEST, &format!("path refused: {why}")),
    };
    let mut r = if path == "/metrics" {
        match scrape(&ctx.live, query) {
            Ok((text, errors)) => {
                if !errors.is_empty() {
                    ctx.shared
                        .error(format!("/metrics left out what it cannot read: {}", errors.join("; ")));
                }
                reply(StatusCode::OK, metrics::CONTENT_TYPE, text)
            }
            Err(e) => {
                ctx.shared.error(e.clone());
                reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("{e}\n"),
                )
            }
        }
    } else {
        let view = crate::view::ViewContext {
            live: &ctx.live,
            dir: ctx.dir.as_deref(),
            bucket: ctx.bucket.as_deref(),
        };
        match crate::view::route_async(&view, &path, query).await {
            Some(v) => reply(
                StatusCode::from_u16(v.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                v.content_type,
                v.body,
            ),
            None => {
                return refuse(
                    ctx,
                    StatusCode::NOT_FOUND,
                    "no such route: /metrics, / and /api/... are served",
                );
            }
        }
    };
    if r.status().is_success() {
        ctx.shared.requests_served.fetch_add(1, Ordering::Relaxed);
    }
    if how == Auth::Query
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            ctx.cookie, ctx.token
        ))
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    if head {
        let (parts, body) = r.into_parts();
        let size = hyper::body::Body::size_hint(&body).exact().unwrap_or(0);
        let mut r = Response::from_parts(parts, Full::new(Bytes::new()));
        r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        return r;
    }
    r
}

/// Which optional families a scrape asks for (`collect[]=processes`, `collect[]=cgroups`).
fn wants(query: &str, what: &str) -> bool {
    auth::query_pairs(query).any(|(k, v)| k == "collect[]" && v == what)
}

/// The `/metrics` text, and the tables left out because they could not be read.
pub fn scrape(live: &LiveState, query: &str) -> Result<(String, Vec<String>), String> {
    let (snap, errors) = snapshot(live, wants(query, "processes"), wants(query, "cgroups"))?;
    Ok((metrics::render(&snap), errors))
}

/// The rows `/metrics` renders: a fresh host sample and the rows of the live tables made from
/// it. A table that cannot be read is left out and named in the second value; only the host
/// sample every other table needs is an error.
pub fn snapshot(live: &LiveState, processes: bool, cgroups: bool) -> Result<(Snapshot, Vec<String>), String> {
    use sysmon_tables::*;
    let s = live.sample_now().map_err(|e| format!("cannot sample the host: {e}"))?;
    let boot_time = s
        .stat
        .boot_time
        .map(|b| sysmon_tables::schema::Timestamp::from_micros(b as i64 * 1_000_000));
    let w = HostWindow {
        base: s.clone(),
        now: s,
    };
    let mut errors: Vec<String> = Vec::new();
    let e = &mut errors;
    let mut snap = Snapshot {
        metrics: ok_rows(e, "system_metrics", metrics::Metrics::rows(&w, live, &())).pop(),
        boot_time,
        cpus: ok_rows(e, "system_cpus", cpus::Cpus::rows(&w, live, &())),
        disks: ok_rows(e, "system_disks", disks::Disks::rows(&w, live, &Default::default())),
        filesystems: ok_rows(
            e,
            "system_filesystems",
            filesystems::Filesystems::rows(&Now, live, &Default::default()),
        ),
        networks: ok_rows(e, "system_networks", networks::Networks::rows(&w, live, &())),
        net_protocols: ok_rows(
            e,
            "system_net_protocols",
            net_protocols::NetProtocols::rows(&w, live, &()),
        )
        .pop(),
        pressure: ok_rows(e, "system_pressure", pressure::Pressure::rows(&w, live, &())),
        sensors: ok_rows(e, "system_sensors", sensors::Sensors::rows(&Now, live, &())),
        processes: None,
        cgroups: None,
    };
    if processes {
        let all: Vec<usize> = (0..processes::ProcessesRow::TABLE.columns.len()).collect();
        let rows = ProcessWindow::live(live, Window::Default, &all)
            .and_then(|w| processes::Processes::rows(&w, live, &Default::default()));
        snap.processes = Some(ok_rows(e, "system_processes", rows));
    }
    if cgroups {
        snap.cgroups = Some(ok_rows(e, "system_cgroups", cgroups::Cgroups::rows(&Now, live, &())));
    }
    Ok((snap, errors))
}

fn ok_rows<T>(errors: &mut Vec<String>, name: &str, r: std::io::Result<Vec<T>>) -> Vec<T> {
    r.unwrap_or_else(|e| {
        errors.push(format!("{name}: {e}"));
        Vec::new()
    })
}
