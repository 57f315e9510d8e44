//! The HTTP server of `serve_metrics`: `/metrics` for Prometheus, and the dashboard's routes
//! (`/`, `/assets/...`, `/api/...`, answered by [`crate::view::route`]).
//!
//! Like a recorder, a server belongs to the process's [`LiveState`] (not to a DuckDB
//! connection, and it holds none): [`start`] binds the socket on the calling thread (so a port
//! in use is the caller's error, and nothing starts) and spawns the server's own thread, which
//! runs a `current_thread` tokio runtime with hyper's HTTP/1 server; [`stop`] (or the process's
//! normal exit, through an `atexit` hook) ends it. Rooms: [`auth`] (token, path and query
//! checks), [`http`] (the connection loop and the limits), [`metrics`] (the text format).
//!
//! Limits, each with its reason: at most [`MAX_CONNECTIONS`] open connections, and when they
//! are all open a new one takes the place of the one whose client has been silent longest (one
//! that never sent a byte in 100 ms first; one being answered, or with bytes waiting, never), so
//! connections that send nothing cannot lock out a scraper (issue 23); only when every open
//! connection is busy is the new one closed at once (counted); a connection that sends no byte
//! within [`FIRST_BYTE_TIMEOUT`] is closed; request heads larger than [`MAX_HEAD_BYTES`] are
//! answered 431; a head not received within [`HEAD_TIMEOUT`] closes the connection (a slow
//! client cannot hold a slot); a connection lives at most [`CONNECTION_MAX`]; only GET and
//! HEAD are answered.
//!
//! The token is drawn anew at each start, or, with `token_file`, read from that file (created
//! there, mode 0600, on the first start), so a scrape config survives restarts ([`auth`]).

pub mod auth;
pub mod http;
pub mod metrics;
pub mod view;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sysmon_kernel::sync::lock;
use sysmon_live::LiveState;
use sysmon_live::registry::{Entry, Registry};
use sysmon_store::destination::Destination;
use sysmon_store::s3::S3Location;
use sysmon_tables::schema::Timestamp;

/// The port `serve_metrics` listens on when `port` is left out. Prometheus's list of default
/// port allocations fills 9100-9999 completely (and 9090-9094 are Prometheus's own), so no
/// port there is free of a well-known exporter; 19800 lies outside it, below Linux's ephemeral
/// range (32768-60999), and is not a port of a common service.
pub const DEFAULT_PORT: u16 = 19800;
pub const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Open connections at most.
pub const MAX_CONNECTIONS: u64 = 64;
/// Bytes of a request head at most (hyper's smallest read buffer is 8 KiB).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Time to receive a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time from the accept to the connection's first byte: every HTTP client sends its request
/// at once (a scraper, a browser), so a connection silent this long is closed (before, it held
/// a slot for the whole [`HEAD_TIMEOUT`]).
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(1);
/// Lifetime of a connection at most (a keep-alive scraper reconnects).
pub const CONNECTION_MAX: Duration = Duration::from_secs(120);
/// How long `stop_serving` and the exit hook wait for the server's thread.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

sysmon_tables::declare_table! {
    /// The one row `serve_metrics` returns: the server it started.
    pub struct ServeStartedRow => "serve_metrics" {
        /// The server's id, for `stop_serving(id)` and `servers()`.
        id: i64 [""],
        /// Where to open it, with the access token: `http://<bind>:<port>/?token=<token>`.
        url: String [""],
        /// The address it listens on.
        bind: String [""],
        /// The TCP port it listens on (the one the kernel chose for `port := 0`).
        port: i32 [""],
        /// The recording the dashboard's history reads (absolute); NULL when only live values are served.
        dir: Option<String> [""],
        /// When it started.
        started_at: Timestamp [""],
    }
}

