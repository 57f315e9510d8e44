//! `sysmon-record`: the recorder as a service, one binary, no DuckDB and no Python on the host.
//!
//! Every parameter of `record_metrics` (see `docs/recorder.md`, "Running it as a service"), as
//! `--name value` or `--name=value` with `-` for `_`; the catalog lists them and a test checks
//! that none is missing:
//!
//! ```text
//! sysmon-record DESTINATION [--interval 1s] [--tables metrics,cpus] [--process-interval 1m]
//!     [--flush-interval 10s] [--publish-interval 5m] [--retention 30d] [--max-bytes N]
//!     [--endpoint URL] [--region R] [--spool DIR] [--upload-interval 5m] [--spool-max-bytes N]
//! ```
//!
//! A duration is written as `record_metrics` takes one in a string: `1s`, `500ms`, `1.5s`,
//! `2 minutes`, `'1 second'` (quoted or not), or a number of seconds (`1.5`).
//!
//! It starts the recorder and waits; on SIGTERM, SIGINT or SIGHUP it stops it (final flush and,
//! for `s3://`, final upload, bounded by the stop timeouts), prints the final row as
//! `key=value` lines and exits 0. A usage or start error is printed and exits 2; a recorder
//! that ended by itself (failed) exits 1.

use std::process::ExitCode;
use std::time::Duration;

use sysmon_core::{catalog, process};
use sysmon_kernel::interval::{describe, parse_text};
use sysmon_recorder::{self as recorder, Request, ShipRequest, State};

/// How durations are written, for messages.
const DURATIONS: &str = "such as 1s, 500ms, 1.5s, 2 minutes, '1 second' or 1.5 (seconds)";

/// The bounds of duration parameter `name` (those `record_metrics` checks); `None` for a
/// parameter that is no duration.
fn bounds(name: &str) -> Option<(Duration, Duration)> {
    Some(match name {
        "interval" | "process_interval" => (recorder::INTERVAL_MIN, recorder::INTERVAL_MAX),
        "flush_interval" => (recorder::FLUSH_MIN, recorder::FLUSH_MAX),
        "publish_interval" => (recorder::FLUSH_MIN, recorder::PUBLISH_MAX),
        "retention" => (recorder::RETENTION_MIN, recorder::RETENTION_MAX),
        "upload_interval" => (recorder::UPLOAD_INTERVAL_MIN, recorder::UPLOAD_INTERVAL_MAX),
        _ => return None,
    })
}

/// Option `--{flag}`'s value as a duration within its parameter's bounds.
fn duration(flag: &str, name: &str, text: &str) -> Result<Duration, String> {
    let (min, max) = bounds(name).ok_or_else(|| format!("--{flag} takes no duration"))?;
    let range = format!("from {} to {}", describe(min), describe(max));
    let d = parse_text(text)
        .map_err(|why| format!("--{flag}: '{text}' is not a duration ({why}); {DURATIONS}, {range}"))?;
    if (min..=max).contains(&d) {
        Ok(d)
    } else {
        Err(format!("--{flag} must be {range}; got '{text}' ({})", describe(d)))
    }
}

/// Option `--{flag}`'s value as a positive number of bytes.
fn bytes(flag: &str, text: &str) -> Result<i64, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "--{flag} must be a positive whole number of bytes, such as 1073741824; got '{text}'"
        )),
    }
}

/// `metrics,cpus`, also `metrics cpus` or `['metrics', 'cpus']`.
fn table_list(text: &str) -> Result<Vec<String>, String> {
    let t = text.trim();
    let t = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(t);
    let names: Vec<String> = t
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|n| n.trim_matches(|c| c == '\'' || c == '"'))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err(format!(
            "--tables needs at least one table name, such as metrics,cpus; accepted: {}",
            sysmon_tables::recorded::accepted_names()
        ));
    }
    Ok(names)
}

/// `--process-interval` for `process_interval`.
fn flag_of(name: &str) -> String {
    name.replace('_', "-")
}

/// The usage text: every named parameter of `record_metrics` as an option.
fn usage() -> String {
    let f = catalog::record_metrics();
    let mut opts = vec!["[--interval 1s]".to_string()];
    for p in f.named() {
        let value = match bounds(p.name) {
            Some(_) => "DURATION",
            None if p.name.ends_with("bytes") => "N",
            None if p.name == "tables" => "metrics,cpus,...",
            None => "TEXT",
        };
        opts.push(format!("[--{} {value}]", flag_of(p.name)));
    }
    format!(
        "usage: sysmon-record DESTINATION {}\n\
         DESTINATION: a directory, file:///path, or s3://bucket/prefix (credentials from the AWS environment).\n\
         DURATION: {DURATIONS}; --interval is 1s unless given.\n\
         The options are record_metrics's parameters (docs/recorder.md); --name=value works too.",
        opts.join(" ")
    )
}

