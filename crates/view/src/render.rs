//! Drawing one screen of [`App`]: the header (host, uptime, load, CPU bars, memory, PSI,
//! sparklines), the pane tabs, the selected pane and the status line. Everything is text with
//! styles, so `NO_COLOR` drops the styles and keeps every distinction (the bars' characters
//! differ by kind), and ratatui's `TestBackend` sees what a terminal would.

use ratatui::Frame as Term;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::app::{App, Mode, PANES, Pane, Prompt, Shown, SortKey};
use crate::data::{Frame, HISTORY_SECONDS, Loaded, Rows};
use crate::live::mem_pct;

/// `-` for what the platform did not give.
pub const NONE: &str = "-";

/// `1.5G`, `340M`, `12K`, `512B`.
pub fn bytes(v: Option<f64>) -> String {
    let Some(v) = v else { return NONE.into() };
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut v = v.max(0.0);
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    match (u, v < 10.0) {
        (0, _) => format!("{v:.0}{}", units[u]),
        (_, true) => format!("{v:.1}{}", units[u]),
        _ => format!("{v:.0}{}", units[u]),
    }
}

fn rate(v: Option<f64>) -> String {
    match v {
        Some(_) => format!("{}/s", bytes(v)),
        None => NONE.into(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or(NONE.into(), |v| format!("{v:.1}"))
}

fn uptime(secs: Option<f64>) -> String {
    let Some(s) = secs else { return NONE.into() };
    let s = s as u64;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match d {
        0 => format!("{h}:{m:02}"),
        _ => format!("{d}d {h}:{m:02}"),
    }
}

struct Styles {
    color: bool,
}

impl Styles {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    fn bold(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    fn head(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
}

/// The parts of a CPU bar: (percent, character without color, color).
const BAR_PARTS: [(&[&str], char, Color); 4] = [
    (&["cpu_user_pct", "cpu_nice_pct"], '|', Color::Green),
    (&["cpu_system_pct", "cpu_irq_pct", "cpu_softirq_pct"], '#', Color::Red),
    (&["cpu_iowait_pct"], '.', Color::Blue),
    (&["cpu_steal_pct"], '!', Color::Magenta),
];

/// A bar of `width` cells for row `row` of a table with the CPU columns.
fn cpu_bar<'a>(rows: &Rows, row: usize, width: usize, st: &Styles) -> Vec<Span<'a>> {
    let mut spans = vec![Span::raw("[")];
    let mut used = 0usize;
    for (cols, ch, color) in BAR_PARTS {
        let v: f64 = cols.iter().filter_map(|c| rows.f64(row, c)).sum();
        let cells = ((v / 100.0 * width as f64).round() as usize).min(width - used);
        used += cells;
        if cells > 0 {
            spans.push(Span::styled(ch.to_string().repeat(cells), st.fg(color)));
        }
    }
    spans.push(Span::raw(" ".repeat(width - used)));
    spans.push(Span::raw("]"));
    spans
}

fn gauge<'a>(used: Option<f64>, total: Option<f64>, width: usize, st: &Styles, color: Color) -> Vec<Span<'a>> {
    let frac = match (used, total) {
        (Some(u), Some(t)) if t > 0.0 => (u / t).clamp(0.0, 1.0),
        _ => 0.0,
    };
    let cells = (frac * width as f64).round() as usize;
    vec![
        Span::raw("["),
        Span::styled("|".repeat(cells), st.fg(color)),
        Span::raw(" ".repeat(width - cells)),
        Span::raw("]"),
    ]
}

/// One-line sparkline of `points` (oldest first), scaled to `max` (or their own maximum); a
/// point with no value is a blank.
pub fn sparkline(points: &[Option<f64>], max: Option<f64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let top = max
        .unwrap_or_else(|| points.iter().flatten().copied().fold(0.0, f64::max))
        .max(1e-9);
    points
        .iter()
        .map(|v| match v {
            Some(v) => BARS[((v / top * 7.0).round().clamp(0.0, 7.0)) as usize],
            None => ' ',
        })
        .collect()
}

/// Draws the whole screen.
pub fn draw(t: &mut Term, app: &App) {
    let area = t.area();
    let mut header = header_lines(app, area.width as usize, area.height as usize);
    if app.help {
        // The help below the top line: all of it on 80x24, however many CPUs the bars need.
        header.truncate(1);
    }
    let h = (header.len() as u16).min(area.height.saturating_sub(3));
    let [head, tabs, body, status] = Layout::vertical([
        Constraint::Length(h),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    put(t, &header, head);
    // The body first: it sets what the status line says of the rows shown (nothing, where it
    // draws no list: a pane without rows keeps no count from an earlier frame).
    if !app.help {
        app.shown[app.pane.index()].set(Shown::default());
        app.pids_drawn.borrow_mut().clear();
    }
    let lines = match (app.help, app.pane) {
        (true, _) => help_lines(app),
        (false, Pane::Processes) => process_lines(app, body),
        (false, Pane::Disks) => disk_lines(&app.frame, body, app),
        (false, Pane::Networks) => network_lines(&app.frame, body, app),
        (false, Pane::Filesystems) => filesystem_lines(&app.frame, body, app),
        (false, Pane::Cgroups) => cgroup_lines(app, body),
        (false, Pane::Sockets) => socket_lines(&app.frame, body, app),
    };
    put(t, &lines, body);
    put(t, &[tab_line(app)], tabs);
    put(t, &[status_line(app, area.width as usize)], status);
}

/// The lines into `area`, one a row from its top, each cut at its width: what a `Paragraph`
/// without wrapping draws, without the paragraph's style pass over every cell of the area and
/// its line reflow (over a quarter of the drawing's CPU time, measured with `perf` on `sysmon top`).
fn put(t: &mut Term, lines: &[Line], area: Rect) {
    let buf = t.buffer_mut();
    for (line, y) in lines.iter().zip(area.top()..area.bottom()) {
        put_line(buf, area.x, y, line, area.width);
    }
}

/// `Buffer::set_line`: the line's spans from (x, y) on, `max_width` cells at most.
pub(crate) fn put_line(buf: &mut Buffer, mut x: u16, y: u16, line: &Line, max_width: u16) {
    let mut remaining = max_width;
    for span in line {
        if remaining == 0 {
            break;
        }
        let next = put_str(buf, x, y, &span.content, remaining, line.style.patch(span.style));
        remaining = remaining.saturating_sub(next.saturating_sub(x));
        x = next;
    }
}

/// `Buffer::set_stringn`: `s` from (x, y) on, at most `max_width` cells, and the column after
/// it. Printable ASCII (most of what the view draws: numbers, names, paths) takes a cell a
/// byte with no grapheme segmentation or width lookup, which were a sixth of the drawing's
/// CPU time (`perf` on `sysmon top`); anything else goes through ratatui's own.
fn put_str(buf: &mut Buffer, x: u16, y: u16, s: &str, max_width: u16, style: Style) -> u16 {
    // Outside the buffer (where ratatui's would panic): nothing drawn.
    if !buf.area.contains(Position { x, y }) {
        return x;
    }
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return buf.set_stringn(x, y, s, max_width as usize, style).0;
    }
    let room = buf.area.right().saturating_sub(x).min(max_width);
    let n = s.len().min(room as usize);
    let start = buf.index_of(x, y);
    for (cell, b) in buf.content[start..start + n].iter_mut().zip(s.bytes()) {
        cell.set_char(char::from(b)).set_style(style);
    }
    x + n as u16
}

fn header_lines(app: &App, width: usize, height: usize) -> Vec<Line<'static>> {
    let st = Styles { color: app.color };
    let f = &app.frame;
    let m = &f.metrics;
    let mut lines = Vec::new();
    let host = m.str(0, "hostname").unwrap_or(NONE).to_string();
    let load = [m.f64(0, "load_1m"), m.f64(0, "load_5m"), m.f64(0, "load_15m")]
        .map(|v| v.map_or(NONE.into(), |v| format!("{v:.2}")))
        .join(" ");
    let z = app.zone;
    let mut parts = vec![
        host,
        format!("up {}", uptime(m.f64(0, "uptime_seconds"))),
        format!("load {load}"),
    ];
    let joined = |parts: &[String]| format!(" · {} · ", parts.join(" · "));
    let top = joined(&parts);
    let mut when = match &app.mode {
        Mode::Live { interval_ms } => {
            let every = format!("live every {}s", *interval_ms as f64 / 1000.0);
            // The clock, as top shows it, where the line has room.
            match f.ts_us {
                Some(t) => {
                    let with = format!("{every} · {} {}", z.clock(t), z.name(t));
                    match 10 + top.chars().count() + with.chars().count() <= width {
                        true => with,
                        false => every,
                    }
                }
                None => every,
            }
        }
        Mode::Replay { index, count, .. } => format!(
            "replay {} [{index}/{count}]",
            f.ts_us
                .map_or(NONE.into(), |t| format!("{} {}", z.format_ms(t), z.name(t)))
        ),
    };
    // A replay's cursor time is always on screen: where the line is too long for the
    // terminal, the load goes first, then the uptime, then the host.
    let mut top = top;
    if let Mode::Replay { .. } = app.mode {
        while !parts.is_empty() && 10 + top.chars().count() + when.chars().count() > width {
            parts.pop();
            top = match parts.is_empty() {
                true => " · ".into(),
                false => joined(&parts),
            };
        }
        if 10 + top.chars().count() + when.chars().count() > width {
            // Narrower still: the index goes before the time.
            if let Some(i) = when.rfind(" [") {
                when.truncate(i);
            }
        }
    }
    lines.push(Line::from(vec![
        Span::styled("sysmon top", st.bold()),
        Span::raw(top),
        Span::styled(when, st.bold().patch(st.fg(Color::Yellow))),
    ]));
    // The whole host's CPU, then one bar per CPU in columns.
    let bar_w = width.saturating_sub(50).clamp(10, 60);
    let mut all = vec![Span::raw("CPU  ")];
    all.extend(cpu_bar(m, 0, bar_w, &st));
    all.push(Span::raw(format!(
        " {:>5}% usr {} sys {} wa {} st {}",
        pct(m.f64(0, "cpu_busy_pct")),
        pct(m.f64(0, "cpu_user_pct")),
        pct(m.f64(0, "cpu_system_pct")),
        pct(m.f64(0, "cpu_iowait_pct")),
        pct(m.f64(0, "cpu_steal_pct")),
    )));
    lines.push(Line::from(all));
    let cpus = &f.cpus;
    let cell_w = 34usize;
    let ncols = (width / cell_w).max(1);
    let max_lines = (height.saturating_sub(14) / 2).max(1);
    let shown_max = max_lines * ncols;
    let n = cpus.len();
    let shown = if n > shown_max { shown_max - 1 } else { n };
    let mut cells: Vec<Vec<Span<'static>>> = (0..shown)
        .map(|i| {
            let id = cpus.get(i, "cpu").i64().map_or(NONE.into(), |c| c.to_string());
            let mut s = vec![Span::raw(format!("{id:>4} "))];
            s.extend(cpu_bar(cpus, i, cell_w - 15, &st));
            s.push(Span::raw(format!("{:>6}% ", pct(cpus.f64(i, "cpu_busy_pct")))));
            s
        })
        .collect();
    if shown < n {
        cells.push(vec![Span::raw(format!("  +{} more CPUs", n - shown))]);
    }
    for chunk in cells.chunks(ncols) {
        lines.push(Line::from(chunk.iter().flatten().cloned().collect::<Vec<_>>()));
    }
    // Memory and swap.
    let gw = (width.saturating_sub(50) / 2).clamp(6, 40);
    let (mu, mt) = (m.f64(0, "mem_used_bytes"), m.f64(0, "mem_total_bytes"));
    let (su, stt) = (m.f64(0, "swap_used_bytes"), m.f64(0, "swap_total_bytes"));
    let mut mem = vec![Span::raw("Mem  ")];
    mem.extend(gauge(mu, mt, gw, &st, Color::Green));
    mem.push(Span::raw(format!(" {}/{}  Swap ", bytes(mu), bytes(mt))));
    mem.extend(gauge(su, stt, gw, &st, Color::Red));
    mem.push(Span::raw(format!(" {}/{}", bytes(su), bytes(stt))));
    lines.push(Line::from(mem));
    lines.push(Line::from(psi_text(&f.pressure, app.is_replay())));
    // Sparklines: CPU, memory, network over the last minutes (the live ring, or the
    // recording's samples before the cursor).
    let h = &f.history;
    let sw = (width.saturating_sub(48) / 3).max(4);
    let col = |pick: fn(&crate::data::Stretch) -> Option<f64>| h.columns(sw, HISTORY_SECONDS, pick);
    let (cpu_now, _, net_now) = h.newest();
    lines.push(Line::from(vec![
        Span::raw("CPU "),
        Span::styled(sparkline(&col(|s| s.cpu_pct), Some(100.0)), st.fg(Color::Green)),
        Span::raw(format!(" {:>5}%  Mem ", pct(cpu_now.or(m.f64(0, "cpu_busy_pct"))))),
        Span::styled(sparkline(&col(|s| s.mem_pct), Some(100.0)), st.fg(Color::Cyan)),
        Span::raw(format!(" {:>5}%  Net ", pct(mem_pct(m, 0)))),
        Span::styled(sparkline(&col(|s| s.net_bytes_per_sec), None), st.fg(Color::Magenta)),
        Span::raw(format!(" {}", rate(net_now))),
    ]));
    lines
}

fn psi_text(p: &Rows, replay: bool) -> String {
    if p.is_empty() {
        return match replay {
            false => "PSI  - (no pressure stall information on this kernel)".into(),
            true => "PSI  - (not recorded at this time)".into(),
        };
    }
    let mut parts = Vec::new();
    for kind in ["some", "full"] {
        let mut s = kind.to_string();
        for res in ["cpu", "memory", "io"] {
            let v = (0..p.len())
                .find(|&i| p.str(i, "resource") == Some(res) && p.str(i, "kind") == Some(kind))
                .and_then(|i| p.f64(i, "avg10_pct"));
            let short = if res == "memory" { "mem" } else { res };
            s.push_str(&format!(" {short} {}", v.map_or(NONE.into(), |v| format!("{v:.2}"))));
        }
        parts.push(s);
    }
    format!("PSI  {}  (avg10 %)", parts.join(" · "))
}

fn tab_line(app: &App) -> Line<'static> {
    let st = Styles { color: app.color };
    let mut spans = Vec::new();
    for p in PANES {
        let style = if p == app.pane {
            st.head().patch(st.bold())
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!(" {} ", p.title()), style));
        spans.push(Span::raw(" "));
    }
    // A replay's pane shows the table's snapshot nearest the cursor: when it was taken.
    let f = &app.frame;
    let taken = match app.pane {
        Pane::Processes => f.procs_ts_us,
        Pane::Cgroups => match &f.cgroups {
            Loaded::Ready { at_us, .. } => *at_us,
            _ => None,
        },
        Pane::Sockets => match &f.sockets {
            Loaded::Ready { at_us, .. } => *at_us,
            _ => None,
        },
        _ => None,
    };
    if let (Mode::Replay { .. }, Some(t)) = (&app.mode, taken) {
        spans.push(Span::raw(format!(" at {} {}", app.zone.format(t), app.zone.name(t))));
    }
    Line::from(spans)
}

/// Cuts or pads `s` to `w` columns (left aligned).
fn fit(s: &str, w: usize) -> String {
    let mut out: String = s.chars().take(w).collect();
    let n = out.chars().count();
    out.push_str(&" ".repeat(w - n));
    out
}

/// Cuts `s` to `w` columns keeping its end (a cgroup's path: the leaf matters most).
fn fit_tail(s: &str, w: usize) -> String {
    let n = s.chars().count();
    match n > w {
        true if w > 0 => format!("…{}", s.chars().skip(n - (w - 1)).collect::<String>()),
        true => String::new(),
        false => s.to_string(),
    }
}

fn head_line(text: String, width: u16, app: &App) -> Line<'static> {
    let st = Styles { color: app.color };
    Line::from(Span::styled(fit(&text, width as usize), st.head()))
}

fn process_lines(app: &App, area: Rect) -> Vec<Line<'static>> {
    let st = Styles { color: app.color };
    let arrow = |k: SortKey| match (app.sort == k, app.reverse) {
        (false, _) => " ",
        (true, false) => {
            if k == SortKey::Pid {
                "↑"
            } else {
                "↓"
            }
        }
        (true, true) => {
            if k == SortKey::Pid {
                "↓"
            } else {
                "↑"
            }
        }
    };
    let head = format!(
        "{:>7}{} {:<9} S {:>5}{} {:>6}{} {:>8}{} {:>8} {:>4} COMMAND",
        "PID",
        arrow(SortKey::Pid),
        "USER",
        "CPU%",
        arrow(SortKey::Cpu),
        "RSS",
        arrow(SortKey::Mem),
        "READ/s",
        arrow(SortKey::Io),
        "WRITE/s",
        "THR"
    );
    let mut lines = vec![head_line(head, area.width, app)];
    let Some(_) = &app.frame.procs else {
        lines.push(Line::from(
            "  - (this recording holds no process snapshot: record with tables := [..., 'processes'])",
        ));
        return lines;
    };
    let (procs, prefixes) = match app.tree {
        true => app.process_tree(),
        false => (app.processes(), Vec::new()),
    };
    let room = room(area);
    let shown = app.window(procs.len(), room);
    let mut drawn = app.pids_drawn.borrow_mut();
    drawn.clear();
    drawn.extend(procs[shown.clone()].iter().map(|p| p.pid));
    for (i, p) in procs[shown.clone()].iter().enumerate() {
        let r = |v: Option<f64>| match v {
            Some(v) => bytes(Some(v)),
            None => NONE.into(),
        };
        let fixed = format!(
            "{:>7}  {:<9} {} {:>5}  {:>6}  {:>8}  {:>8} {:>4} ",
            p.pid,
            fit(p.user.as_deref().unwrap_or(NONE), 9),
            p.state.as_deref().unwrap_or(NONE).chars().next().unwrap_or('-'),
            pct(p.cpu_pct),
            r(p.rss_bytes),
            r(p.read_per_sec),
            r(p.write_per_sec),
            p.threads.map_or(NONE.into(), |t| t.to_string()),
        );
        let busy = p.cpu_pct.is_some_and(|c| c >= 50.0);
        let command = match prefixes.get(shown.start + i) {
            Some(lead) => format!("{lead}{}", p.command),
            None => p.command.clone(),
        };
        lines.push(Line::from(vec![
            Span::styled(fixed, if busy { st.fg(Color::Red) } else { Style::default() }),
            Span::raw(command),
        ]));
    }
    if procs.is_empty() {
        lines.push(Line::from(format!("  no process matches '{}'", app.active_filter())));
    }
    lines
}

