//! The server end to end on a fixture host, over real sockets on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use sysmon_kernel::procfs::Roots;

/// A live state and the servers started on it (what the process object holds).
struct Rig {
    live: Arc<LiveState>,
    servers: Servers,
}

fn state() -> Rig {
    Rig {
        live: Arc::new(LiveState::new(Roots::test_fixture("modern"))),
        servers: Servers::default(),
    }
}

fn start(rig: &Rig, config: Config) -> Result<Arc<Server>, String> {
    super::start(&rig.live, &rig.servers, config)
}

fn stop(rig: &Rig, id: i64) -> Result<ServerRow, String> {
    super::stop(&rig.servers, id)
}

fn any_port() -> Config {
    check(&Request {
        port: Some(0),
        ..Request::default()
    })
    .unwrap()
}

fn token_of(s: &Server) -> String {
    s.url.split("token=").nth(1).unwrap().to_string()
}

/// Sends `raw` and returns the whole answer (the server closes after `Connection: close`).
fn send(s: &Server, raw: &str) -> String {
    let mut c = TcpStream::connect(s.local).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(s: &Server, target: &str, headers: &str) -> String {
    send(
        s,
        &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"),
    )
}

fn status(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn requests_need_the_token_and_sane_paths() {
    let st = state();
    let s = start(&st, any_port()).unwrap();
    let t = token_of(&s);
    assert_eq!(status(&get(&s, "/metrics", "")), 401);
    assert_eq!(status(&get(&s, "/metrics?token=nope", "")), 401);
    assert_eq!(
        status(&get(&s, &format!("/metrics?token={}", t.to_uppercase()), "")),
        401
    );
    assert_eq!(status(&get(&s, "/metrics", "Authorization: Bearer wrong\r\n")), 401);

    let ok = get(&s, "/metrics", &format!("Authorization: Bearer {t}\r\n"));
    assert_eq!(status(&ok), 200, "{ok}");
    assert!(ok.contains("text/plain; version=0.0.4"), "{ok}");
    assert!(
        ok.contains("\nnode_cpu_seconds_total{cpu=\"0\",mode=\"user\"} "),
        "{ok}"
    );

    let by_query = get(&s, &format!("/?token={t}"), "");
    assert_eq!(status(&by_query), 200);
    let cookie = format!("sysmon_token_{}={t}; HttpOnly; SameSite=Strict; Path=/", s.local.port());
    assert!(by_query.contains(&cookie), "{by_query}");
    let by_cookie = get(
        &s,
        "/api/live",
        &format!("Cookie: sysmon_token_{}={t}\r\n", s.local.port()),
    );
    assert_eq!(status(&by_cookie), 200, "{by_cookie}");

    for p in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/assets/..%2f..%2fetc/passwd",
    ] {
        let a = get(&s, &format!("{p}?token={t}"), "");
        assert_eq!(status(&a), 400, "{p}: {a}");
        assert!(!a.contains("root:"), "{a}");
    }
    assert_eq!(status(&get(&s, &format!("/nowhere?token={t}"), "")), 404);
    let post = send(
        &s,
        &format!("POST /metrics?token={t} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status(&post), 405);
    let head = send(
        &s,
        &format!("HEAD /metrics?token={t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status(&head), 200);
    assert!(!head.contains("node_cpu"), "HEAD has no body: {head}");

    let huge = format!("X-Big: {}\r\n", "a".repeat(64 * 1024));
    assert_eq!(status(&get(&s, &format!("/metrics?token={t}"), &huge)), 431);

    // The 431 is counted when its connection task ends, which may be just after the client read it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.row().requests_refused < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let row = s.row();
    assert_eq!(row.state, "running");
    assert!(row.requests_served >= 4, "{row:?}");
    assert!(row.requests_refused >= 10, "{row:?}");
    assert_eq!(
        status(&get(&s, &format!("/metrics?token={t}"), "")),
        200,
        "still serving"
    );

    let stopped = stop(&st, s.id).unwrap();
    assert_eq!(stopped.state, "stopped");
    assert!(stopped.stopped_at.is_some());
    assert!(TcpStream::connect(s.local).is_err(), "the port is closed once stopped");
    assert!(stop(&st, s.id).unwrap_err().contains("already stopped"));
    assert!(stop(&st, 99).unwrap_err().contains("no server has id 99"));
}

#[test]
fn a_slow_client_is_cut_off_and_others_are_served_meanwhile() {
    let st = state();
    let s = start(&st, any_port()).unwrap();
    let t = token_of(&s);
    let mut slow = TcpStream::connect(s.local).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
    // Meanwhile another client is served.
    assert_eq!(status(&get(&s, &format!("/metrics?token={t}"), "")), 200);
    slow.set_read_timeout(Some(HEAD_TIMEOUT * 3)).unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let n = slow.read_to_end(&mut buf);
    assert!(n.is_ok(), "closed by the server, not by our read timeout: {n:?}");
    assert!(started.elapsed() < HEAD_TIMEOUT * 3, "{:?}", started.elapsed());
    assert_eq!(status(&get(&s, &format!("/metrics?token={t}"), "")), 200);
    stop(&st, s.id).unwrap();
}

#[test]
fn silent_connections_at_the_limit_make_room_for_a_new_one() {
    let st = state();
    let s = start(&st, any_port()).unwrap();
    let t = token_of(&s);
    let mut held: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(s.local).unwrap())
        .collect();
    // Wait until the server has accepted them all.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.shared.connections_open.load(Ordering::Relaxed) < MAX_CONNECTIONS && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The new connection is answered: the oldest silent one was closed for it.
    let a = get(&s, &format!("/metrics?token={t}"), "");
    assert_eq!(status(&a), 200, "{a}");
    assert!(s.row().connections_shed >= 1, "{:?}", s.row());
    assert_eq!(s.row().connections_refused, 0);
    held[0].set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(held[0].read(&mut buf), Ok(0) | Err(_)),
        "the oldest silent connection was the one closed"
    );
    // The others are closed too, FIRST_BYTE_TIMEOUT after they connected.
    let last = held.last_mut().unwrap();
    last.set_read_timeout(Some(FIRST_BYTE_TIMEOUT * 10)).unwrap();
    let started = std::time::Instant::now();
    let r = last.read(&mut buf);
    assert!(
        matches!(r, Ok(0))
            || r.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "closed by the server, not by our read timeout: {r:?}"
    );
    assert!(started.elapsed() < FIRST_BYTE_TIMEOUT * 5, "{:?}", started.elapsed());
    stop(&st, s.id).unwrap();
}

#[test]
fn the_victim_is_the_longest_silent_and_never_a_busy_one() {
    let seen = |heard, quiet_us, answering| http::Seen {
        heard,
        quiet_us,
        answering,
    };
    let none = |_: usize| false;
    let grace = http::SILENT_GRACE_US;
    // Never heard for the grace or longer goes before heard, however long that one is quiet.
    let open = [
        seen(true, 40 * grace, false),
        seen(false, grace, false),
        seen(false, 9 * grace, false),
        seen(false, grace / 2, false),
    ];
    assert_eq!(http::victim(&open, none), Some(2));
    // Bytes waiting (a request not read yet, an answer not delivered) protect a connection.
    assert_eq!(http::victim(&open, |i| i == 2), Some(1));
    // Then the longest silent: a new connection still in its grace goes last.
    assert_eq!(http::victim(&open, |i| i == 1 || i == 2), Some(0));
    assert_eq!(http::victim(&open, |i| i != 3), Some(3));
    // One being answered is never closed; every one busy: none.
    let busy = [seen(true, 9000, true), seen(false, 9000, true)];
    assert_eq!(http::victim(&busy, none), None);
    assert_eq!(http::victim(&open, |_| true), None);
    assert_eq!(http::victim(&[], none), None);
}

#[test]
fn a_token_file_keeps_the_token_across_restarts() {
    let d = std::env::temp_dir().join(format!("sysmon-serve-token-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let file = d.join("serve.token");
    let mut c = any_port();
    c.token_file = Some(file.clone());
    let st = state();
    let first = start(&st, c.clone()).unwrap();
    let t = token_of(&first);
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{t}\n"));
    let row = first.row();
    assert_eq!(row.token_file.as_deref(), Some(file.to_str().unwrap()));
    assert!(
        !format!("{row:?}").contains(&t),
        "servers() never shows the token: {row:?}"
    );
    assert_eq!(row.url, format!("http://{}/", first.local));
    stop(&st, first.id).unwrap();
    // A restart on the same port reads the same token; a scrape with it is answered.
    c.addr = first.local;
    let second = start(&st, c).unwrap();
    assert_eq!(token_of(&second), t);
    let a = get(&second, "/metrics", &format!("Authorization: Bearer {t}\r\n"));
    assert_eq!(status(&a), 200);
    stop(&st, second.id).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        [std::ffi::OsString::from("serve.token")],
        "no temporary file left"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_requests_are_refused_before_anything_starts() {
    let e = check(&Request {
        port: Some(70000),
        ..Request::default()
    })
    .unwrap_err();
    assert!(
        e.contains("port must be a TCP port from 1 to 65535") && e.contains("70000"),
        "{e}"
    );
    assert!(
        check(&Request {
            port: Some(-1),
            ..Request::default()
        })
        .is_err()
    );
    let e = check(&Request {
        bind: Some("localhost".into()),
        ..Request::default()
    })
    .unwrap_err();
    assert!(
        e.contains("bind must be an IP address") && e.contains("'localhost'"),
        "{e}"
    );
    let d = std::env::temp_dir().join(format!("sysmon-serve-notrec-{}", std::process::id()));
    std::fs::create_dir_all(d.join("other")).unwrap();
    let e = check(&Request {
        dir: Some(d.display().to_string()),
        ..Request::default()
    })
    .unwrap_err();
    assert!(e.contains("is not a sysmon recording"), "{e}");
    std::fs::create_dir_all(d.join("metrics/host=h1")).unwrap();
    let c = check(&Request {
        dir: Some(d.display().to_string()),
        ..Request::default()
    })
    .unwrap();
    assert_eq!(c.dir.as_deref(), Some(d.as_path()));
    assert_eq!(c.addr, SocketAddr::new(DEFAULT_BIND, DEFAULT_PORT));
    let e = check(&Request {
        dir: Some(d.join("missing").display().to_string()),
        ..Request::default()
    })
    .unwrap_err();
    assert!(e.contains("cannot be read"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();

    // A port in use: nothing starts, no id is taken.
    let st = state();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = any_port();
    c.addr = taken.local_addr().unwrap();
    let e = start(&st, c).unwrap_err();
    assert!(e.contains("is in use"), "{e}");
    assert!(st.servers.rows().is_empty());
    let mut c = any_port();
    c.addr = "192.0.2.1:0".parse().unwrap();
    let e = start(&st, c).unwrap_err();
    assert!(e.contains("is not an address of this host"), "{e}");
}

#[test]
fn scrape_renders_the_live_tables() {
    let st = state();
    let (text, errors) = http::scrape(&st.live, "").unwrap();
    assert!(text.contains("node_memory_MemAvailable_bytes "), "{text}");
    assert!(!text.contains("sysmon_process_"), "processes only when asked");
    let (text, _) = http::scrape(&st.live, "collect%5B%5D=processes").unwrap();
    assert!(text.contains("sysmon_process_resident_memory_bytes{pid="), "{text}");
    let _ = errors;
}

#[test]
fn urls_put_ipv6_addresses_in_brackets() {
    assert_eq!(
        url_of(&"[::1]:8080".parse().unwrap(), "ab"),
        "http://[::1]:8080/?token=ab"
    );
    assert_eq!(
        url_of(&"127.0.0.1:80".parse().unwrap(), "ab"),
        "http://127.0.0.1:80/?token=ab"
    );
}
