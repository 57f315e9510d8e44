//! Rendering tests on ratatui's `TestBackend`: what a terminal of a given size would show.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use sysmon_tables::metrics::MetricsRow;
use sysmon_tables::schema::Row as _;

use sysmon_kernel::procfs::Roots;
use sysmon_tables::schema::Timestamp;
use sysmon_tables::sockets::{SocketFields, SocketKind};

use crate::app::{App, Mode, Pane};
use crate::data::{Cgroup, Frame, History, Loaded, Proc, Rows, Stretch, Value, Zone};
use crate::render;

fn proc(pid: i64, name: &str, cpu: f64, rss: f64, read: Option<f64>) -> Proc {
    Proc {
        pid,
        ppid: None,
        user: Some("alice".into()),
        state: Some("S".into()),
        cpu_pct: Some(cpu),
        rss_bytes: Some(rss),
        mem_pct: None,
        read_per_sec: read,
        write_per_sec: None,
        threads: Some(1),
        name: name.into(),
        command: format!("/usr/bin/{name} --flag"),
        start_us: Some(0),
        read_bytes: None,
        written_bytes: None,
    }
}

fn frame() -> Frame {
    let mut f = Frame::empty();
    let decl = MetricsRow::TABLE;
    let mut row = vec![Value::Null; decl.columns.len()];
    let mut set = |name: &str, v: Value| row[decl.column_index(name).unwrap()] = v;
    set("hostname", Value::S("testhost".into()));
    set("uptime_seconds", Value::F(3.0 * 86_400.0 + 4.0 * 3600.0 + 12.0 * 60.0));
    set("load_1m", Value::F(0.52));
    set("load_5m", Value::F(0.40));
    set("load_15m", Value::F(0.31));
    set("cpu_busy_pct", Value::F(50.0));
    set("cpu_user_pct", Value::F(30.0));
    set("cpu_system_pct", Value::F(20.0));
    set("mem_total_bytes", Value::U(8 << 30));
    set("mem_used_bytes", Value::U(2 << 30));
    f.metrics = Rows { decl, rows: vec![row] };
    f.procs = Some(vec![
        proc(10, "small", 1.0, 900e6, Some(5.0)),
        proc(20, "busy", 90.0, 1e6, None),
        // A name that was not UTF-8, as the reader gives it (lossily).
        proc(30, "caf\u{fffd}\u{fffd}", 5.0, 10e6, Some(1e6)),
    ]);
    f.ts_us = Some(0);
    f
}

fn screen(app: &App, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render::draw(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect::<String>())
        .collect()
}

fn live_app() -> App {
    let mut a = App::new(Mode::Live { interval_ms: 1000 }, false);
    a.zone = Zone::Utc;
    a.frame = frame();
    a
}

fn replay_app() -> App {
    let mut a = App::new(
        Mode::Replay {
            location: "/r".into(),
            index: 3,
            count: 9,
        },
        false,
    );
    a.zone = Zone::Utc;
    a.frame = frame();
    a
}

/// The cgroups of the cgroup-v2 fixture, with rates against the same tree 2 s earlier with
/// less CPU time and fewer bytes read in the container.
fn fixture_cgroups() -> Vec<Cgroup> {
    let rows =
        sysmon_tables::cgroups::collect(&Roots::test_fixture("cgroup-v2"), Timestamp::from_micros(0), "h").unwrap();
    let mut now = Cgroup::from_rows(&Rows::from_rows(&rows));
    let mut before = now.clone();
    for c in &mut before {
        if c.path.ends_with("docker-abc.scope") {
            c.cpu_seconds = c.cpu_seconds.map(|s| s - 1.0);
            c.io_read_bytes = c.io_read_bytes.map(|b| b - 2048.0);
        }
    }
    Cgroup::set_rates(&mut now, &before, 2.0);
    now
}