sysmon_tables::declare_table! {
    /// One row per server started in this process. `stop_serving(id)` returns the same
    /// columns: the stopped server's final row.
    pub struct ServerRow => "servers" {
        /// The server's id, for `stop_serving(id)`.
        id: i64 [""],
        /// Where it answers, `http://<bind>:<port>/`, without the token (only serve_metrics' own row carries it).
        url: String [""],
        /// The address it listens on.
        bind: String [""],
        /// The TCP port it listens on.
        port: i32 [""],
        /// The recording the dashboard's history reads; NULL when only live values are served.
        dir: Option<String> [""],
        /// The file the token was read from (or created in), absolute; NULL when it was drawn anew at this start.
        token_file: Option<String> [""],
        /// `running`, `stopped`, or `failed` (its thread ended without being stopped).
        state: String [""],
        /// When it started.
        started_at: Timestamp [""],
        /// When it stopped; NULL while running.
        stopped_at: Option<Timestamp> [""],
        /// Requests answered with a success (2xx) status.
        requests_served: u64 [""],
        /// Requests refused: no or wrong token, a refused path or method, an unknown route, a head too large or too slow.
        requests_refused: u64 [""],
        /// Connections closed at once because MAX_CONNECTIONS were open and every one was busy (being answered, or with bytes not yet read).
        connections_refused: u64 [""],
        /// Connections closed because their client was silent: no byte within FIRST_BYTE_TIMEOUT of connecting, or the longest silent when MAX_CONNECTIONS were open and another came.
        connections_shed: u64 [""],
        /// The most recent error of the server itself (a failed read of the host, a failed accept), NULL when there was none.
        last_error: Option<String> [""],
        /// When `last_error` happened.
        last_error_at: Option<Timestamp> [""],
        /// CPU time used by the server's thread.
        cpu_seconds: f64 ["seconds"],
    }
}

/// What `serve_metrics` was asked, before any check.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub port: Option<i64>,
    pub bind: Option<String>,
    pub dir: Option<String>,
    /// `dir := 's3://...'` only.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// The file the token is kept in (read, or created on the first start).
    pub token_file: Option<String>,
}

/// A checked request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub addr: SocketAddr,
    /// Absolute, `.` and `..` removed.
    pub dir: Option<PathBuf>,
    /// `dir := 's3://bucket/prefix'`: the bucket the history is read from (checked to hold a
    /// recording when the server starts, on its runtime).
    pub bucket: Option<S3Location>,
    /// `token_file`: absolute, `.` and `..` removed, `~` expanded; not read here (the binding
    /// checks the lockdown first, then [`auth::check_token_file`]); created by the start.
    pub token_file: Option<PathBuf>,
}

/// Checks `req` without acting (what `serve_metrics`'s bind calls).
pub fn check(req: &Request) -> Result<Config, String> {
    let port = match req.port {
        None => DEFAULT_PORT,
        Some(p) => u16::try_from(p)
            .map_err(|_| format!("port must be a TCP port from 1 to 65535, or 0 for any free port; got {p}"))?,
    };
    let ip = match req.bind.as_deref() {
        None => DEFAULT_BIND,
        Some(text) => text.trim().parse::<IpAddr>().map_err(|_| {
            format!(
                "bind must be an IP address to listen on, such as '127.0.0.1' (the default), '::1' or '0.0.0.0' (every interface); got '{text}' (a host name is not accepted: give its address)"
            )
        })?,
    };
    // Every dir goes through the destination's parsing (a plain path too), so `~/x` means the
    // same here as in record_metrics and report_metrics.
    let dest = match req.dir.as_deref() {
        Some(d) => Some(Destination::parse(d).map_err(|e| format!("dir: {e}"))?),
        None => None,
    };
    let bucket = match &dest {
        Some(d) => S3Location::check(d, req.endpoint.as_deref(), req.region.as_deref())?,
        None => None,
    };
    let dir = match &dest {
        Some(Destination::Local(path)) => Some(check_recording(path)?),
        Some(Destination::S3 { .. }) | None => None,
    };
    if bucket.is_none()
        && let Some(p) = [("endpoint", &req.endpoint), ("region", &req.region)]
            .iter()
            .find(|(_, v)| v.is_some())
            .map(|(n, _)| n)
    {
        return Err(format!(
            "{p} applies only to dir := 's3://<bucket>[/<prefix>]'; this server reads {}",
            req.dir
                .as_deref()
                .map_or("no recording".to_string(), |d| format!("the local directory '{d}'"))
        ));
    }
    let token_file = match req.token_file.as_deref() {
        Some(raw) => Some(auth::token_file_path(raw)?),
        None => None,
    };
    Ok(Config {
        addr: SocketAddr::new(ip, port),
        dir,
        bucket,
        token_file,
    })
}