/// The rows a pane's list has room for: the body less its column heads.
fn room(area: Rect) -> usize {
    area.height.saturating_sub(1) as usize
}

fn rows_or_none(rows: &Rows, what: &str, lines: &mut Vec<Line<'static>>) -> bool {
    if rows.is_empty() {
        lines.push(Line::from(format!("  - (no {what} at this time)")));
        return false;
    }
    true
}

fn disk_lines(f: &Frame, area: Rect, app: &App) -> Vec<Line<'static>> {
    let d = &f.disks;
    let mut lines = vec![head_line(
        format!(
            "{:<16} {:>10} {:>10} {:>8} {:>8} {:>6} {:>8}",
            "DEVICE", "READ/s", "WRITE/s", "R IOPS", "W IOPS", "UTIL%", "AWAIT ms"
        ),
        area.width,
        app,
    )];
    if !rows_or_none(d, "disks", &mut lines) {
        return lines;
    }
    let whole: Vec<usize> = (0..d.len())
        .filter(|&i| d.get(i, "is_partition").bool() != Some(true))
        .collect();
    for &i in &whole[app.window(whole.len(), room(area))] {
        lines.push(Line::from(format!(
            "{:<16} {:>10} {:>10} {:>8} {:>8} {:>6} {:>8}",
            fit(d.str(i, "device").unwrap_or(NONE), 16),
            rate(d.f64(i, "read_bytes_per_sec")),
            rate(d.f64(i, "write_bytes_per_sec")),
            d.f64(i, "read_iops").map_or(NONE.into(), |v| format!("{v:.0}")),
            d.f64(i, "write_iops").map_or(NONE.into(), |v| format!("{v:.0}")),
            pct(d.f64(i, "util_pct")),
            d.f64(i, "await_ms").map_or(NONE.into(), |v| format!("{v:.1}")),
        )));
    }
    lines
}