fn parse(args: &[String]) -> Result<Request, String> {
    let mut req = Request {
        interval: Duration::from_secs(1),
        ship: ShipRequest::default(),
        ..Request::default()
    };
    let known: Vec<&'static str> = catalog::record_metrics()
        .params
        .iter()
        .filter(|p| p.name != "dir")
        .map(|p| p.name)
        .collect();
    let mut dest = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(opt) = a.strip_prefix("--") else {
            if dest.replace(a.clone()).is_some() {
                return Err(format!("one DESTINATION only; got a second: '{a}'"));
            }
            continue;
        };
        let (flag, inline) = match opt.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (opt, None),
        };
        let Some(name) = known.iter().copied().find(|n| flag_of(n) == flag) else {
            let flags: Vec<String> = known.iter().map(|n| format!("--{}", flag_of(n))).collect();
            return Err(format!("unknown option --{flag}; accepted: {}", flags.join(", ")));
        };
        let v = match inline {
            Some(v) => v,
            None => it.next().cloned().ok_or_else(|| format!("--{flag} needs a value"))?,
        };
        match name {
            "interval" => req.interval = duration(flag, name, &v)?,
            "tables" => req.tables = Some(table_list(&v)?),
            "process_interval" => req.process_interval = Some(duration(flag, name, &v)?),
            "flush_interval" => req.flush_interval = Some(duration(flag, name, &v)?),
            "publish_interval" => req.publish_interval = Some(duration(flag, name, &v)?),
            "retention" => req.retention = Some(duration(flag, name, &v)?),
            "max_bytes" => req.max_bytes = Some(bytes(flag, &v)?),
            "endpoint" => req.ship.endpoint = Some(v),
            "region" => req.ship.region = Some(v),
            "spool" => req.ship.spool = Some(v),
            "upload_interval" => req.ship.upload_interval = Some(duration(flag, name, &v)?),
            "spool_max_bytes" => req.ship.spool_max_bytes = Some(bytes(flag, &v)?),
            other => return Err(format!("--{flag}: record_metrics's {other} is not supported here yet")),
        }
    }
    req.dir = dest.ok_or("DESTINATION is missing")?;
    Ok(req)
}

/// Blocks the stop signals in this thread (and the threads it starts), so that `sigtimedwait`
/// receives them.
fn stop_signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset, which initialises it; the
    // set is then only passed to the libc functions that take it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn main() -> ExitCode {
    run(std::env::args().skip(1).collect())
}