/// `dir` made absolute when it holds a recording: a `<table>/host=<host>/` folder of a table
/// `record_metrics` writes.
pub fn check_recording(dir: &str) -> Result<PathBuf, String> {
    let path = sysmon_kernel::access::lexical(Path::new(dir));
    let shown = path.display();
    let meta = std::fs::metadata(&path).map_err(|e| format!("dir '{shown}' cannot be read: {e}"))?;
    if !meta.is_dir() {
        return Err(format!("dir '{shown}' is not a directory"));
    }
    let recorded = sysmon_tables::recorded::all().any(|t| {
        std::fs::read_dir(path.join(t.name)).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("host=") && e.path().is_dir())
        })
    });
    if !recorded {
        return Err(format!(
            "dir '{shown}' is not a sysmon recording: it has no <table>/host=<host>/ folder as record_metrics writes (such as metrics/host=<host>/); give the directory of record_metrics('{shown}', ...), or leave dir out to serve live values only"
        ));
    }
    Ok(path)
}

pub use sysmon_live::registry::State;

/// What the server's thread and its handle share.
#[derive(Debug)]
pub struct Shared {
    pub stop: tokio::sync::Notify,
    stop_requested: Mutex<bool>,
    finished: Mutex<bool>,
    finished_cv: Condvar,
    state: Mutex<State>,
    stopped_at: Mutex<Option<Timestamp>>,
    pub requests_served: AtomicU64,
    pub requests_refused: AtomicU64,
    pub connections_refused: AtomicU64,
    pub connections_shed: AtomicU64,
    pub connections_open: AtomicU64,
    pub cpu_ns: AtomicU64,
    last_error: Mutex<Option<(String, Timestamp)>>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            stop: tokio::sync::Notify::new(),
            stop_requested: Mutex::new(false),
            finished: Mutex::new(false),
            finished_cv: Condvar::new(),
            state: Mutex::new(State::Running),
            stopped_at: Mutex::new(None),
            requests_served: AtomicU64::new(0),
            requests_refused: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            connections_shed: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }
}

impl Shared {
    pub fn error(&self, msg: impl Into<String>) {
        *lock(&self.last_error) = Some((msg.into(), Timestamp::now()));
    }

    pub fn request_stop(&self) {
        *lock(&self.stop_requested) = true;
        self.stop.notify_one();
    }

    /// Called once by the server's thread when it ends, whatever the reason.
    pub fn finish(&self) {
        *lock(&self.state) = if *lock(&self.stop_requested) {
            State::Stopped
        } else {
            State::Failed
        };
        *lock(&self.stopped_at) = Some(Timestamp::now());
        *lock(&self.finished) = true;
        self.finished_cv.notify_all();
    }

