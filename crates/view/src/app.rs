//! The view's state between frames (sort, filter, pane, prompts) and what each key does. No
//! terminal here: [`App::key`] takes a key and says what the loop must do.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Range;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::data::{Cgroup, Frame, Proc, Zone};

/// What the process table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Cpu,
    Mem,
    Io,
    Pid,
}

impl SortKey {
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Cpu => "CPU",
            SortKey::Mem => "memory",
            SortKey::Io => "I/O",
            SortKey::Pid => "pid",
        }
    }
}

/// The lower pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Processes,
    Disks,
    Networks,
    Filesystems,
    Cgroups,
    Sockets,
}

pub const PANES: [Pane; 6] = [
    Pane::Processes,
    Pane::Disks,
    Pane::Networks,
    Pane::Filesystems,
    Pane::Cgroups,
    Pane::Sockets,
];

impl Pane {
    pub fn title(self) -> &'static str {
        match self {
            Pane::Processes => "Processes",
            Pane::Disks => "Disks",
            Pane::Networks => "Networks",
            Pane::Filesystems => "Filesystems",
            Pane::Cgroups => "Cgroups",
            Pane::Sockets => "Sockets",
        }
    }

    /// Whether the pane's rows are read only while it is shown (not at every refresh).
    pub fn read_when_shown(self) -> bool {
        matches!(self, Pane::Filesystems | Pane::Cgroups | Pane::Sockets)
    }

    /// Its place in [`PANES`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The levels of the process tree drawn indented; deeper ones are drawn at this depth.
pub const MAX_TREE_DEPTH: usize = 32;

/// What a pane's list showed at the last frame: the rows it had room for, the rows it held and
/// the first one shown. Set while drawing ([`App::window`]); the keys that scroll are
/// clamped to it, so that `↓` past the end does nothing and `↑` then moves at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shown {
    pub room: usize,
    pub count: usize,
    pub first: usize,
}

/// Live, or a recording at a cursor.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Live {
        interval_ms: u64,
    },
    Replay {
        location: String,
        /// The cursor (1-based) and the number of samples.
        index: usize,
        count: usize,
    },
}

/// A line being typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    Filter(String),
    Time(String),
    /// `k`: a pid and a signal, as typed.
    Kill(String),
    /// `d`: the refresh interval, as typed.
    Interval(String),
}

/// What the loop does after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Redraw,
    Quit,
    /// Move the replay cursor by this many samples.
    Step(i64),
    /// Move the replay cursor by this many seconds.
    Seek(i64),
    /// Move the replay cursor to this time, as typed.
    GoTo(String),
    /// Send `signal` to process `pid`, if it is still the one that started at `started_us`
    /// (the start time shown; `None` where the pid was not on the screen's rows).
    Signal {
        pid: i64,
        signal: i32,
        started_us: Option<i64>,
    },
    /// Refresh every this long from now on (live).
    SetInterval(std::time::Duration),
}

/// The signals `k` takes by name (with or without `SIG`, any case), as `kill -l` names them.
pub const SIGNALS: [(&str, i32); 13] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
];

/// The name of signal `n` where [`SIGNALS`] has one (`SIGTERM`), else its number.
pub fn signal_name(n: i32) -> String {
    match SIGNALS.iter().find(|(_, v)| *v == n) {
        Some((name, _)) => format!("SIG{name}"),
        None => format!("signal {n}"),
    }
}

