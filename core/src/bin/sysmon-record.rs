//! `sysmon-record`: the recorder as a service, one binary, no DuckDB and no Python on the host.
//!
//! Same parameters as `record_metrics` (see `docs/recorder.md`, "Running it as a service"):
//!
//! ```text
//! sysmon-record DESTINATION [--interval 1s] [--tables metrics,cpus] [--process-interval 1m]
//!     [--flush-interval 10s] [--retention 30d] [--max-bytes N]
//!     [--endpoint URL] [--region R] [--spool DIR] [--upload-interval 5m] [--spool-max-bytes N]
//! ```
//!
//! It starts the recorder and waits; on SIGTERM, SIGINT or SIGHUP it stops it (final flush and,
//! for `s3://`, final upload, bounded by the stop timeouts), prints the final row as
//! `key=value` lines and exits 0. A start error is printed and exits 2; a recorder that ended
//! by itself (failed) exits 1.

use std::process::ExitCode;
use std::time::Duration;

use sysmon_core::process;
use sysmon_recorder::{self as recorder, Request, ShipRequest, State};

/// `1s`, `500ms`, `5m`, `2h`, `30d`, also with a space and long units (`1 second`, `5 minutes`).
fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 1s, 500ms, 5m, 2h or 30d"))?;
    let secs = match unit.trim().trim_end_matches('s') {
        "m" if unit.trim() == "ms" => 0.001,
        "" if unit.trim() == "s" => 1.0,
        "millisecond" => 0.001,
        "second" | "sec" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        "d" | "day" => 86_400.0,
        _ => return Err(format!("'{text}' is not a duration such as 1s, 500ms, 5m, 2h or 30d")),
    };
    Duration::try_from_secs_f64(n * secs).map_err(|_| format!("'{text}' is out of range"))
}

const USAGE: &str = "usage: sysmon-record DESTINATION [--interval 1s] [--tables metrics,cpus] [--process-interval D] [--flush-interval D] [--retention D] [--max-bytes N] [--endpoint URL] [--region R] [--spool DIR] [--upload-interval D] [--spool-max-bytes N]
DESTINATION: a directory, file:///path, or s3://bucket/prefix (credentials from the AWS environment).";

fn parse(args: &[String]) -> Result<Request, String> {
    let mut req = Request {
        interval: Duration::from_secs(1),
        ship: ShipRequest::default(),
        ..Request::default()
    };
    let mut dest = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if !a.starts_with("--") {
            if dest.replace(a.clone()).is_some() {
                return Err(format!("one DESTINATION only; got a second: '{a}'"));
            }
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let int = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| format!("{a}: '{v}' is not a number of bytes"))
        };
        match a.as_str() {
            "--interval" => req.interval = duration(v)?,
            "--tables" => req.tables = Some(v.split(',').map(|s| s.trim().to_string()).collect()),
            "--process-interval" => req.process_interval = Some(duration(v)?),
            "--flush-interval" => req.flush_interval = Some(duration(v)?),
            "--retention" => req.retention = Some(duration(v)?),
            "--max-bytes" => req.max_bytes = Some(int(v)?),
            "--endpoint" => req.ship.endpoint = Some(v.clone()),
            "--region" => req.ship.region = Some(v.clone()),
            "--spool" => req.ship.spool = Some(v.clone()),
            "--upload-interval" => req.ship.upload_interval = Some(duration(v)?),
            "--spool-max-bytes" => req.ship.spool_max_bytes = Some(int(v)?),
            _ => return Err(format!("unknown option {a}")),
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
    if args.is_empty() || args.iter().any(|a| a == "--help" || a == "-h") {
        eprintln!("{USAGE}");
        return ExitCode::from(if args.is_empty() { 2 } else { 0 });
    }
    let req = match parse(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sysmon-record: {e}\n{USAGE}");
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

    #[test]
    fn durations() {
        assert_eq!(duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("5 minutes"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(duration("1 second"), Ok(Duration::from_secs(1)));
        assert_eq!(duration("0.5s"), Ok(Duration::from_millis(500)));
        assert!(duration("5x").is_err());
        assert!(duration("s").is_err());
    }

    #[test]
    fn arguments() {
        let a = |v: &[&str]| parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let r = a(&[
            "s3://b/p",
            "--interval",
            "2s",
            "--tables",
            "metrics,cpus",
            "--upload-interval",
            "1m",
        ])
        .unwrap();
        assert_eq!(r.dir, "s3://b/p");
        assert_eq!(r.interval, Duration::from_secs(2));
        assert_eq!(r.tables, Some(vec!["metrics".to_string(), "cpus".to_string()]));
        assert_eq!(r.ship.upload_interval, Some(Duration::from_secs(60)));
        assert!(a(&[]).unwrap_err().contains("DESTINATION"));
        assert!(a(&["/d", "--bogus", "1"]).unwrap_err().contains("unknown option"));
        assert!(a(&["/d", "--interval"]).unwrap_err().contains("needs a value"));
        assert!(a(&["/d", "/e"]).unwrap_err().contains("one DESTINATION"));
        assert!(a(&["/d", "--max-bytes", "x"]).unwrap_err().contains("not a number"));
    }
}