fn network_lines(f: &Frame, area: Rect, app: &App) -> Vec<Line<'static>> {
    let n = &f.networks;
    let mut lines = vec![head_line(
        format!(
            "{:<16} {:<6} {:>10} {:>10} {:>9} {:>9} {:>10}",
            "INTERFACE", "STATE", "RX/s", "TX/s", "RX pkt/s", "TX pkt/s", "ERRORS"
        ),
        area.width,
        app,
    )];
    if !rows_or_none(n, "network interfaces", &mut lines) {
        return lines;
    }
    for i in app.window(n.len(), room(area)) {
        let errs = match (n.f64(i, "rx_errors"), n.f64(i, "tx_errors")) {
            (Some(a), Some(b)) => format!("{}", (a + b) as u64),
            _ => NONE.into(),
        };
        lines.push(Line::from(format!(
            "{:<16} {:<6} {:>10} {:>10} {:>9} {:>9} {:>10}",
            fit(n.str(i, "interface").unwrap_or(NONE), 16),
            fit(n.str(i, "oper_state").unwrap_or(NONE), 6),
            rate(n.f64(i, "rx_bytes_per_sec")),
            rate(n.f64(i, "tx_bytes_per_sec")),
            n.f64(i, "rx_packets_per_sec")
                .map_or(NONE.into(), |v| format!("{v:.0}")),
            n.f64(i, "tx_packets_per_sec")
                .map_or(NONE.into(), |v| format!("{v:.0}")),
            errs,
        )));
    }
    lines
}