/// The whole command, given its arguments: `sysmon record ARGS` runs this too.
pub fn run(args: Vec<String>) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", usage());
        return ExitCode::SUCCESS;
    }
    if args.is_empty() {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    }
    let req = match parse(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sysmon-record: {e}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let set = stop_signals();
    let process = process::process();
    let rec = match recorder::check(&process.live, &process.recorders, &req).and_then(|c| process.record(c)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sysmon-record: {e}");
            return ExitCode::from(2);
        }
    };
    let started = rec.started_row();
    println!(
        "sysmon-record: recorder {} recording {} into {} every {} s (tables: {})",
        started.id,
        started.destination,
        started.dir,
        started.interval_seconds,
        started.tables.join(", ")
    );
    let signal = loop {
        let timeout = libc::timespec { tv_sec: 1, tv_nsec: 0 };
        // SAFETY: `set` was initialised by stop_signals; a null siginfo is allowed.
        let s = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        if s > 0 {
            break s;
        }
        if rec.state() != State::Running {
            let row = rec.row();
            eprintln!(
                "sysmon-record: the recorder ended by itself ({}): {}",
                row.state,
                row.last_error.unwrap_or_default()
            );
            return ExitCode::from(1);
        }
    };
    let name = match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "SIGHUP",
    };
    println!("sysmon-record: {name}: stopping (final flush and upload)");
    match process.stop_recording(started.id) {
        Ok(row) => {
            println!("state={}", row.state);
            println!("destination={}", row.destination);
            println!("samples_taken={}", row.samples_taken);
            println!("rows_written={}", row.rows_written);
            println!("rows_dropped={}", row.rows_dropped);
            println!("files_written={}", row.files_written);
            let opt = |v: Option<u64>| v.map_or("NULL".to_string(), |v| v.to_string());
            println!("objects_uploaded={}", opt(row.objects_uploaded));
            println!("bytes_uploaded={}", opt(row.bytes_uploaded));
            println!("upload_backlog_bytes={}", opt(row.upload_backlog_bytes));
            println!("last_error={}", row.last_error.unwrap_or_else(|| "NULL".into()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sysmon-record: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(v: &[&str]) -> Result<Request, String> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn durations_in_every_spelling() {
        let s = Duration::from_secs;
        for (text, d) in [
            ("1s", s(1)),
            ("1 second", s(1)),
            ("'1 second'", s(1)),
            ("2 minutes", s(120)),
            ("1.5s", Duration::from_millis(1500)),
            ("500ms", Duration::from_millis(500)),
            ("1.5", Duration::from_millis(1500)),
            ("00:00:02", s(2)),
        ] {
            assert_eq!(a(&["/d", "--interval", text]).map(|r| r.interval), Ok(d), "{text}");
        }
        assert_eq!(
            a(&["/d", "--flush-interval=2 minutes"]).unwrap().flush_interval,
            Some(s(120))
        );
        assert_eq!(
            a(&["/d", "--retention", "30d"]).unwrap().retention,
            Some(s(30 * 86_400))
        );
        let e = a(&["/d", "--interval", "5x"]).unwrap_err();
        assert!(
            e.contains("--interval: '5x' is not a duration") && e.contains("500ms"),
            "{e}"
        );
        let e = a(&["/d", "--interval", "5ms"]).unwrap_err();
        assert_eq!(e, "--interval must be from 10 ms to 1 day; got '5ms' (5 ms)");
        let e = a(&["/d", "--retention", "1 month"]).unwrap_err();
        assert!(e.contains("no fixed length"), "{e}");
        let e = a(&["/d", "--upload-interval", "-1s"]).unwrap_err();
        assert!(e.contains("negative"), "{e}");
    }

    #[test]
    fn every_record_metrics_parameter_is_an_option() {
        for p in catalog::record_metrics().params.iter().filter(|p| p.name != "dir") {
            let value = match bounds(p.name) {
                Some((min, _)) => describe(min).replace(' ', ""),
                None if p.name.ends_with("bytes") => "1000".into(),
                None => "metrics".into(),
            };
            let flag = format!("--{}", flag_of(p.name));
            let r = a(&["/d", &flag, &value]);
            assert!(r.is_ok(), "{flag} {value}: {r:?}");
            assert!(usage().contains(&flag), "{flag} is in the usage");
        }
    }

    #[test]
    fn arguments() {
        let r = a(&[
            "s3://b/p",
            "--interval",
            "2s",
            "--tables",
            "metrics,cpus",
            "--upload-interval",
            "1m",
            "--publish-interval",
            "'30 seconds'",
            "--flush-interval",
            "400ms",
            "--spool-max-bytes",
            "1048576",
        ])
        .unwrap();
        assert_eq!(r.dir, "s3://b/p");
        assert_eq!(r.interval, Duration::from_secs(2));
        assert_eq!(r.tables, Some(vec!["metrics".to_string(), "cpus".to_string()]));
        assert_eq!(r.ship.upload_interval, Some(Duration::from_secs(60)));
        assert_eq!(r.publish_interval, Some(Duration::from_secs(30)));
        assert_eq!(r.flush_interval, Some(Duration::from_millis(400)));
        assert_eq!(r.ship.spool_max_bytes, Some(1_048_576));
        assert_eq!(a(&["/d"]).unwrap().interval, Duration::from_secs(1), "1 s unless given");
        assert_eq!(
            a(&["/d", "--tables", "['metrics', 'cpus']"]).unwrap().tables,
            Some(vec!["metrics".to_string(), "cpus".to_string()])
        );
        assert!(a(&[]).unwrap_err().contains("DESTINATION"));
        let e = a(&["/d", "--bogus", "1"]).unwrap_err();
        assert!(
            e.contains("unknown option --bogus; accepted: --interval, --tables"),
            "{e}"
        );
        assert!(e.contains("--publish-interval"), "{e}");
        assert!(
            a(&["/d", "--interval"])
                .unwrap_err()
                .contains("--interval needs a value")
        );
        assert!(a(&["/d", "/e"]).unwrap_err().contains("one DESTINATION"));
        let e = a(&["/d", "--max-bytes", "x"]).unwrap_err();
        assert!(
            e.contains("--max-bytes must be a positive whole number of bytes"),
            "{e}"
        );
        assert!(a(&["/d", "--max-bytes", "0"]).is_err());
        assert!(a(&["/d", "--tables", ","]).unwrap_err().contains("accepted: metrics"));
    }
}
