//! `sysmon top`: a full-screen terminal view of the host, live from the same readers and table
//! code as the SQL functions, or replaying a recording at a cursor (`--replay`), read with
//! `sysmon_store::read_recording`. See docs/top.md.
//!
//! | module | what |
//! |---|---|
//! | [`data`] | a screen's rows ([`data::Frame`]), by column name, from either source |
//! | [`live`] | the live source on a `LiveState` |
//! | [`replay`] | a recording at a cursor |
//! | [`app`] | sort, filter, pane, prompts, and what each key does |
//! | [`render`] | drawing a frame (tested on ratatui's `TestBackend`) |
//! | [`term`] | raw mode, alternate screen, restore on every exit, the event loop |

pub mod app;
pub mod data;
pub mod live;
pub mod render;
pub mod replay;
pub mod term;

#[cfg(test)]
mod tests;

use std::time::Duration;

use sysmon_kernel::procfs::Roots;

/// Why `sysmon top` stopped: a message and the exit code (2: usage, not a terminal, no
/// recording; 1: the terminal failed).
#[derive(Debug)]
pub struct TopError {
    pub code: u8,
    pub message: String,
}

impl TopError {
    pub fn usage(message: impl Into<String>) -> TopError {
        TopError {
            code: 2,
            message: message.into(),
        }
    }

    pub fn io(e: std::io::Error) -> TopError {
        TopError {
            code: 1,
            message: format!("terminal: {e}"),
        }
    }
}

/// What `sysmon top` was asked.
#[derive(Clone, Debug, Default)]
pub struct TopOptions {
    pub interval: Duration,
    /// A recording to replay instead of the live host.
    pub replay: Option<String>,
    pub at: Option<String>,
    pub host: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// `--read-only`: `k` sends no signal.
    pub read_only: bool,
}

/// Runs `sysmon top`.
pub fn top(opts: &TopOptions) -> Result<(), TopError> {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let interval = opts.interval.max(Duration::from_millis(100));
    match &opts.replay {
        Some(loc) => {
            let location = replay::Location::parse(loc, opts.endpoint.as_deref(), opts.region.as_deref())
                .map_err(TopError::usage)?;
            let mut src = replay::ReplaySource::open(location, opts.host.as_deref()).map_err(TopError::usage)?;
            if let Some(at) = &opts.at {
                src.seek(data::parse_time(at, src.newest_us(), data::Zone::Local).map_err(TopError::usage)?);
            }
            src.load(app::Pane::Processes).map_err(TopError::usage)?;
            term::check_terminal()?;
            let mode = app::Mode::Replay {
                location: src.location.shown(),
                index: src.cursor + 1,
                count: src.times.len(),
            };
            term::run(
                app::App::new(mode, color),
                term::Source::Replay(Box::new(src)),
                interval,
            )
        }
        None => {
            if opts.at.is_some() || opts.host.is_some() {
                return Err(TopError::usage("--at and --host need --replay <recording>"));
            }
            term::check_terminal()?;
            let src = live::LiveSource::new(Roots::default(), interval)
                .map_err(|e| TopError::usage(format!("reading the host: {e}")))?;
            let mode = app::Mode::Live {
                interval_ms: interval.as_millis() as u64,
            };
            let mut app = app::App::new(mode, color);
            app.read_only = opts.read_only;
            term::run(app, term::Source::Live(Box::new(src)), interval)
        }
    }
}