fn filesystem_lines(f: &Frame, area: Rect, app: &App) -> Vec<Line<'static>> {
    let mut lines = vec![head_line(
        format!(
            "{:<24} {:<8} {:>8} {:>8} {:>8} {:>6} DEVICE",
            "MOUNT", "TYPE", "SIZE", "USED", "AVAIL", "USE%"
        ),
        area.width,
        app,
    )];
    let Some(fs) = &f.filesystems else {
        lines.push(Line::from("  reading…"));
        return lines;
    };
    if !rows_or_none(fs, "filesystems", &mut lines) {
        return lines;
    }
    for i in app.window(fs.len(), room(area)) {
        let size = match fs.str(i, "stat_error") {
            Some(e) => format!("{:>8} ({e})", NONE),
            None => format!(
                "{:>8} {:>8} {:>8} {:>6}",
                bytes(fs.f64(i, "total_bytes")),
                bytes(fs.f64(i, "used_bytes")),
                bytes(fs.f64(i, "available_bytes")),
                pct(fs.f64(i, "used_pct")),
            ),
        };
        lines.push(Line::from(format!(
            "{:<24} {:<8} {size} {}",
            fit(fs.str(i, "mount_point").unwrap_or(NONE), 24),
            fit(fs.str(i, "fs_type").unwrap_or(NONE), 8),
            fs.str(i, "device").unwrap_or(NONE),
        )));
    }
    lines
}

