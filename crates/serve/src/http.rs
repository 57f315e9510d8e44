//! The server's thread: a `current_thread` tokio runtime, the accept loop, hyper's HTTP/1
//! connections, and the answer to each request (method, token, path, route).
//!
//! Connections that send nothing (issue 23): each connection tells the accept loop when its
//! client last sent a byte and whether a request of it is being answered ([`Conn`]). When
//! [`MAX_CONNECTIONS`] are open and another arrives, the accept loop closes the one whose client
//! has been silent longest ([`victim`]) and keeps the new one: one that has sent nothing for
//! [`SILENT_GRACE_US`] goes before the others (an idle keep-alive connection, a head not
//! finished, a connection too new to have sent), and one being answered or with bytes in its
//! socket, unread or undelivered, is never closed. Only when every open
//! connection is such a busy one is the new connection closed instead. A connection that sends
//! no byte within [`FIRST_BYTE_TIMEOUT`] is closed too. So 64 (or 200) silent connections,
//! reopened as fast as they are closed, only ever push each other out.

use std::convert::Infallible;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::auth;
use super::metrics::{self, Snapshot};
use super::{CONNECTION_MAX, FIRST_BYTE_TIMEOUT, HEAD_TIMEOUT, MAX_CONNECTIONS, MAX_HEAD_BYTES, Shared};
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
    /// The clock [`Conn`]'s times count from.
    pub epoch: Instant,
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

/// What a connection's task tells the accept loop about its client.
#[derive(Debug)]
pub struct Conn {
    /// The socket, while the connection's task holds it (-1 once it is closed): only peeked
    /// at, to see whether bytes wait there.
    fd: AtomicI32,
    /// Whether the client sent a byte yet.
    heard: AtomicBool,
    /// Microseconds from the server's epoch to the last sign of the client: its accept, its
    /// last byte read, or the end of the last answer to it.
    quiet_since_us: AtomicU64,
    /// Requests of it being answered now.
    answering: AtomicU32,
}

impl Conn {
    fn new(fd: RawFd, now_us: u64) -> Conn {
        Conn {
            fd: AtomicI32::new(fd),
            heard: AtomicBool::new(false),
            quiet_since_us: AtomicU64::new(now_us),
            answering: AtomicU32::new(0),
        }
    }

    fn heard_at(&self, now_us: u64) {
        self.heard.store(true, Ordering::Relaxed);
        self.quiet_since_us.store(now_us, Ordering::Relaxed);
    }

    /// Whether bytes wait in the socket: from the client, unread by the server (a request that
    /// arrived before its task ran), or to it, not yet delivered (an answer being written to a
    /// slow reader). A closed socket has none.
    fn in_flight(&self) -> bool {
        let fd = self.fd.load(Ordering::Relaxed);
        if fd < 0 {
            return false;
        }
        let mut byte = 0u8;
        // SAFETY: `byte` is a live local of the length given. MSG_PEEK leaves the data in the
        // socket and MSG_DONTWAIT never blocks, so the call changes no descriptor: if the
        // connection closed since `fd` was read (its task clears it first) and the number was
        // reused, the answer is only wrong, never harmful.
        let n = unsafe { libc::recv(fd, (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        if n > 0 {
            return true;
        }
        let mut unsent: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ for a socket) writes one c_int, here a live local; it only
        // reads the queue's length (on another kind of descriptor it fails, and 0 stays).
        let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &raw mut unsent) };
        r == 0 && unsent > 0
    }
}

/// What the accept loop decides from of one open connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub heard: bool,
    pub quiet_us: u64,
    pub answering: bool,
}

/// How long a new connection may stay silent before it goes first among the victims: a real
/// client sends its request within a round trip of connecting.
pub const SILENT_GRACE_US: u64 = 100_000;

/// Which of `open` to close for a new connection: the one silent longest among those that
/// never sent a byte in [`SILENT_GRACE_US`] or more, else the one silent longest among the
/// rest (an idle keep-alive connection, whose client reconnects on its own, goes before a new
/// one that has not had the time to send); never one being answered, nor one for which
/// `in_flight` says bytes wait in its socket (asked in that order, of as few as needed).
/// `None`: every one is busy.
pub fn victim(open: &[Seen], in_flight: impl Fn(usize) -> bool) -> Option<usize> {
    let mut order: Vec<usize> = (0..open.len()).filter(|&i| !open[i].answering).collect();
    order.sort_by_key(|&i| {
        let s = &open[i];
        std::cmp::Reverse((!s.heard && s.quiet_us >= SILENT_GRACE_US, s.quiet_us))
    });
    order.into_iter().find(|&i| !in_flight(i))
}