fn fixture_sockets() -> Rows {
    let names = |uid: u32| (uid == 1000).then(|| "alice".to_string());
    let rows = sysmon_tables::sockets::collect(
        &Roots::test_fixture("sockets"),
        SocketKind::Listening,
        SocketFields::all(),
        &names,
        Timestamp::from_micros(0),
        "h",
    )
    .unwrap();
    Rows::from_rows(&rows)
}

fn row_of(lines: &[String], needle: &str) -> Option<usize> {
    lines.iter().position(|l| l.contains(needle))
}

#[test]
fn header_shows_host_uptime_load_cpu_and_memory() {
    let s = screen(&live_app(), 120, 40);
    let top = s[0].as_str();
    assert!(
        top.contains("testhost") && top.contains("up 3d 4:12") && top.contains("load 0.52 0.40 0.31"),
        "{top}"
    );
    let cpu = &s[row_of(&s, "CPU  [").unwrap()];
    assert!(
        cpu.contains("|||") && cpu.contains("###") && cpu.contains("50.0%"),
        "{cpu}"
    );
    let mem = &s[row_of(&s, "Mem  [").unwrap()];
    assert!(mem.contains("2.0G/8.0G"), "{mem}");
    assert!(
        mem.contains("Swap") && mem.contains("-/-"),
        "no swap figures: '-', never 0: {mem}"
    );
    assert!(row_of(&s, "PSI  - (no pressure").is_some(), "no PSI rows: said so");
}

#[test]
fn processes_sort_by_each_key_and_reverse() {
    let mut a = live_app();
    let order = |a: &App| {
        let s = screen(a, 120, 40);
        ["busy", "small", "caf"].map(|n| row_of(&s, &format!("/usr/bin/{n}")).unwrap())
    };
    let o = order(&a);
    assert!(o[0] < o[2] && o[2] < o[1], "by CPU: busy, café, small: {o:?}");
    a.key(KeyEvent::new(KeyCode::Char('m'), KeyModifiers::NONE));
    let o = order(&a);
    assert!(o[1] < o[2] && o[2] < o[0], "by memory: small, café, busy: {o:?}");
    a.key(KeyEvent::new(KeyCode::Char('m'), KeyModifiers::NONE));
    let o = order(&a);
    assert!(o[0] < o[2] && o[2] < o[1], "reversed memory: {o:?}");
    a.key(KeyEvent::new(KeyCode::Char('i'), KeyModifiers::NONE));
    let o = order(&a);
    assert!(
        o[2] < o[1] && o[1] < o[0],
        "by I/O, a process without a counter last: {o:?}"
    );
    a.key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE));
    let o = order(&a);
    assert!(o[1] < o[0] && o[0] < o[2], "by pid: {o:?}");
    let s = screen(&a, 120, 40);
    let busy = &s[row_of(&s, "/usr/bin/busy").unwrap()];
    assert!(busy.contains("90.0") && busy.contains("alice"), "{busy}");
    assert!(
        busy.split_whitespace().any(|w| w == "-"),
        "no read counter: '-': {busy}"
    );
}

#[test]
fn filter_keeps_matching_processes() {
    let mut a = live_app();
    a.key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE));
    for c in "busy".chars() {
        a.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let s = screen(&a, 120, 40);
    assert!(row_of(&s, "/usr/bin/busy").is_some() && row_of(&s, "/usr/bin/small").is_none());
    assert!(s[39].contains("filter: busy_"), "{}", s[39]);
}

#[test]
fn non_utf8_names_are_shown_lossily() {
    let s = screen(&live_app(), 120, 40);
    assert!(row_of(&s, "/usr/bin/caf\u{fffd}\u{fffd} --flag").is_some());
}

/// 16 CPUs, each 12.5 % busy: more than 80x24 has room for.
fn sixteen_cpus() -> Rows {
    let decl = sysmon_tables::cpus::CpusRow::TABLE;
    Rows {
        decl,
        rows: (0..16)
            .map(|i| {
                let mut r = vec![Value::Null; decl.columns.len()];
                r[decl.column_index("cpu").unwrap()] = Value::I(i);
                r[decl.column_index("cpu_busy_pct").unwrap()] = Value::F(12.5);
                r
            })
            .collect(),
    }
}