/// The line of a pane whose rows are not there: being read, or why not.
fn part_missing<T>(part: &Loaded<T>, lines: &mut Vec<Line<'static>>) {
    match part {
        Loaded::Unread => lines.push(Line::from("  reading…")),
        Loaded::Missing(why) => lines.push(Line::from(format!("  - ({why})"))),
        Loaded::Ready { .. } => {}
    }
}

fn cgroup_lines(app: &App, area: Rect) -> Vec<Line<'static>> {
    let f = &app.frame;
    let rows = f.cgroups.rows();
    let containers = rows.is_some_and(|r| r.iter().any(|c| c.runtime.is_some()));
    let cw = if containers { 17 } else { 0 };
    let fixed = 6 + 1 + 7 + 1 + 7 + 1 + 8 + 1 + 8 + 1 + 5 + 1 + cw;
    let pw = (area.width as usize).saturating_sub(fixed).max(8);
    let arrow = |k: SortKey| match (app.sort == k, app.reverse) {
        (false, _) => " ",
        (true, false) => "↓",
        (true, true) => "↑",
    };
    let head = format!(
        "{:>5}{} {:>6}{} {:>7} {:>7}{} {:>8} {:>5} {}{}",
        "CPU%",
        arrow(SortKey::Cpu),
        "MEM",
        arrow(SortKey::Mem),
        "LIMIT",
        "READ/s",
        arrow(SortKey::Io),
        "WRITE/s",
        "PIDS",
        if containers {
            format!("{:<17}", "CONTAINER")
        } else {
            String::new()
        },
        "PATH"
    );
    let mut lines = vec![head_line(head, area.width, app)];
    part_missing(&f.cgroups, &mut lines);
    if rows.is_some_and(|r| r.is_empty()) {
        lines.push(Line::from("  - (no cgroup hierarchy is mounted)"));
    }
    let room = room(area);
    let shown = app.cgroups();
    if rows.is_some_and(|r| !r.is_empty()) && shown.is_empty() {
        lines.push(Line::from(format!("  no cgroup matches '{}'", app.active_filter())));
    }
    for c in &shown[app.window(shown.len(), room)] {
        let container = match (&c.runtime, &c.container_id) {
            (Some(r), id) => {
                let id: String = id.as_deref().unwrap_or(NONE).chars().take(12).collect();
                format!("{:<17}", fit(&format!("{r} {id}"), 16))
            }
            (None, _) if containers => " ".repeat(17),
            (None, _) => String::new(),
        };
        lines.push(Line::from(format!(
            "{:>6} {:>7} {:>7} {:>8} {:>8} {:>5} {container}{}",
            pct(c.cpu_pct),
            bytes(c.mem_bytes),
            c.mem_max_bytes.map_or(NONE.into(), |v| bytes(Some(v))),
            rate(c.read_per_sec),
            rate(c.write_per_sec),
            c.pids.map_or(NONE.into(), |p| p.to_string()),
            fit_tail(&c.path, pw),
        )));
    }
    lines
}