    /// Waits for the thread's end; false on timeout.
    pub fn wait_finished(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut done = lock(&self.finished);
        while !*done {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            done = match self.finished_cv.wait_timeout(done, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }

    pub fn state(&self) -> State {
        *lock(&self.state)
    }
}

/// A server of this process.
#[derive(Debug)]
pub struct Server {
    pub id: i64,
    pub config: Config,
    /// The address it really listens on (the port the kernel chose for port 0).
    pub local: SocketAddr,
    /// With the token: serve_metrics' row only, never servers().
    pub url: String,
    pub started_at: Timestamp,
    pub shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Server {
    pub fn state(&self) -> State {
        self.shared.state()
    }

    fn dir_text(&self) -> Option<String> {
        match &self.config.bucket {
            Some(b) => Some(b.shown.clone()),
            None => self.config.dir.as_ref().map(|d| d.display().to_string()),
        }
    }

    pub fn started_row(&self) -> ServeStartedRow {
        ServeStartedRow {
            id: self.id,
            url: self.url.clone(),
            bind: self.local.ip().to_string(),
            port: i32::from(self.local.port()),
            dir: self.dir_text(),
            started_at: self.started_at,
        }
    }

    pub fn row(&self) -> ServerRow {
        let sh = &self.shared;
        let err = lock(&sh.last_error).clone();
        ServerRow {
            id: self.id,
            url: format!("http://{}/", self.local),
            bind: self.local.ip().to_string(),
            port: i32::from(self.local.port()),
            dir: self.dir_text(),
            token_file: self.config.token_file.as_ref().map(|p| p.display().to_string()),
            state: self.state().as_str().to_string(),
            started_at: self.started_at,
            stopped_at: *lock(&sh.stopped_at),
            requests_served: sh.requests_served.load(Ordering::Relaxed),
            requests_refused: sh.requests_refused.load(Ordering::Relaxed),
            connections_refused: sh.connections_refused.load(Ordering::Relaxed),
            connections_shed: sh.connections_shed.load(Ordering::Relaxed),
            last_error: err.as_ref().map(|e| e.0.clone()),
            last_error_at: err.map(|e| e.1),
            cpu_seconds: sh.cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// Asks the thread to end and waits at most `timeout`.
    fn stop(&self, timeout: Duration) -> bool {
        self.shared.request_stop();
        if !self.shared.wait_finished(timeout) {
            return false;
        }
        if let Some(h) = lock(&self.thread).take() {
            let _ = h.join();
        }
        true
    }
}

/// The servers of one process (the process object owns it).
pub type Servers = Registry<Server>;

impl Entry for Server {
    type Row = ServerRow;
    const NOUN: &'static str = "server";
    const LISTING: &'static str = "servers()";

    fn id(&self) -> i64 {
        self.id
    }

    fn state(&self) -> State {
        self.shared.state()
    }

    fn row(&self) -> ServerRow {
        Server::row(self)
    }

    fn request_stop(&self) {
        self.shared.request_stop();
    }

    fn wait_finished(&self, timeout: Duration) -> bool {
        self.shared.wait_finished(timeout)
    }
}

/// `http://<ip>:<port>/?token=<token>` (an IPv6 address in brackets).
fn url_of(addr: &SocketAddr, token: &str) -> String {
    format!("http://{addr}/?token={token}")
}

/// Binds `config`'s address and starts a server on `state`, kept in `servers` (the act of
/// `serve_metrics`, on its first scan call).
pub fn start(state: &Arc<LiveState>, servers: &Servers, config: Config) -> Result<Arc<Server>, String> {
    let addr = config.addr;
    let listener = TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {} on {} is in use (by another program or another server); choose another with port := N, or port := 0 for any free port",
            addr.port(),
            addr.ip()
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "bind address {} is not an address of this host; use '127.0.0.1', '::1', '0.0.0.0' or an address of one of its interfaces",
            addr.ip()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "port {} needs privileges this process lacks (ports below 1024 do); choose a port from 1024 to 65535",
            addr.port()
        ),
        _ => format!("cannot listen on {addr}: {e}"),
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot make the socket non-blocking: {e}"))?;
    let token = match &config.token_file {
        Some(path) => auth::token_from_file(path)?,
        None => auth::new_token().map_err(|e| format!("cannot draw a random token: {e}"))?,
    };
    let bucket = match &config.bucket {
        Some(loc) => Some(Arc::new(crate::view::bucket::Bucket::new(loc.clone())?)),
        None => None,
    };
    let id = servers.next_id();
    let shared = Arc::new(Shared::default());
    let ctx = http::Context {
        live: state.clone(),
        dir: config.dir.clone(),
        bucket,
        cookie: format!("sysmon_token_{}", local.port()),
        token,
        shared: shared.clone(),
        epoch: Instant::now(),
    };
    let url = url_of(&local, &ctx.token);
    // The thread answers once its runtime runs (and, with a bucket, once the bucket answered
    // with a recording): a failure there starts nothing.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let thread = std::thread::Builder::new()
        .name(format!("sysmon-serve{id}"))
        .spawn(move || http::run(listener, ctx, ready_tx))
        .map_err(|e| format!("cannot start the server's thread: {e}"))?;
    let ready = ready_rx
        .recv_timeout(crate::view::bucket::LIST_TIMEOUT + Duration::from_secs(5))
        .unwrap_or_else(|_| Err("the server's thread did not start".into()));
    if let Err(e) = ready {
        shared.request_stop();
        let _ = thread.join();
        return Err(e);
    }
    let server = Arc::new(Server {
        id,
        config,
        local,
        url,
        started_at: Timestamp::now(),
        shared,
        thread: Mutex::new(Some(thread)),
    });
    servers.add(server.clone());
    Ok(server)
}

/// Stops server `id` of `servers` and returns its final row (the act of `stop_serving`).
pub fn stop(servers: &Servers, id: i64) -> Result<ServerRow, String> {
    let s = servers.check_stoppable(id)?;
    if !s.stop(STOP_TIMEOUT) {
        return Err(format!(
            "server {id} did not stop within {} s; see servers()",
            STOP_TIMEOUT.as_secs()
        ));
    }
    Ok(s.row())
}

#[cfg(test)]
mod tests;