#[test]
fn a_small_terminal_still_shows_header_and_processes() {
    let mut a = live_app();
    // More CPUs than the bars have room for; the rest is counted.
    a.frame.cpus = sixteen_cpus();
    let s = screen(&a, 80, 24);
    assert!(s[0].contains("testhost"));
    let cpu = &s[row_of(&s, "CPU  [").unwrap()];
    assert!(cpu.trim_end().ends_with("st -"), "the whole CPU line fits: {cpu}");
    assert!(row_of(&s, "Mem  [").is_some());
    assert!(row_of(&s, "more CPUs").is_some(), "{s:#?}");
    assert!(
        row_of(&s, "PID").is_some() && row_of(&s, "/usr/bin/busy").is_some(),
        "{s:#?}"
    );
    assert!(s[23].contains("q quit"));
    // A replay's status line keeps its keys that matter most at 80 columns.
    let r = screen(&replay_app(), 80, 24);
    assert!(
        r[23].contains("←/→ sample") && r[23].trim_end().ends_with("? help · q quit"),
        "{}",
        r[23]
    );
    // The help fits too, live and in a replay: its last line is on the screen.
    for mut a in [a, replay_app()] {
        a.frame.cpus = sixteen_cpus();
        a.key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
        let s = screen(&a, 80, 24);
        assert!(row_of(&s, "Times are in UTC").is_some(), "{s:#?}");
        assert!(s.iter().all(|l| l.ends_with(' ')), "no line cut at 80 columns: {s:#?}");
        if a.is_replay() {
            assert!(s[0].contains("replay 1970-01-01 00:00:00.000 UTC [3/9]"), "{}", s[0]);
            assert!(
                s[0].contains("testhost · up 3d 4:12 ·") && !s[0].contains("load"),
                "{}",
                s[0]
            );
        }
    }
}

#[test]
fn replay_shows_the_cursor_time_and_panes() {
    let mut a = replay_app();
    a.color = true;
    a.frame.ts_us = Some(1_796_526_720_250_000);
    let s = screen(&a, 100, 30);
    assert!(s[0].contains("replay 2026-12-06 03:12:00.250 UTC [3/9]"), "{}", s[0]);
    a.pane = Pane::Disks;
    let s = screen(&a, 100, 30);
    assert!(row_of(&s, "DEVICE").is_some() && row_of(&s, "no disks at this time").is_some());
    a.frame.procs = None;
    a.pane = Pane::Processes;
    let s = screen(&a, 100, 30);
    assert!(row_of(&s, "holds no process snapshot").is_some());
    a.key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    let s = screen(&a, 100, 30);
    assert!(row_of(&s, "go to a time").is_some());
}