fn socket_lines(f: &Frame, area: Rect, app: &App) -> Vec<Line<'static>> {
    let mut lines = vec![head_line(
        format!(
            "{:<5} {:<6} {:<26} {:>6} {:>6} {:<8} {:>7} PROCESS",
            "PROTO", "STATE", "LOCAL ADDRESS:PORT", "RECV-Q", "SEND-Q", "USER", "PID"
        ),
        area.width,
        app,
    )];
    part_missing(&f.sockets, &mut lines);
    let Some(s) = f.sockets.rows() else {
        return lines;
    };
    if s.is_empty() {
        lines.push(Line::from("  - (nothing listens)"));
        return lines;
    }
    let mut order: Vec<usize> = (0..s.len()).collect();
    let port = |i: usize| s.get(i, "local_port").i64().unwrap_or(i64::MAX);
    order.sort_by(|&a, &b| {
        (port(a), s.str(a, "protocol"), s.str(a, "local_address")).cmp(&(
            port(b),
            s.str(b, "protocol"),
            s.str(b, "local_address"),
        ))
    });
    let room = room(area);
    for &i in &order[app.window(order.len(), room)] {
        let addr = s.str(i, "local_address").unwrap_or(NONE);
        let port = s.get(i, "local_port").i64().map_or(NONE.into(), |p| p.to_string());
        let local = match addr.contains(':') {
            true => format!("[{addr}]:{port}"),
            false => format!("{addr}:{port}"),
        };
        let q = |c: &str| s.f64(i, c).map_or(NONE.into(), |v| format!("{v:.0}"));
        lines.push(Line::from(format!(
            "{:<5} {:<6} {:<26} {:>6} {:>6} {:<8} {:>7} {}",
            s.str(i, "protocol").unwrap_or(NONE),
            fit(s.str(i, "state").unwrap_or(NONE), 6),
            fit(&local, 26),
            q("rx_queue_bytes"),
            q("tx_queue_bytes"),
            fit(s.str(i, "user").unwrap_or(NONE), 8),
            s.get(i, "pid").i64().map_or(NONE.into(), |p| p.to_string()),
            s.str(i, "process_name").unwrap_or(NONE),
        )));
    }
    lines
}