/// `PID [SIGNAL]` as typed after `k`: the signal by name or number (1 to 64), `TERM` where
/// none is typed.
pub fn parse_kill(text: &str) -> Result<(i64, i32), String> {
    let bad = || {
        format!(
            "kill: '{}' is not PID [SIGNAL]: a pid (1 or more) and a signal, by number (1-64) or name (TERM, KILL, HUP, INT, STOP, CONT, ...)",
            text.trim()
        )
    };
    let mut words = text.split_whitespace();
    let pid: i64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .filter(|&p| p > 0)
        .ok_or_else(bad)?;
    let signal = match words.next() {
        None => libc::SIGTERM,
        Some(w) => {
            let upper = w.to_ascii_uppercase();
            let name = upper.strip_prefix("SIG").unwrap_or(&upper);
            match (w.parse::<i32>(), SIGNALS.iter().find(|(n, _)| *n == name)) {
                (Ok(n), _) if (1..=64).contains(&n) => n,
                (Err(_), Some((_, v))) => *v,
                _ => return Err(bad()),
            }
        }
    };
    match words.next() {
        Some(_) => Err(bad()),
        None => Ok((pid, signal)),
    }
}

pub struct App {
    pub frame: Frame,
    pub mode: Mode,
    pub sort: SortKey,
    /// Reversed from the key's natural order (largest first; pid smallest first).
    pub reverse: bool,
    pub filter: String,
    pub prompt: Option<Prompt>,
    pub pane: Pane,
    pub help: bool,
    pub color: bool,
    /// How times are shown and the `g` prompt reads them.
    pub zone: Zone,
    /// A line shown in the status bar until the next key (a bad time typed after `g`).
    pub message: Option<String>,
    /// A line that says what a key did (a signal sent), shown as the message is, not in red.
    pub notice: Option<String>,
    /// `--read-only`: `k` is refused.
    pub read_only: bool,
    /// `t`: the processes as a tree of parents and children.
    pub tree: bool,
    /// The first row of each pane's list (by [`Pane::index`]) that the keys asked for; drawn
    /// no further than the last page holds ([`App::window`]). A new sort or filter goes back
    /// to the top, as the rows then mean something else.
    pub scroll: [usize; PANES.len()],
    /// Each pane's list at the last frame it was drawn.
    pub shown: [Cell<Shown>; PANES.len()],
    /// The pids of the process rows the last frame drew (set while drawing): whose `io` the
    /// next live refresh reads again, without sorting the processes a second time.
    pub pids_drawn: RefCell<Vec<i64>>,
}

impl App {
    pub fn new(mode: Mode, color: bool) -> App {
        App {
            frame: Frame::empty(),
            mode,
            sort: SortKey::Cpu,
            reverse: false,
            filter: String::new(),
            prompt: None,
            pane: Pane::Processes,
            help: false,
            color,
            zone: Zone::Local,
            message: None,
            notice: None,
            read_only: false,
            tree: false,
            scroll: [0; PANES.len()],
            shown: Default::default(),
            pids_drawn: RefCell::new(Vec::new()),
        }
    }

    /// The rows of the shown pane's list to draw, of `count` with `room` for them: from the
    /// row scrolled to, but never leaving the last page short (a list that shrank since, or
    /// `End`). Kept for the keys.
    pub fn window(&self, count: usize, room: usize) -> Range<usize> {
        let first = self.scroll[self.pane.index()].min(count.saturating_sub(room));
        self.shown[self.pane.index()].set(Shown { room, count, first });
        first..count.min(first + room)
    }

    /// The first row of the processes' list the last frame drew (0 before any, or when it
    /// is not the pane shown).
    pub fn first_process_shown(&self) -> usize {
        match self.pane {
            Pane::Processes => self.shown[Pane::Processes.index()].get().first,
            _ => 0,
        }
    }

    /// Scrolls the shown pane's list by `rows` (negative: up), within what the last frame held.
    fn scroll_by(&mut self, rows: isize) {
        let i = self.pane.index();
        let s = self.shown[i].get();
        let last = s.count.saturating_sub(s.room);
        let first = self.scroll[i].min(last);
        self.scroll[i] = first.saturating_add_signed(rows).min(last);
    }

    /// Back to the top of the lists that the sort and the filter order.
    fn scroll_home(&mut self) {
        self.scroll[Pane::Processes.index()] = 0;
        self.scroll[Pane::Cgroups.index()] = 0;
    }

    pub fn is_replay(&self) -> bool {
        matches!(self.mode, Mode::Replay { .. })
    }