#[test]
fn cgroups_pane_shows_rates_and_containers_at_80x24_and_120x40() {
    let mut a = live_app();
    a.pane = Pane::Cgroups;
    let s = screen(&a, 120, 40);
    assert!(row_of(&s, " Cgroups ").is_some());
    let head = &s[row_of(&s, "CPU%↓").unwrap()];
    assert!(head.contains("LIMIT") && head.contains("PATH"), "{head}");
    assert!(row_of(&s, "reading…").is_some(), "not read yet: said so");
    a.frame.cgroups = Loaded::Ready {
        at_us: None,
        rows: fixture_cgroups(),
    };
    for (w, h) in [(120, 40), (80, 24)] {
        let s = screen(&a, w, h);
        let first = row_of(&s, "CPU%").unwrap() + 1;
        let docker = &s[first];
        // Sorted by CPU: the container (1 s of CPU in 2 s) first.
        assert!(docker.contains("docker-abc.scope"), "{w}x{h}: {s:#?}");
        assert!(docker.trim_start().starts_with("50.0"), "{docker}");
        assert!(
            docker.contains("100M") && docker.contains("512M"),
            "current and limit: {docker}"
        );
        assert!(docker.contains("1.0K/s") && docker.contains(" 12 "), "{docker}");
        let svc = &s[row_of(&s, "é.service").unwrap()];
        assert!(
            svc.split_whitespace().filter(|w| *w == "-").count() >= 3,
            "unreadable files: '-', never 0: {svc}"
        );
        assert!(s[h as usize - 1].contains("q quit"));
    }
    // `p` sorts by path.
    a.key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE));
    let s = screen(&a, 120, 40);
    let first = row_of(&s, "CPU%").unwrap() + 1;
    assert!(s[first].trim_end().ends_with(" /"), "{}", s[first]);
    // `/` in this pane filters the paths (case-insensitive), processes untouched.
    a.key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE));
    for c in "DOCKER".chars() {
        a.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    a.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(a.pane, Pane::Cgroups);
    let s = screen(&a, 120, 40);
    let first = row_of(&s, "CPU%").unwrap() + 1;
    assert!(s[first].contains("docker-abc.scope"), "{s:#?}");
    assert!(row_of(&s, "é.service").is_none(), "filtered out: {s:#?}");
    a.filter = "no-such-cgroup".into();
    let s = screen(&a, 120, 40);
    assert!(row_of(&s, "no cgroup matches 'no-such-cgroup'").is_some(), "{s:#?}");
}

#[test]
fn sockets_pane_lists_listeners_at_80x24_and_120x40() {
    let mut a = live_app();
    a.pane = Pane::Sockets;
    a.frame.sockets = Loaded::Ready {
        at_us: None,
        rows: fixture_sockets(),
    };
    for (w, h) in [(120, 40), (80, 24)] {
        let s = screen(&a, w, h);
        assert!(row_of(&s, "LOCAL ADDRESS:PORT").is_some(), "{s:#?}");
        let l = &s[row_of(&s, "127.0.0.1:8080").unwrap()];
        assert!(l.starts_with("tcp   LISTEN"), "{l}");
        assert!(l.contains("alice") && l.contains(" 100 ") && l.contains("nginx"), "{l}");
        let dns = &s[row_of(&s, ":53 ").unwrap()];
        assert!(dns.starts_with("udp") && dns.contains("UNCONN"), "{dns}");
        assert!(row_of(&s, "ESTAB").is_none(), "listening sockets only");
        assert!(row_of(&s, "[::]:").is_some(), "IPv6 in brackets: {s:#?}");
        // By port: 53 before 8080.
        assert!(row_of(&s, ":53 ").unwrap() < row_of(&s, ":8080").unwrap());
    }
}

#[test]
fn a_replay_pane_without_recorded_rows_says_so() {
    let mut a = replay_app();
    a.pane = Pane::Cgroups;
    a.frame.cgroups = Loaded::Missing("this recording holds no cgroups near this time".into());
    let s = screen(&a, 80, 24);
    assert!(row_of(&s, "- (this recording holds no cgroups").is_some(), "{s:#?}");
    a.pane = Pane::Sockets;
    a.frame.sockets = Loaded::Ready {
        at_us: Some(1_796_526_720_000_000),
        rows: fixture_sockets(),
    };
    let s = screen(&a, 120, 40);
    assert!(
        s[row_of(&s, " Sockets ").unwrap()].contains("at 2026-12-06 03:12:00 UTC"),
        "the snapshot's time: {s:#?}"
    );
}

