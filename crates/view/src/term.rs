//! The terminal: raw mode and the alternate screen, restored on every way out (quit, error,
//! panic: the panic hook restores before the message is printed), and the event loop.

use std::io::{self, BufWriter, IsTerminal, Stdout};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::crossterm::{cursor, execute};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::app::{Action, App, Mode, Pane, SortKey, signal_name};
use crate::data::parse_time;
use crate::live::{IoWanted, LiveSource};
use crate::replay::ReplaySource;
use crate::{TopError, render};

/// Leaves raw mode and the alternate screen and shows the cursor; safe to call twice.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
}

/// The stop signal received (SIGTERM or SIGHUP), 0 while none.
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(signal, Ordering::Relaxed);
}

/// On SIGTERM and SIGHUP the loop ends at once (the signal interrupts its wait: `poll` returns
/// `EINTR`, whatever `SA_RESTART`), or at the latest at its next wake-up (at most [`WAKE`]
/// later, where the signal came just before the wait began), and the terminal is restored on
/// the way out.
fn catch_stop_signals() {
    for s in [libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `on_stop` is an `extern "C" fn(c_int)` that only stores to an atomic, which is
        // async-signal-safe; `signal` installs it for a valid signal number.
        unsafe {
            libc::signal(s, on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
    }
}

/// The longest the loop sleeps between looks at [`STOP`] (a signal ends the sleep sooner).
/// Live, the loop sleeps until the next refresh where that is sooner: one wake-up per refresh
/// at the default 1 s, as `top -d 1`.
const WAKE: Duration = Duration::from_secs(1);

/// Waits up to `wait` for input on the terminal (standard input); whether it hung up (its
/// window or pane closed: crossterm would read its end of file without end). A signal (a
/// resize) ends the wait early.
fn tty_hung_up(wait: Duration) -> bool {
    let mut fd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // Rounded up: a wait of less than a millisecond rounded down to 0 would return at once, and
    // the loop would spin on `poll` until the refresh is due.
    let ms = libc::c_int::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid `pollfd` for a count of 1; the kernel writes only its `revents`.
    let n = unsafe { libc::poll(&mut fd, 1, ms) };
    n > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Restores the terminal when dropped (a return, an error, an unwinding panic).
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Checks that both ends are a terminal (exit code 2 otherwise).
pub fn check_terminal() -> Result<(), TopError> {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(TopError::usage(
            "not a terminal: `sysmon top` draws a full-screen view and needs its standard input and output on a terminal (for rows in a script, query the SQL tables instead)",
        ));
    }
    Ok(())
}

/// The terminal drawn on. Its size is that of the screen, changed on a resize event rather
/// than asked of the terminal at each frame (an open of `/dev/tty` and an `ioctl` a frame),
/// and each frame leaves in one `write` (standard output's own buffer writes every 1 KiB).
type Screen = Terminal<CrosstermBackend<BufWriter<Stdout>>>;

fn enter() -> io::Result<(Guard, Screen)> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    let guard = Guard;
    execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
    let backend = CrosstermBackend::new(BufWriter::with_capacity(1 << 16, io::stdout()));
    let size = backend.size()?;
    let viewport = Viewport::Fixed(Rect::new(0, 0, size.width, size.height));
    let terminal = Terminal::with_options(backend, TerminalOptions { viewport })?;
    Ok((guard, terminal))
}

pub enum Source {
    Live(Box<LiveSource>),
    Replay(Box<ReplaySource>),
}

fn sync(app: &mut App, src: &mut Source) {
    match src {
        Source::Live(l) => app.frame = l.take_frame(),
        Source::Replay(r) => {
            app.frame = r.frame().clone();
            if let Mode::Replay { index, count, .. } = &mut app.mode {
                *index = r.cursor + 1;
                *count = r.times.len();
            }
        }
    }
}

/// Runs the view until `q`.
pub fn run(mut app: App, mut src: Source, mut interval: Duration) -> Result<(), TopError> {
    catch_stop_signals();
    let (_guard, mut term) = enter().map_err(TopError::io)?;
    // The first live frame after a short window (the processes' first one waits for its own).
    let mut next = Instant::now() + interval.min(Duration::from_millis(200));
    let mut dirty = true;
    if let Source::Replay(_) = src {
        sync(&mut app, &mut src);
    }
    loop {
        if let Source::Live(live) = &mut src
            && Instant::now() >= next
        {
            if let Err(e) = live.refresh(app.pane, &io_wanted(&app)) {
                app.message = Some(format!("reading the host: {e}"));
            }
            sync(&mut app, &mut src);
            next += interval;
            let now = Instant::now();
            if next < now {
                next = now + interval;
            }
            dirty = true;
        }
        if dirty {
            term.draw(|f| render::draw(f, &app)).map_err(TopError::io)?;
            dirty = false;
            panic_for_tests();
        }
        let signal = STOP.load(Ordering::Relaxed);
        if signal != 0 {
            return Err(TopError {
                code: 128u8.saturating_add(signal as u8),
                message: format!("stopped by signal {signal} (the terminal is restored)"),
            });
        }
        let wait = match src {
            Source::Live(_) => next.saturating_duration_since(Instant::now()).min(WAKE),
            Source::Replay(_) => WAKE,
        };
        if tty_hung_up(wait) {
            return Err(TopError {
                code: 1,
                message: "the terminal hung up".into(),
            });
        }
        // Every event crossterm has read (a paste or `tmux send-keys` brings several at once).
        while event::poll(Duration::ZERO).map_err(TopError::io)? {
            match event::read().map_err(TopError::io)? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    let before = app.pane;
                    let action = app.key(k);
                    dirty = true;
                    match (action, &mut src) {
                        (Action::Quit, _) => return Ok(()),
                        (Action::Step(n), Source::Replay(r)) => {
                            r.step(n);
                            load(&mut app, r);
                        }
                        (Action::Seek(secs), Source::Replay(r)) => {
                            r.seek(r.cursor_us().saturating_add(secs.saturating_mul(1_000_000)));
                            load(&mut app, r);
                        }
                        (Action::GoTo(text), Source::Replay(r)) => match parse_time(&text, r.newest_us(), app.zone) {
                            Ok(ts) => {
                                r.seek(ts);
                                load(&mut app, r);
                            }
                            Err(e) => app.message = Some(e),
                        },
                        (
                            Action::Signal {
                                pid,
                                signal,
                                started_us,
                            },
                            Source::Live(l),
                        ) => match l.signal(pid, signal, started_us) {
                            Ok(()) => app.notice = Some(format!("sent {} to {pid}", signal_name(signal))),
                            Err(e) => app.message = Some(format!("kill: {e}")),
                        },
                        (Action::SetInterval(d), Source::Live(l)) => {
                            interval = d;
                            l.set_interval(d);
                            // The next refresh: the one planned or one new interval from now,
                            // whichever comes first.
                            next = next.min(Instant::now() + d);
                        }
                        (_, Source::Live(_)) if before != app.pane && app.pane.read_when_shown() => {
                            // Read the pane now rather than at the next tick.
                            next = Instant::now();
                        }
                        (_, Source::Replay(r)) if before != app.pane => {
                            if let Err(e) = r.fill(app.pane) {
                                app.message = Some(e);
                            }
                        }
                        _ => {}
                    }
                    if let Source::Replay(_) = src {
                        let msg = app.message.take();
                        sync(&mut app, &mut src);
                        app.message = msg;
                    }
                }
                Event::Resize(width, height) => {
                    term.resize(Rect::new(0, 0, width, height)).map_err(TopError::io)?;
                    dirty = true;
                }
                _ => {}
            }
        }
    }
}

/// Whose `io` the next live refresh reads again: every process's when sorted by I/O, else the
/// processes of the rows the last frame drew (none while the help or another pane is shown).
fn io_wanted(app: &App) -> IoWanted {
    if app.pane == Pane::Processes && app.sort == SortKey::Io {
        return IoWanted::All;
    }
    IoWanted::Shown(match app.pane == Pane::Processes && !app.help {
        true => app
            .pids_drawn
            .borrow()
            .iter()
            .filter_map(|&p| i32::try_from(p).ok())
            .collect(),
        false => Default::default(),
    })
}

/// `SYSMON_TEST_TOP_PANIC` set: a panic after a frame is drawn, so that a test sees the panic
/// hook restore the terminal (test/python/test_top.py).
#[allow(clippy::panic)]
fn panic_for_tests() {
    if std::env::var_os("SYSMON_TEST_TOP_PANIC").is_some() {
        panic!("SYSMON_TEST_TOP_PANIC: a panic to test that the terminal is restored");
    }
}

fn load(app: &mut App, r: &mut ReplaySource) {
    if let Err(e) = r.load(app.pane) {
        app.message = Some(e);
    }
}