    /// The filter in effect: the one being typed, else the kept one.
    pub fn active_filter(&self) -> &str {
        match &self.prompt {
            Some(Prompt::Filter(f)) => f,
            _ => &self.filter,
        }
    }

    /// The processes to show, filtered and sorted, in the order drawn (with the tree, `t`,
    /// each under its parent).
    pub fn processes(&self) -> Vec<&Proc> {
        match self.tree {
            true => self.process_tree().0,
            false => self.processes_sorted(),
        }
    }

    /// The processes in the tree's order, each with the lines drawn before its command
    /// (`├─ `, `└─ `, `│  `): children under their parent, siblings in the sort's order. A
    /// process whose parent is not shown (filtered out, exited, pid 0) starts a tree of its own;
    /// so does one of a loop of parents, which a snapshot read over time can hold (a pid
    /// reused as the child of its old child), so that every process is drawn once.
    pub fn process_tree(&self) -> (Vec<&Proc>, Vec<String>) {
        let v = self.processes_sorted();
        let at: HashMap<i64, usize> = v.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); v.len()];
        let mut roots = Vec::new();
        for (i, p) in v.iter().enumerate() {
            match p.ppid.and_then(|pp| at.get(&pp)).filter(|&&j| j != i) {
                Some(&j) => children[j].push(i),
                None => roots.push(i),
            }
        }
        let mut order = Vec::with_capacity(v.len());
        let mut prefixes = Vec::with_capacity(v.len());
        let mut seen = vec![false; v.len()];
        // Depth first, with a stack of its own (a chain of parents may be thousands long).
        let mut stack: Vec<(usize, String, String, usize)> = Vec::new();
        let leftovers: Vec<usize> = (0..v.len()).collect();
        for &start in roots.iter().chain(leftovers.iter()) {
            if seen[start] {
                continue;
            }
            stack.push((start, String::new(), String::new(), 0));
            while let Some((i, own, lead, depth)) = stack.pop() {
                if std::mem::replace(&mut seen[i], true) {
                    continue;
                }
                order.push(v[i]);
                prefixes.push(own);
                let n = children[i].len();
                // Past MAX_TREE_DEPTH levels the lines stop moving right: a chain of thousands
                // of processes (a runaway recursion) costs no more than that per row.
                let deep = depth >= MAX_TREE_DEPTH;
                for (k, &c) in children[i].iter().enumerate().rev() {
                    let (glyph, under) = match (k + 1 == n, deep) {
                        (_, true) => ("", ""),
                        (true, false) => ("└─ ", "   "),
                        (false, false) => ("├─ ", "│  "),
                    };
                    stack.push((c, format!("{lead}{glyph}"), format!("{lead}{under}"), depth + 1));
                }
            }
        }
        (order, prefixes)
    }

    /// The processes to show, filtered and sorted.
    fn processes_sorted(&self) -> Vec<&Proc> {
        let Some(procs) = &self.frame.procs else {
            return Vec::new();
        };
        let needle = self.active_filter().to_lowercase();
        // Sized at once: grown from 4 a refresh, its last growth was a request large enough to
        // make glibc's malloc consolidate every small block the previous refresh freed.
        let mut v: Vec<&Proc> = Vec::with_capacity(procs.len());
        v.extend(procs.iter().filter(|p| {
            needle.is_empty() || p.name.to_lowercase().contains(&needle) || p.command.to_lowercase().contains(&needle)
        }));
        let key = |p: &Proc| -> f64 {
            match self.sort {
                SortKey::Cpu => p.cpu_pct.unwrap_or(-1.0),
                SortKey::Mem => p.rss_bytes.unwrap_or(-1.0),
                SortKey::Io => match (p.read_per_sec, p.write_per_sec) {
                    (None, None) => -1.0,
                    (r, w) => r.unwrap_or(0.0) + w.unwrap_or(0.0),
                },
                SortKey::Pid => -(p.pid as f64),
            }
        };
        v.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.pid.cmp(&b.pid)));
        if self.reverse {
            v.reverse();
        }
        v
    }

    /// The cgroups to show, filtered by path (the same filter as the processes') and sorted
    /// by the same key as the processes (CPU, memory, I/O; `p`: by path).
    pub fn cgroups(&self) -> Vec<&Cgroup> {
        let Some(cgroups) = self.frame.cgroups.rows() else {
            return Vec::new();
        };
        let needle = self.active_filter().to_lowercase();
        let mut v: Vec<&Cgroup> = cgroups
            .iter()
            .filter(|c| needle.is_empty() || c.path.to_lowercase().contains(&needle))
            .collect();
        let key = |c: &Cgroup| -> f64 {
            match self.sort {
                SortKey::Cpu => c.cpu_pct.unwrap_or(-1.0),
                SortKey::Mem => c.mem_bytes.unwrap_or(-1.0),
                SortKey::Io => match (c.read_per_sec, c.write_per_sec) {
                    (None, None) => -1.0,
                    (r, w) => r.unwrap_or(0.0) + w.unwrap_or(0.0),
                },
                SortKey::Pid => 0.0,
            }
        };
        v.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.path.cmp(&b.path)));
        if self.reverse {
            v.reverse();
        }
        v
    }

    pub fn key(&mut self, k: KeyEvent) -> Action {
        self.message = None;
        self.notice = None;
        if k.modifiers.contains(KeyModifiers::CONTROL) && matches!(k.code, KeyCode::Char('c' | 'd')) {
            return Action::Quit;
        }
        if let Some(p) = &mut self.prompt {
            let line = match p {
                Prompt::Filter(s) | Prompt::Time(s) | Prompt::Kill(s) | Prompt::Interval(s) => s,
            };
            match k.code {
                KeyCode::Esc => {
                    if matches!(p, Prompt::Filter(_)) {
                        self.filter.clear();
                        self.scroll_home();
                    }
                    self.prompt = None;
                }
                KeyCode::Enter => {
                    let p = self.prompt.take();
                    match p {
                        Some(Prompt::Filter(f)) => self.filter = f,
                        Some(Prompt::Time(t)) => return Action::GoTo(t),
                        Some(Prompt::Kill(t)) => match parse_kill(&t) {
                            Ok((pid, signal)) => {
                                let started_us = self
                                    .frame
                                    .procs
                                    .iter()
                                    .flatten()
                                    .find(|p| p.pid == pid)
                                    .and_then(|p| p.start_us);
                                return Action::Signal {
                                    pid,
                                    signal,
                                    started_us,
                                };
                            }
                            Err(e) => self.message = Some(e),
                        },
                        Some(Prompt::Interval(t)) => match crate::data::parse_interval(&t) {
                            Ok(d) => {
                                if let Mode::Live { interval_ms } = &mut self.mode {
                                    *interval_ms = d.as_millis() as u64;
                                }
                                return Action::SetInterval(d);
                            }
                            Err(e) => self.message = Some(format!("refresh every: {e}")),
                        },
                        None => {}
                    }
                }
                KeyCode::Backspace => {
                    line.pop();
                }
                KeyCode::Char(c) => line.push(c),
                _ => return Action::None,
            }
            if matches!(self.prompt, Some(Prompt::Filter(_))) {
                self.scroll_home();
            }
            return Action::Redraw;
        }
        if self.help {
            self.help = false;
            if matches!(k.code, KeyCode::Char('q')) {
                return Action::Quit;
            }
            return Action::Redraw;
        }
        let sort = |app: &mut App, s: SortKey| {
            if app.sort == s {
                app.reverse = !app.reverse;
            } else {
                app.sort = s;
                app.reverse = false;
            }
            app.scroll_home();
            Action::Redraw
        };
        // A page: the rows the list had room for, less one kept on screen for the eye.
        let page = self.shown[self.pane.index()].get().room.saturating_sub(1).max(1) as isize;
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => {
                self.help = true;
                Action::Redraw
            }
            KeyCode::Char('/') => {
                self.prompt = Some(Prompt::Filter(self.filter.clone()));
                // The cgroups pane filters its paths; any other pane gives way to the processes.
                if self.pane != Pane::Cgroups {
                    self.pane = Pane::Processes;
                }
                Action::Redraw
            }
            KeyCode::Esc => {
                self.filter.clear();
                self.scroll_home();
                Action::Redraw
            }
            // As htop's `t`: the tree, on and off (the sort orders the siblings).
            KeyCode::Char('t') => {
                self.tree = !self.tree;
                self.scroll_home();
                self.pane = Pane::Processes;
                Action::Redraw
            }
            KeyCode::Char('c') => sort(self, SortKey::Cpu),
            KeyCode::Char('m') => sort(self, SortKey::Mem),
            KeyCode::Char('i') => sort(self, SortKey::Io),
            KeyCode::Char('p') => sort(self, SortKey::Pid),
            KeyCode::Tab | KeyCode::BackTab => {
                let i = PANES.iter().position(|p| *p == self.pane).unwrap_or(0);
                let n = PANES.len();
                let j = if k.code == KeyCode::Tab {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.pane = PANES[j];
                Action::Redraw
            }
            KeyCode::Left if self.is_replay() => Action::Step(-1),
            KeyCode::Right if self.is_replay() => Action::Step(1),
            KeyCode::PageUp if self.is_replay() => Action::Seek(-60),
            KeyCode::PageDown if self.is_replay() => Action::Seek(60),
            // The list: as top, htop and less scroll theirs (PgUp/PgDn only live: a replay
            // moves its cursor with them, as the issue's keys say; Ctrl-B/Ctrl-F page in both).
            KeyCode::Up => self.scrolled(-1),
            KeyCode::Down => self.scrolled(1),
            KeyCode::PageUp => self.scrolled(-page),
            KeyCode::PageDown => self.scrolled(page),
            KeyCode::Char('b') if ctrl => self.scrolled(-page),
            KeyCode::Char('f') if ctrl => self.scrolled(page),
            KeyCode::Home => self.scrolled(isize::MIN),
            KeyCode::End => self.scrolled(isize::MAX),
            KeyCode::Char('g') if self.is_replay() => {
                self.prompt = Some(Prompt::Time(String::new()));
                Action::Redraw
            }
            KeyCode::Char('k') if self.is_replay() => {
                self.message = Some("k signals a live process: this is a recording".into());
                Action::Redraw
            }
            // As top's `d` and `s`: the delay between refreshes, the current one offered.
            KeyCode::Char('d' | 's') => match &self.mode {
                Mode::Live { interval_ms } => {
                    self.prompt = Some(Prompt::Interval(match interval_ms % 1000 {
                        0 => format!("{}s", interval_ms / 1000),
                        _ => format!("{interval_ms}ms"),
                    }));
                    Action::Redraw
                }
                Mode::Replay { .. } => {
                    self.message = Some("d sets the live refresh: this is a recording (← → move)".into());
                    Action::Redraw
                }
            },
            KeyCode::Char('k') if self.read_only => {
                self.message = Some("k sends no signal: started with --read-only".into());
                Action::Redraw
            }
            // As top's `k`: the pid of the top row offered, the signal TERM unless typed.
            KeyCode::Char('k') => {
                let first = match self.pane {
                    Pane::Processes => self.processes().get(self.first_process_shown()).map(|p| p.pid),
                    _ => None,
                };
                self.prompt = Some(Prompt::Kill(first.map_or(String::new(), |p| p.to_string())));
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    fn scrolled(&mut self, rows: isize) -> Action {
        let before = self.scroll[self.pane.index()];
        self.scroll_by(rows);
        match self.scroll[self.pane.index()] == before {
            true => Action::None,
            false => Action::Redraw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEventKind;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn keys() {
        let mut a = App::new(Mode::Live { interval_ms: 1000 }, false);
        assert_eq!(a.key(key(KeyCode::Char('c'))), Action::Redraw);
        assert!(a.reverse, "the sort key again reverses");
        a.key(key(KeyCode::Char('m')));
        assert_eq!((a.sort, a.reverse), (SortKey::Mem, false));
        a.key(key(KeyCode::Char('/')));
        for c in "ssh".chars() {
            a.key(key(KeyCode::Char(c)));
        }
        assert_eq!(a.active_filter(), "ssh");
        a.key(key(KeyCode::Enter));
        assert_eq!((a.filter.as_str(), a.prompt.is_none()), ("ssh", true));
        a.key(key(KeyCode::Char('/')));
        a.key(key(KeyCode::Esc));
        assert_eq!(a.filter, "");
        a.key(key(KeyCode::Tab));
        assert_eq!(a.pane, Pane::Disks);
        for _ in 0..4 {
            a.key(key(KeyCode::Tab));
        }
        assert_eq!(a.pane, Pane::Sockets, "cgroups, then sockets, last");
        a.key(key(KeyCode::Tab));
        assert_eq!(a.pane, Pane::Processes, "and round");
        a.key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
        assert_eq!(a.pane, Pane::Sockets);
        a.key(key(KeyCode::Tab));
        assert_eq!(a.key(key(KeyCode::Left)), Action::None, "no cursor live");
        a.pane = Pane::Cgroups;
        a.key(key(KeyCode::Char('/')));
        assert_eq!(a.pane, Pane::Cgroups, "the cgroups pane filters its own paths");
        a.key(key(KeyCode::Esc));
        a.pane = Pane::Disks;
        a.key(key(KeyCode::Char('/')));
        assert_eq!(a.pane, Pane::Processes, "elsewhere: the processes");
        a.key(key(KeyCode::Esc));
        let mut ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        ctrl_c.kind = KeyEventKind::Press;
        assert_eq!(a.key(ctrl_c), Action::Quit);
        assert_eq!(a.key(key(KeyCode::Char('q'))), Action::Quit);

        let mut r = App::new(
            Mode::Replay {
                location: "/r".into(),
                index: 1,
                count: 2,
            },
            false,
        );
        assert_eq!(r.key(key(KeyCode::Left)), Action::Step(-1));
        assert_eq!(r.key(key(KeyCode::PageDown)), Action::Seek(60));
        r.key(key(KeyCode::Char('g')));
        for c in "-5m".chars() {
            r.key(key(KeyCode::Char(c)));
        }
        assert_eq!(r.key(key(KeyCode::Enter)), Action::GoTo("-5m".into()));
        assert_eq!(r.key(key(KeyCode::Char('k'))), Action::Redraw);
        assert!(r.prompt.is_none() && r.message.as_deref().unwrap().contains("recording"));
    }

    #[test]
    fn kill_takes_a_pid_and_a_signal_by_name_or_number() {
        assert_eq!(parse_kill("42"), Ok((42, libc::SIGTERM)));
        assert_eq!(parse_kill(" 42  9 "), Ok((42, libc::SIGKILL)));
        assert_eq!(parse_kill("42 kill"), Ok((42, libc::SIGKILL)));
        assert_eq!(parse_kill("42 SIGHUP"), Ok((42, libc::SIGHUP)));
        assert_eq!(parse_kill("42 sigcont"), Ok((42, libc::SIGCONT)));
        assert_eq!(parse_kill("42 64"), Ok((42, 64)));
        for bad in [
            "",
            "0",
            "-1",
            "-42 9",
            "x",
            "42 0",
            "42 65",
            "42 SIGNOPE",
            "42 9 9",
            "42 -9",
            "4.2",
        ] {
            let e = parse_kill(bad).unwrap_err();
            assert!(e.starts_with("kill: '") && e.contains("PID [SIGNAL]"), "{bad}: {e}");
        }
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        assert_eq!(signal_name(40), "signal 40");
    }

    #[test]
    fn k_offers_the_top_row_and_sends_with_its_start_time() {
        use crate::data::Proc;
        let p = |pid, start| Proc {
            pid,
            ppid: None,
            user: None,
            state: None,
            cpu_pct: Some(pid as f64),
            rss_bytes: None,
            mem_pct: None,
            read_per_sec: None,
            write_per_sec: None,
            threads: None,
            name: "p".into(),
            command: "p".into(),
            start_us: Some(start),
            read_bytes: None,
            written_bytes: None,
        };
        let mut a = App::new(Mode::Live { interval_ms: 1000 }, false);
        a.frame.procs = Some(vec![p(7, 700), p(9, 900)]);
        a.key(key(KeyCode::Char('k')));
        assert_eq!(a.prompt, Some(Prompt::Kill("9".into())), "the busiest first");
        a.key(key(KeyCode::Char(' ')));
        a.key(key(KeyCode::Char('9')));
        assert_eq!(
            a.key(key(KeyCode::Enter)),
            Action::Signal {
                pid: 9,
                signal: libc::SIGKILL,
                started_us: Some(900)
            }
        );
        // Another pid typed over it: that row's start time; a pid not shown: none to check.
        a.key(key(KeyCode::Char('k')));
        a.key(key(KeyCode::Backspace));
        a.key(key(KeyCode::Char('7')));
        assert_eq!(
            a.key(key(KeyCode::Enter)),
            Action::Signal {
                pid: 7,
                signal: libc::SIGTERM,
                started_us: Some(700)
            }
        );
        a.key(key(KeyCode::Char('k')));
        a.key(key(KeyCode::Backspace));
        a.key(key(KeyCode::Char('8')));
        assert!(matches!(
            a.key(key(KeyCode::Enter)),
            Action::Signal {
                pid: 8,
                started_us: None,
                ..
            }
        ));
        // A bad line: said, nothing sent; Esc: nothing sent.
        a.key(key(KeyCode::Char('k')));
        a.key(key(KeyCode::Char('x')));
        assert_eq!(a.key(key(KeyCode::Enter)), Action::Redraw);
        assert!(a.message.as_deref().unwrap().contains("is not PID [SIGNAL]"));
        a.key(key(KeyCode::Char('k')));
        assert_eq!(a.key(key(KeyCode::Esc)), Action::Redraw);
        assert!(a.prompt.is_none());
        // Another pane: no row offered.
        a.pane = Pane::Disks;
        a.key(key(KeyCode::Char('k')));
        assert_eq!(a.prompt, Some(Prompt::Kill(String::new())));
        a.key(key(KeyCode::Esc));
        // d: the interval offered, changed, refused when bad.
        let mut a = App::new(Mode::Live { interval_ms: 1000 }, false);
        a.key(key(KeyCode::Char('d')));
        assert_eq!(a.prompt, Some(Prompt::Interval("1s".into())));
        a.key(key(KeyCode::Backspace));
        a.key(key(KeyCode::Backspace));
        for c in "250ms".chars() {
            a.key(key(KeyCode::Char(c)));
        }
        assert_eq!(
            a.key(key(KeyCode::Enter)),
            Action::SetInterval(std::time::Duration::from_millis(250))
        );
        assert_eq!(a.mode, Mode::Live { interval_ms: 250 });
        a.key(key(KeyCode::Char('s')));
        assert_eq!(a.prompt, Some(Prompt::Interval("250ms".into())));
        a.key(key(KeyCode::Char('0')));
        assert_eq!(a.key(key(KeyCode::Enter)), Action::Redraw, "250ms0 is no duration");
        assert!(
            a.message
                .as_deref()
                .unwrap()
                .starts_with("refresh every: '250ms0' is not a duration")
        );
        assert_eq!(a.mode, Mode::Live { interval_ms: 250 }, "unchanged");
        // --read-only: refused.
        a.read_only = true;
        a.key(key(KeyCode::Char('k')));
        assert!(a.prompt.is_none() && a.message.as_deref().unwrap().contains("--read-only"));
    }
}