#[test]
fn sparklines_cover_the_last_minutes_from_the_history() {
    // 60 s of history: a busy minute, then idle; memory constant; no network counter.
    let mut a = live_app();
    a.frame.history = History {
        stretches: (0..60)
            .map(|i| Stretch {
                from_ago_s: f64::from(60 - i),
                to_ago_s: f64::from(59 - i),
                cpu_pct: Some(if i < 30 { 100.0 } else { 0.0 }),
                mem_pct: Some(25.0),
                net_bytes_per_sec: None,
            })
            .collect(),
    };
    let cols = a.frame.history.columns(10, 300.0, |s| s.cpu_pct);
    assert_eq!(cols[..8], [None; 8], "nothing before the history: blank, never 0");
    assert_eq!((cols[8], cols[9]), (Some(100.0), Some(0.0)));
    for (w, h) in [(120, 40), (80, 24)] {
        let s = screen(&a, w, h);
        let line = s
            .iter()
            .find(|l| l.starts_with("CPU ") && !l.starts_with("CPU  ["))
            .unwrap();
        let busy = line.find('█').unwrap();
        let idle = line.rfind('▁').unwrap();
        assert!(
            busy < idle && line.contains("Mem") && line.contains("Net"),
            "{w}x{h}: {line}"
        );
        assert!(
            line.contains("   0.0%  Mem") && line.contains("25.0%"),
            "the newest values: {line}"
        );
        assert!(line.trim_end().ends_with(" -"), "no network counter: '-': {line}");
    }
}

#[test]
fn sparklines_and_units() {
    assert_eq!(
        render::sparkline(&[None, None, Some(0.0), Some(50.0), Some(100.0)], Some(100.0)),
        "  ▁▅█"
    );
    assert_eq!(render::bytes(Some(1536.0)), "1.5K");
    assert_eq!(render::bytes(None), "-");
}

/// The view's own `put_line` (with its path for printable ASCII) leaves the buffer as ratatui's
/// `Buffer::set_line` does, for every kind of text and at every width.
#[test]
fn put_line_is_set_line() {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::style::{Color, Modifier, Style};
    use ratatui::text::{Line, Span};

    let lines = [
        Line::from("plain ascii, numbers 12.5% 3.4M"),
        Line::from(vec![
            Span::styled("  PID ", Style::new().fg(Color::Yellow)),
            Span::raw("USER     "),
            Span::styled("CPU%", Style::new().add_modifier(Modifier::BOLD)),
        ])
        .style(Style::new().bg(Color::Blue)),
        Line::from("wide 漢字 and é, then ascii"),
        Line::from("a tab\there, a bell \u{7} and a newline\n in it"),
        Line::from(vec![Span::raw("\u{fffd}\u{fffd} lossy"), Span::raw(" ascii after")]),
        Line::from(vec![Span::raw(""), Span::raw("x"), Span::raw("")]),
        Line::from("~ tilde and DEL \u{7f} at the end"),
    ];
    let area = Rect::new(2, 1, 30, 3);
    for line in &lines {
        for x in [0, 2, 5, 20, 31, 40] {
            for y in [0, 1, 3, 4] {
                for max in [0, 1, 7, 28, 100] {
                    let mut ours = Buffer::filled(area, ratatui::buffer::Cell::new("·"));
                    let mut theirs = ours.clone();
                    // ratatui's panics outside the buffer; the view's draws nothing there.
                    if area.contains(ratatui::layout::Position { x, y }) {
                        theirs.set_line(x, y, line, max);
                    }
                    render::put_line(&mut ours, x, y, line, max);
                    assert_eq!(ours, theirs, "{line:?} at ({x}, {y}), {max} wide");
                }
            }
        }
    }
}