/// The keys and legends, each line at most 80 columns: the help takes the screen below the top
/// line, so that it fits 80x24 whatever the header would need.
fn help_lines(app: &App) -> Vec<Line<'static>> {
    let mut v = vec![
        "Keys",
        "  q, Ctrl-C     quit          ?  this help (any key closes it)",
        "  /             filter processes by name or command, cgroups by path",
        "                (Enter keeps it, Esc clears)",
        "  c m i p       sort by CPU, memory, I/O, pid (again: reverse)",
        "  t             processes as a tree (children under their parent)",
        "  Tab, S-Tab    next, previous pane",
        "  ↑ ↓           scroll the list a row; Home End: its top, its end",
    ];
    if !app.is_replay() {
        v.push("  d, s          refresh every ... (500ms, 2s, 1m)");
    }
    if !app.is_replay() && !app.read_only {
        v.push("  k             signal a process: PID [SIGNAL] (TERM unless typed)");
    }
    v.push(match app.is_replay() {
        true => "  Ctrl-B Ctrl-F scroll the list a page",
        false => "  PgUp PgDn     scroll the list a page (also Ctrl-B Ctrl-F)",
    });
    if app.is_replay() {
        v.extend([
            "  ← →           previous, next sample",
            "  PgUp PgDn     one minute back, forward",
            "  g             go to a time: 2026-12-06 03:12[:SS] in local time,",
            "                with Z or +01:00 for another zone, or -5m",
        ]);
    }
    v.extend([
        "",
        "CPU bars: | user+nice   # system+irq+softirq   . iowait   ! steal",
        "Sparklines: CPU %, memory %, network bytes/s over the last 5 minutes",
        "Cgroups: sorted by c m i as processes (p: by path)",
        "Sockets: what listens (TCP) or is bound (UDP)",
        "A value the platform does not give is shown as -.",
    ]);
    let mut lines: Vec<Line<'static>> = v.into_iter().map(Line::from).collect();
    if let Some(t) = app.frame.ts_us {
        lines.push(Line::from(format!("Times are in {} (TZ).", app.zone.name(t))));
    }
    lines
}

