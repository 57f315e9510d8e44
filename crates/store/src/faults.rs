//! Test hooks: faults and pauses a recorder injects into its own writes.
//!
//! CI runs as root, where `chmod` cannot make a directory unwritable, so the fault tests
//! inject their faults here instead. A recorder takes its [`Hooks`] from its
//! [`LiveState`](sysmon_live::LiveState) when it starts and hands them to every write and
//! merge explicitly: there is no process-wide hook state. Unit tests give a state fixed hooks
//! ([`LiveState::with_faults`](sysmon_live::LiveState::with_faults)); the process's state reads
//! them from environment variables when a recorder starts, so the Python tests can set them
//! around a `record_metrics` call. None is set in normal use, and then every check below is one
//! branch.
//!
//! * `SYSMON_TEST_FAULT_FILE=<path>`: while `<path>` exists, every file the recorder writes
//!   fails with "No space left on device (injected)".
//! * `SYSMON_TEST_MERGE_PAUSE=<step>:<seconds>`: a merge sleeps at `<step>`, which is
//!   `before_rename` (merged file written under its temporary name) or `after_rename` (merged
//!   file visible, inputs not yet deleted), or `publish_after_rename` (a publish's, or a
//!   replay's, level-0 files visible, the write-ahead log not yet emptied), so a test can kill
//!   the process there.
//! * `SYSMON_TEST_MERGE_FANIN=<n>`: merge every `n` files of a level instead of
//!   [`super::merge::FANIN`].
//! * `SYSMON_TEST_BUFFER_ROWS=<n>`: buffer at most `n` rows per table while writes fail.
//! * `SYSMON_TEST_SHIP_PAUSE=<step>:<seconds>`: the shipper (S3 destinations) prints
//!   `sysmon-test: shipper paused at <step>` to stderr and sleeps at `<step>`: `after_upload`
//!   (an object is in the bucket, its local copy not yet deleted), `day_before_rename` (a day's
//!   compacted object written under its temporary name), `day_after_upload` (the day object is
//!   in the bucket, the parts it covers not yet deleted), so a test can kill the process there.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// The faults and pauses of one recorder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hooks {
    pub fault_file: Option<PathBuf>,
    pub merge_pause: Option<(String, Duration)>,
    pub merge_fanin: Option<usize>,
    pub buffer_rows: Option<usize>,
    pub ship_pause: Option<(String, Duration)>,
}

/// Where a [`LiveState`](sysmon_live::LiveState) takes its recorders' hooks from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum HookSource {
    /// The `SYSMON_TEST_*` variables, read when a recorder starts (the process's state).
    #[default]
    Environment,
    /// These hooks, whatever the environment says (unit tests).
    Fixed(Hooks),
}

impl HookSource {
    /// The hooks a recorder starting now gets.
    pub fn hooks(&self) -> Hooks {
        match self {
            HookSource::Environment => Hooks::from_env(|k| std::env::var(k).ok()),
            HookSource::Fixed(h) => h.clone(),
        }
    }
}

impl Hooks {
    /// The hooks the variables ask for; `var` looks a variable up.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Hooks {
        let var = |k: &str| var(k).filter(|v| !v.is_empty());
        Hooks {
            fault_file: var("SYSMON_TEST_FAULT_FILE").map(PathBuf::from),
            merge_pause: var("SYSMON_TEST_MERGE_PAUSE").and_then(|v| {
                let (step, secs) = v.split_once(':')?;
                Some((step.to_string(), Duration::from_secs_f64(secs.parse().ok()?)))
            }),
            merge_fanin: var("SYSMON_TEST_MERGE_FANIN")
                .and_then(|v| v.parse().ok())
                .filter(|&n| n >= 2),
            buffer_rows: var("SYSMON_TEST_BUFFER_ROWS").and_then(|v| v.parse().ok()),
            ship_pause: var("SYSMON_TEST_SHIP_PAUSE").and_then(|v| {
                let (step, secs) = v.split_once(':')?;
                Some((step.to_string(), Duration::from_secs_f64(secs.parse().ok()?)))
            }),
        }
    }

    /// Fails while the fault file exists.
    pub fn check_write(&self) -> io::Result<()> {
        if let Some(f) = &self.fault_file
            && f.exists()
        {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device (injected by SYSMON_TEST_FAULT_FILE)",
            ));
        }
        Ok(())
    }

    /// Announces and sleeps if a shipper pause is set for `step`.
    pub fn ship_pause(&self, step: &str) {
        if let Some((s, d)) = &self.ship_pause
            && s == step
        {
            eprintln!("sysmon-test: shipper paused at {step}");
            std::thread::sleep(*d);
        }
    }

    /// Sleeps if a merge pause is set for `step`.
    pub fn merge_pause(&self, step: &str) {
        if let Some((s, d)) = &self.merge_pause
            && s == step
        {
            std::thread::sleep(*d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_parse_and_bad_values_are_ignored() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            Hooks::from_env(move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
        };
        assert_eq!(env(&[]), Hooks::default());
        let h = env(&[
            ("SYSMON_TEST_FAULT_FILE", "/x/f"),
            ("SYSMON_TEST_MERGE_PAUSE", "after_rename:1.5"),
            ("SYSMON_TEST_MERGE_FANIN", "3"),
            ("SYSMON_TEST_BUFFER_ROWS", "5"),
        ]);
        assert_eq!(h.fault_file, Some(PathBuf::from("/x/f")));
        assert_eq!(
            h.merge_pause,
            Some(("after_rename".to_string(), Duration::from_millis(1500)))
        );
        assert_eq!((h.merge_fanin, h.buffer_rows), (Some(3), Some(5)));
        let bad = env(&[
            ("SYSMON_TEST_FAULT_FILE", ""),
            ("SYSMON_TEST_MERGE_PAUSE", "nocolon"),
            ("SYSMON_TEST_MERGE_FANIN", "1"),
        ]);
        assert_eq!(bad, Hooks::default());
    }

    #[test]
    fn fault_file_fails_writes_while_it_exists() {
        let f = std::env::temp_dir().join(format!("sysmon-fault-{}", std::process::id()));
        let h = Hooks {
            fault_file: Some(f.clone()),
            ..Hooks::default()
        };
        h.check_write().unwrap();
        std::fs::write(&f, b"").unwrap();
        let e = h.check_write().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        std::fs::remove_file(&f).unwrap();
        h.check_write().unwrap();
        Hooks::default().check_write().unwrap();
    }
}