/// The pid at the start of each row of the process table, top to bottom.
fn pids_shown(s: &[String]) -> Vec<i64> {
    let head = row_of(s, "COMMAND").unwrap();
    s[head + 1..]
        .iter()
        .map_while(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn long_lists_scroll_and_say_which_rows_are_shown() {
    let key = |a: &mut App, c: KeyCode| a.key(KeyEvent::new(c, KeyModifiers::NONE));
    let mut a = live_app();
    a.frame.procs = Some((1..=200).map(|pid| proc(pid, "p", 1.0, 1e6, None)).collect());
    key(&mut a, KeyCode::Char('p'));
    let s = screen(&a, 120, 40);
    let top = pids_shown(&s);
    let room = top.len();
    assert!(room > 10 && top[0] == 1, "{top:?}");
    assert!(s[39].starts_with(&format!("rows 1-{room}/200 · sort pid")), "{}", s[39]);

    assert_eq!(key(&mut a, KeyCode::Down), crate::app::Action::Redraw);
    let s = screen(&a, 120, 40);
    assert_eq!(pids_shown(&s)[0], 2, "a row down");
    assert_eq!(
        *a.pids_drawn.borrow(),
        pids_shown(&s),
        "the rows whose io the next refresh reads"
    );
    assert!(row_of(&s, &format!("rows 2-{}/200", room + 1)).is_some());
    key(&mut a, KeyCode::PageDown);
    assert_eq!(
        pids_shown(&screen(&a, 120, 40))[0],
        2 + room as i64 - 1,
        "a page down keeps one row"
    );
    key(&mut a, KeyCode::End);
    let s = screen(&a, 120, 40);
    assert_eq!(*pids_shown(&s).last().unwrap(), 200, "the end");
    assert_eq!(pids_shown(&s).len(), room, "a full last page");
    assert!(row_of(&s, &format!("rows {}-200/200", 201 - room)).is_some());
    assert_eq!(
        key(&mut a, KeyCode::Down),
        crate::app::Action::None,
        "nothing past the end"
    );
    key(&mut a, KeyCode::Up);
    assert_eq!(
        pids_shown(&screen(&a, 120, 40))[0],
        200 - room as i64,
        "one ↑ after the end moves at once"
    );

    // The list shrinks under a scrolled screen: its last page, full.
    a.frame.procs.as_mut().unwrap().truncate(room + 5);
    let s = screen(&a, 120, 40);
    assert_eq!(pids_shown(&s), (6..=room as i64 + 5).collect::<Vec<_>>());
    key(&mut a, KeyCode::Home);
    assert_eq!(pids_shown(&screen(&a, 120, 40))[0], 1);

    // A new sort or filter starts from the top.
    a.frame.procs = Some((1..=200).map(|pid| proc(pid, "p", 1.0, 1e6, None)).collect());
    key(&mut a, KeyCode::End);
    screen(&a, 120, 40);
    key(&mut a, KeyCode::Char('p'));
    assert_eq!(pids_shown(&screen(&a, 120, 40))[0], 200, "reversed, from the top");
    key(&mut a, KeyCode::PageDown);
    key(&mut a, KeyCode::Char('/'));
    key(&mut a, KeyCode::Char('p'));
    let s = screen(&a, 120, 40);
    assert_eq!(pids_shown(&s)[0], 200, "filtering, from the top");
    key(&mut a, KeyCode::Esc);

    // A list that fits neither scrolls nor says rows.
    a.frame = frame();
    let s = screen(&a, 120, 40);
    assert_eq!(key(&mut a, KeyCode::Down), crate::app::Action::None);
    assert!(row_of(&s, "rows ").is_none());

    // A replay's PgUp/PgDn move the cursor; Ctrl-F/Ctrl-B page its list.
    let mut r = replay_app();
    r.frame.procs = Some((1..=200).map(|pid| proc(pid, "p", 1.0, 1e6, None)).collect());
    key(&mut r, KeyCode::Char('p'));
    screen(&r, 120, 40);
    assert_eq!(key(&mut r, KeyCode::PageDown), crate::app::Action::Seek(60));
    r.key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL));
    assert_eq!(
        pids_shown(&screen(&r, 120, 40))[0],
        room as i64,
        "a page, less the row kept"
    );
    r.key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::CONTROL));
    assert_eq!(pids_shown(&screen(&r, 120, 40))[0], 1);

    // Each pane keeps its own place: the cgroups' list from the top of its own.
    a.frame.procs = Some((1..=200).map(|pid| proc(pid, "p", 1.0, 1e6, None)).collect());
    key(&mut a, KeyCode::Char('p'));
    assert!(!a.reverse);
    screen(&a, 120, 40);
    key(&mut a, KeyCode::End);
    a.pane = Pane::Cgroups;
    a.frame.cgroups = Loaded::Ready {
        at_us: None,
        rows: fixture_cgroups(),
    };
    let s = screen(&a, 120, 40);
    assert!(row_of(&s, "rows ").is_none(), "the fixture's cgroups fit");
    a.pane = Pane::Processes;
    assert_eq!(
        *pids_shown(&screen(&a, 120, 40)).last().unwrap(),
        200,
        "the processes kept theirs"
    );
}

