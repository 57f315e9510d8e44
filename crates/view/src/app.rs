//! The view's state between frames (sort, filter, pane, prompts) and what each key does. No
//! terminal here: [`App::key`] takes a key and says what the loop must do.

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
        }
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

    /// The processes to show, filtered and sorted.
    pub fn processes(&self) -> Vec<&Proc> {
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
        if k.modifiers.contains(KeyModifiers::CONTROL) && matches!(k.code, KeyCode::Char('c' | 'd')) {
            return Action::Quit;
        }
        if let Some(p) = &mut self.prompt {
            let line = match p {
                Prompt::Filter(s) | Prompt::Time(s) => s,
            };
            match k.code {
                KeyCode::Esc => {
                    if matches!(p, Prompt::Filter(_)) {
                        self.filter.clear();
                    }
                    self.prompt = None;
                }
                KeyCode::Enter => {
                    let p = self.prompt.take();
                    match p {
                        Some(Prompt::Filter(f)) => self.filter = f,
                        Some(Prompt::Time(t)) => return Action::GoTo(t),
                        None => {}
                    }
                }
                KeyCode::Backspace => {
                    line.pop();
                }
                KeyCode::Char(c) => line.push(c),
                _ => return Action::None,
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
            Action::Redraw
        };
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
            KeyCode::Char('g') if self.is_replay() => {
                self.prompt = Some(Prompt::Time(String::new()));
                Action::Redraw
            }
            _ => Action::None,
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
    }
}
