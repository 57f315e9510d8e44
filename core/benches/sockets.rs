//! Cost of `system_sockets()` per socket and per process, next to `ss` run in the same bench.
//!
//! `cargo bench -p sysmon-core --bench sockets`. The bench first opens `PAIRS` loopback TCP
//! connections (2 × `PAIRS` + 1 sockets held by this process) so that per-socket figures are
//! not lost in fixed costs. It prints medians; ratios are against `ss` measured in this run.
//! `ss` is a separate program: its times include starting a process, so `ss -V` (start and
//! exit only) is measured too. The TCP/UDP listing is measured from both sources,
//! `/proc/net` files and the `sock_diag` netlink dump, with the ratio between them. No timing
//! is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool: a failure may abort it

use std::collections::HashSet;
use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sysmon_kernel::procfs::Roots;
use sysmon_kernel::procfs::socket_owners;
use sysmon_tables::processes;
use sysmon_tables::schema::Timestamp;
use sysmon_tables::sockets::{self, InetSource, SocketFields, SocketKind};

const PAIRS: usize = 500;

fn median(iters: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters / 10 + 1 {
        f();
    }
    let mut t: Vec<Duration> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs `ss args`, output discarded; `None` if ss is not installed.
fn ss(args: &[&str]) -> Option<()> {
    Command::new("ss")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| ())
}

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::with_capacity(2 * PAIRS);
    for _ in 0..PAIRS {
        let c = TcpStream::connect(addr).expect("connect");
        let (a, _) = listener.accept().expect("accept");
        held.push(c);
        held.push(a);
    }
    let roots = Roots::default();
    // Names through the uid -> name cache, as the table's SQL binding does.
    let names = std::cell::RefCell::new(processes::UserNames::new(processes::user_name));
    let user_name = |uid| names.borrow_mut().name(uid);
    let collect = |kind, fields| sockets::collect(&roots, kind, fields, &user_name, Timestamp::now(), "h").unwrap();
    let collect_from = |source, kind, fields| {
        sockets::collect_from(source, &roots, kind, fields, &user_name, Timestamp::now(), "h").unwrap()
    };
    let default_source = InetSource::for_roots(&roots);
    if let Err(e) = sysmon_kernel::procfs::sock_diag::SockDiag::open()
        .and_then(|mut d| d.dump(sysmon_kernel::procfs::net_sockets::Protocol::Tcp, u32::MAX))
    {
        println!("  sock_diag refused here ({e}): its figures below are the /proc/net fallback");
    }
    let all = collect(SocketKind::All, SocketFields::all());
    let n_sockets = all.len();
    let n_tcp = all.iter().filter(|r| r.protocol.starts_with("tcp")).count();
    let wanted: HashSet<u64> = all.iter().map(|r| r.inode).filter(|&i| i != 0).collect();
    let scan = socket_owners::scan(Path::new("/proc"), &wanted).unwrap();
    println!(
        "system_sockets: {n_sockets} sockets ({n_tcp} TCP, {} held by this bench), {} processes ({} unreadable), {} fd links",
        2 * PAIRS + 1,
        scan.processes,
        scan.unreadable,
        scan.fds
    );

    let iters = 200;
    let parse = median(iters, || {
        black_box(collect_from(
            InetSource::ProcNet,
            SocketKind::All,
            SocketFields::default(),
        ));
    });
    let diag = median(iters, || {
        black_box(collect_from(
            InetSource::SockDiag,
            SocketKind::All,
            SocketFields::default(),
        ));
    });
    let parse_listening = median(iters, || {
        black_box(collect_from(
            InetSource::ProcNet,
            SocketKind::Listening,
            SocketFields::default(),
        ));
    });
    let diag_listening = median(iters, || {
        black_box(collect_from(
            InetSource::SockDiag,
            SocketKind::Listening,
            SocketFields::default(),
        ));
    });
    let owners = median(iters, || {
        black_box(socket_owners::scan(Path::new("/proc"), &wanted).unwrap());
    });
    let full = median(iters, || {
        black_box(collect(SocketKind::All, SocketFields::all()));
    });
    let listening = median(iters, || {
        black_box(collect(SocketKind::Listening, SocketFields::all()));
    });
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("  listing read by default from      {default_source:?}");
    println!(
        "  /proc/net files parsed (no owners){:>9.1} us   {:>6.3} us/socket",
        us(parse),
        us(parse) / n_sockets as f64
    );
    println!(
        "  sock_diag netlink (no owners)     {:>9.1} us   {:>6.3} us/socket   /proc/net / sock_diag {:>6.2}x",
        us(diag),
        us(diag) / n_sockets as f64,
        ratio(parse, diag)
    );
    println!(
        "  kind:='listening', no owners      {:>9.1} us /proc/net   {:>9.1} us sock_diag   /proc/net / sock_diag {:>6.2}x",
        us(parse_listening),
        us(diag_listening),
        ratio(parse_listening, diag_listening)
    );
    println!(
        "  owner scan (fd links)             {:>9.1} us   {:>6.2} us/process   {:>6.3} us/fd link",
        us(owners),
        us(owners) / scan.processes.max(1) as f64,
        us(owners) / scan.fds.max(1) as f64
    );
    println!(
        "  system_sockets() all columns      {:>9.1} us   {:>6.3} us/socket",
        us(full),
        us(full) / n_sockets as f64
    );
    println!("  system_sockets(kind:='listening') {:>9.1} us", us(listening));

    if ss(&["-V"]).is_none() {
        println!("  ss not installed: no comparison");
        return;
    }
    let ss_iters = 50;
    let spawn = median(ss_iters, || {
        ss(&["-V"]);
    });
    let ss_tan = median(ss_iters, || {
        ss(&["-tan"]);
    });
    let ss_tanp = median(ss_iters, || {
        ss(&["-tanp"]);
    });
    let ss_all = median(ss_iters, || {
        ss(&["-tuxanp"]);
    });
    println!("  ss -V (process start only)        {:>9.1} us", us(spawn));
    println!(
        "  ss -tan (netlink, no owners)      {:>9.1} us   {:>9.1} us without the start",
        us(ss_tan),
        us(ss_tan.saturating_sub(spawn))
    );
    println!(
        "  ss -tanp                          {:>9.1} us   {:>9.1} us without the start",
        us(ss_tanp),
        us(ss_tanp.saturating_sub(spawn))
    );
    println!(
        "  ss -tuxanp (what the table covers){:>9.1} us   {:>9.1} us without the start",
        us(ss_all),
        us(ss_all.saturating_sub(spawn))
    );
    println!(
        "  ratio system_sockets() / ss -tanp {:>6.2}x   (/ ss -tanp without its start {:>6.2}x; / ss -tuxanp without its start {:>6.2}x)",
        ratio(full, ss_tanp),
        ratio(full, ss_tanp.saturating_sub(spawn).max(Duration::from_nanos(1))),
        ratio(full, ss_all.saturating_sub(spawn).max(Duration::from_nanos(1)))
    );
    println!(
        "  listing vs ss -tan's netlink dump + print (start removed): /proc/net {:>6.2}x, sock_diag {:>6.2}x",
        ratio(parse, ss_tan.saturating_sub(spawn).max(Duration::from_nanos(1))),
        ratio(diag, ss_tan.saturating_sub(spawn).max(Duration::from_nanos(1)))
    );
    drop(held);
}