#[test]
fn a_pane_without_a_list_keeps_no_count_from_before() {
    let mut r = replay_app();
    r.frame.procs = Some((1..=200).map(|pid| proc(pid, "p", 1.0, 1e6, None)).collect());
    assert!(row_of(&screen(&r, 120, 40), "rows 1-").is_some());
    // The next sample has no process snapshot.
    r.frame.procs = None;
    let s = screen(&r, 120, 40);
    assert!(row_of(&s, "holds no process snapshot").is_some());
    assert!(row_of(&s, "rows ").is_none(), "{}", s[39]);
    assert_eq!(
        r.key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)),
        crate::app::Action::None
    );
}

#[test]
fn the_tree_puts_children_under_their_parent_and_every_process_once() {
    let mut a = live_app();
    let p = |pid: i64, ppid: i64| Proc {
        ppid: Some(ppid),
        ..proc(pid, &format!("p{pid}"), pid as f64, 1e6, None)
    };
    // 30's parent is not shown; 40 and 41 are each other's parent (a pid reused mid-snapshot).
    a.frame.procs = Some(vec![
        p(41, 40),
        p(20, 10),
        p(1, 0),
        p(11, 1),
        p(30, 99),
        p(10, 1),
        p(40, 41),
    ]);
    a.key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE));
    a.key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::NONE));
    let (order, prefixes) = a.process_tree();
    let order: Vec<i64> = order.iter().map(|p| p.pid).collect();
    assert_eq!(order, [1, 10, 20, 11, 30, 40, 41]);
    assert_eq!(prefixes, ["", "├─ ", "│  └─ ", "└─ ", "", "", "└─ "]);
    assert_eq!(
        a.processes().iter().map(|p| p.pid).collect::<Vec<_>>(),
        order,
        "one order everywhere"
    );
    let s = screen(&a, 120, 40);
    assert!(row_of(&s, "│  └─ /usr/bin/p20 --flag").is_some(), "{s:#?}");
    assert!(s[39].contains("sort pid tree"), "{}", s[39]);
    // Siblings follow the sort: by CPU (here the pid), largest first; the loop after the trees.
    a.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE));
    let order: Vec<i64> = a.process_tree().0.iter().map(|p| p.pid).collect();
    assert_eq!(order, [30, 1, 11, 10, 20, 41, 40]);
    // A filter: the matches, a match whose parent is filtered out at the top.
    a.filter = "p2".into();
    assert_eq!(
        a.process_tree(),
        (vec![&a.frame.procs.as_ref().unwrap()[1]], vec![String::new()])
    );
    // Off again.
    a.filter.clear();
    a.key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::NONE));
    assert!(row_of(&screen(&a, 120, 40), "└─").is_none());
}

#[test]
fn a_chain_of_thousands_of_processes_is_drawn_at_a_bounded_depth() {
    let mut a = live_app();
    let n = 5000;
    a.frame.procs = Some(
        (1..=n)
            .map(|pid| Proc {
                ppid: Some(pid - 1),
                ..proc(pid, "p", 1.0, 1e6, None)
            })
            .collect(),
    );
    a.key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::NONE));
    let (order, prefixes) = a.process_tree();
    assert_eq!(order.len(), n as usize);
    assert!(
        order.windows(2).all(|w| w[1].ppid == Some(w[0].pid)),
        "each under its parent"
    );
    let widest = prefixes.iter().map(|p| p.chars().count()).max().unwrap();
    assert_eq!(
        widest,
        crate::app::MAX_TREE_DEPTH * 3,
        "32 levels of 3 columns, no more"
    );
    screen(&a, 120, 40);
}