fn status_line(app: &App, width: usize) -> Line<'static> {
    let st = Styles { color: app.color };
    if let Some(p) = &app.prompt {
        let (label, text, hint) = match p {
            Prompt::Filter(t) => ("filter: ", t, "  (Enter keeps, Esc clears)"),
            Prompt::Time(t) => ("go to (local time, or -5m): ", t, "  (Enter goes, Esc cancels)"),
            Prompt::Interval(t) => (
                "refresh every: ",
                t,
                "  (500ms, 2s, 1m; 100ms to a day; Enter sets, Esc cancels)",
            ),
            Prompt::Kill(t) => (
                "kill PID [SIGNAL]: ",
                t,
                "  (signal TERM unless typed: KILL, HUP, INT, STOP, CONT, 1-64; Enter sends, Esc cancels)",
            ),
        };
        return Line::from(vec![
            Span::styled(label, st.bold()),
            Span::raw(format!("{text}_")),
            Span::raw(hint),
        ]);
    }
    let mut s = String::new();
    if let Some(m) = app.message.as_ref().or(app.notice.as_ref()) {
        s.push_str(m);
        s.push_str(" · ");
    }
    if !app.filter.is_empty() {
        s.push_str(&format!("filter '{}' · ", app.filter));
    }
    // Where the list does not fit: which of its rows are on the screen (↑ ↓ scroll it). Here
    // rather than on the tab line, which a replay's snapshot time fills at 80 columns.
    let shown = app.shown[app.pane.index()].get();
    if !app.help && shown.count > shown.room && shown.room > 0 {
        let last = shown.count.min(shown.first + shown.room);
        s.push_str(&format!("rows {}-{last}/{} · ", shown.first + 1, shown.count));
    }
    let dir = if app.reverse { "reversed" } else { "" };
    let tree = if app.tree { "tree " } else { "" };
    s.push_str(&format!("sort {} {dir}{tree}· ", app.sort.name()));
    // The keys, as many as the line has room for: `? help` and `q quit` always; the others
    // give way in this order (`Tab pane` first) where the terminal is narrow.
    let mut keys: Vec<&str> = match app.is_replay() {
        true => vec![
            "←/→ sample",
            "PgUp/PgDn minute",
            "g time",
            "/ filter",
            "Tab pane",
            "? help",
            "q quit",
        ],
        false => vec!["/ filter", "Tab pane", "? help", "q quit"],
    };
    for drop in ["Tab pane", "/ filter", "PgUp/PgDn minute", "g time"] {
        if s.chars().count() + keys.join(" · ").chars().count() <= width {
            break;
        }
        keys.retain(|k| *k != drop);
    }
    s.push_str(&keys.join(" · "));
    Line::from(Span::styled(
        s,
        if app.message.is_some() {
            st.fg(Color::Red)
        } else {
            Style::default()
        },
    ))
}