/// The client's side of a connection as hyper reads and writes it, telling [`Conn`] of every
/// byte read.
struct Watched {
    stream: tokio::net::TcpStream,
    conn: Arc<Conn>,
    epoch: Instant,
}

impl Drop for Watched {
    fn drop(&mut self) {
        // Before the stream (a field) closes the descriptor.
        self.conn.fd.store(-1, Ordering::Relaxed);
    }
}

impl Watched {
    /// Bytes written to the client are a sign of it too: it reads its answer.
    fn wrote(&self, r: &Poll<std::io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = r
            && *n > 0
        {
            self.conn.quiet_since_us.store(us_since(self.epoch), Ordering::Relaxed);
        }
    }
}

fn us_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.conn.heard_at(us_since(this.epoch));
        }
        r
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(&r);
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Counts a request of `conn` as being answered while it lives; its end is a sign of the
/// client too (an idle keep-alive connection is silent from there).
struct Answering {
    conn: Arc<Conn>,
    epoch: Instant,
}

impl Answering {
    fn new(conn: Arc<Conn>, epoch: Instant) -> Answering {
        conn.answering.fetch_add(1, Ordering::Relaxed);
        Answering { conn, epoch }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.conn.quiet_since_us.store(us_since(self.epoch), Ordering::Relaxed);
        self.conn.answering.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An open connection, as the accept loop keeps it.
struct Slot {
    conn: Arc<Conn>,
    task: tokio::task::AbortHandle,
}

async fn accept_loop(listener: tokio::net::TcpListener, ctx: Arc<Context>) {
    let mut open: Vec<Slot> = Vec::new();
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
        open.retain(|s| !s.task.is_finished());
        if open.len() as u64 >= MAX_CONNECTIONS {
            let now = us_since(ctx.epoch);
            let seen: Vec<Seen> = open
                .iter()
                .map(|s| Seen {
                    heard: s.conn.heard.load(Ordering::Relaxed),
                    quiet_us: now.saturating_sub(s.conn.quiet_since_us.load(Ordering::Relaxed)),
                    answering: s.conn.answering.load(Ordering::Relaxed) > 0,
                })
                .collect();
            match victim(&seen, |i| open[i].conn.in_flight()) {
                Some(i) => {
                    open.remove(i).task.abort();
                    sh.connections_shed.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    sh.connections_refused.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                }
            }
        }
        sh.connections_open.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(Conn::new(stream.as_raw_fd(), us_since(ctx.epoch)));
        let io = Watched {
            stream,
            conn: conn.clone(),
            epoch: ctx.epoch,
        };
        let task = tokio::spawn(connection(io, Open(ctx.clone())));
        open.push(Slot {
            conn,
            task: task.abort_handle(),
        });
    }
}

/// One connection: its first byte within [`FIRST_BYTE_TIMEOUT`], then hyper's HTTP/1.
async fn connection(io: Watched, open: Open) {
    let ctx = open.0.clone();
    let mut first = [0u8; 1];
    match tokio::time::timeout(FIRST_BYTE_TIMEOUT, io.stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => io.conn.heard_at(us_since(ctx.epoch)),
        // Closed by the client, or an error: nothing to answer.
        Ok(_) => return,
        Err(_) => {
            ctx.shared.connections_shed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let svc_ctx = ctx.clone();
    let conn = io.conn.clone();
    let service = hyper::service::service_fn(move |req| {
        let ctx = svc_ctx.clone();
        let busy = Answering::new(conn.clone(), ctx.epoch);
        async move {
            let r = answer(&ctx, &req).await;
            drop(busy);
            Ok::<_, Infallible>(r)
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(io), service);
    match tokio::time::timeout(CONNECTION_MAX, served).await {
        Ok(Ok(())) | Err(_) => {}
        // A head too large (hyper answered 431), too slow, or malformed.
        Ok(Err(_)) => {
            ctx.shared.requests_refused.fetch_add(1, Ordering::Relaxed);
        }
    }
    ctx.shared.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
    drop(open);
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
        alerts: live
            .alerts()
            .series()
            .into_iter()
            .flat_map(|(_, s)| s.iter().cloned().collect::<Vec<_>>())
            .collect(),
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
