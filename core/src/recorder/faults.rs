//! Test hooks: faults and pauses injected through environment variables.
//!
//! CI runs as root, where `chmod` cannot make a directory unwritable, so the fault tests
//! inject their faults here instead. Each variable is read when a recorder starts; none is
//! set in normal use, and then every check below is one branch.
//!
//! * `SYSMON_TEST_FAULT_FILE=<path>`: while `<path>` exists, every file the recorder writes
//!   fails with "No space left on device (injected)".
//! * `SYSMON_TEST_MERGE_PAUSE=<step>:<seconds>`: a merge sleeps at `<step>`, which is
//!   `before_rename` (merged file written under its temporary name) or `after_rename` (merged
//!   file visible, inputs not yet deleted), so a test can kill the process there.
//! * `SYSMON_TEST_MERGE_FANIN=<n>`: merge every `n` files of a level instead of
//!   [`super::merge::FANIN`].
//! * `SYSMON_TEST_BUFFER_ROWS=<n>`: buffer at most `n` rows per table while writes fail.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::sync::lock;

#[derive(Clone, Debug, Default)]
pub struct Hooks {
    pub fault_file: Option<PathBuf>,
    pub merge_pause: Option<(String, Duration)>,
    pub merge_fanin: Option<usize>,
    pub buffer_rows: Option<usize>,
}

static HOOKS: Mutex<Option<Hooks>> = Mutex::new(None);

/// Reads the variables again (called when a recorder starts).
pub fn refresh() -> Hooks {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let hooks = Hooks {
        fault_file: var("SYSMON_TEST_FAULT_FILE").map(PathBuf::from),
        merge_pause: var("SYSMON_TEST_MERGE_PAUSE").and_then(|v| {
            let (step, secs) = v.split_once(':')?;
            Some((step.to_string(), Duration::from_secs_f64(secs.parse().ok()?)))
        }),
        merge_fanin: var("SYSMON_TEST_MERGE_FANIN")
            .and_then(|v| v.parse().ok())
            .filter(|&n| n >= 2),
        buffer_rows: var("SYSMON_TEST_BUFFER_ROWS").and_then(|v| v.parse().ok()),
    };
    *lock(&HOOKS) = Some(hooks.clone());
    hooks
}

pub fn current() -> Hooks {
    lock(&HOOKS).clone().unwrap_or_default()
}

/// Fails while the fault file exists.
pub fn check_write(dir: &Path) -> io::Result<()> {
    let fault = lock(&HOOKS).as_ref().and_then(|h| h.fault_file.clone());
    if let Some(f) = fault
        && f.exists()
    {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "cannot write in {}: No space left on device (injected by SYSMON_TEST_FAULT_FILE)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// Sleeps if a merge pause is set for `step`.
pub fn merge_pause(step: &str) {
    let pause = lock(&HOOKS).as_ref().and_then(|h| h.merge_pause.clone());
    if let Some((s, d)) = pause
        && s == step
    {
        std::thread::sleep(d);
    }
}
