//! `sysmon`: one command for the host side of sysmon, no DuckDB at run time.
//!
//! ```text
//! sysmon top [--interval 1s] [--replay LOCATION [--at TIME] [--host HOST]]
//! sysmon record DESTINATION [options of sysmon-record]
//! ```
//!
//! `sysmon record` is `sysmon-record` (the same code: its file is this binary's `record`
//! module, so both take the same options); `sysmon top` is `sysmon_view::top`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, Command};

// The recorder service's own source, compiled into this binary too: `sysmon record ARGS` runs
// its `run(ARGS)`, as `sysmon-record ARGS` does. Its `main` is that binary's.
#[allow(dead_code)]
#[path = "../../../core/src/bin/sysmon-record.rs"]
mod record;

fn command() -> Command {
    Command::new("sysmon")
        .about("sysmon on the command line: a live terminal view of the host, and the recorder as a service")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("top")
                .about("Full-screen view of the host (live), or of a recording at a time (--replay)")
                .arg(
                    Arg::new("interval")
                        .long("interval")
                        .short('d')
                        .value_name("DURATION")
                        .default_value("1s")
                        .help("Refresh every DURATION (live): 1s, 500ms, 2s"),
                )
                .arg(
                    Arg::new("replay")
                        .long("replay")
                        .value_name("LOCATION")
                        .help("Replay a recording: a folder, file:///path or s3://bucket/prefix"),
                )
                .arg(
                    Arg::new("at")
                        .long("at")
                        .value_name("TIME")
                        .allow_hyphen_values(true)
                        .requires("replay")
                        .help("Start at TIME in the local zone (TZ): '2026-12-06 03:12', or with Z or +01:00 for another zone, or -5m; default the newest sample"),
                )
                .arg(
                    Arg::new("host")
                        .long("host")
                        .value_name("HOST")
                        .requires("replay")
                        .help("The host of a recording that holds several"),
                )
                .arg(
                    Arg::new("read-only")
                        .long("read-only")
                        .action(clap::ArgAction::SetTrue)
                        .help("No key sends a signal (k is refused), as htop's --readonly"),
                )
                .arg(Arg::new("endpoint").long("endpoint").value_name("URL").requires("replay").help("S3 endpoint of an s3:// recording"))
                .arg(Arg::new("region").long("region").value_name("REGION").requires("replay").help("S3 region of an s3:// recording")),
        )
        .subcommand(
            Command::new("record")
                .about("Record the host into a folder or a bucket until stopped (the options of sysmon-record; `sysmon record --help`)")
                .disable_help_flag(true)
                .arg(
                    Arg::new("args")
                        .num_args(0..)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true)
                        .action(ArgAction::Append),
                ),
        )
}

/// `--interval`: as `d` takes it in the view (`1s`, `500ms`, `2m`; 100ms to a day).
fn interval(text: &str) -> Result<Duration, String> {
    sysmon_view::data::parse_interval(text).map_err(|e| format!("--interval {e}"))
}

fn main() -> ExitCode {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match matches.subcommand() {
        Some(("record", m)) => {
            let args: Vec<String> = m.get_many::<String>("args").into_iter().flatten().cloned().collect();
            record::run(args)
        }
        Some(("top", m)) => {
            let s = |k: &str| m.get_one::<String>(k).cloned();
            let interval = match interval(&s("interval").unwrap_or_default()) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("sysmon top: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = sysmon_view::TopOptions {
                interval,
                replay: s("replay"),
                at: s("at"),
                host: s("host"),
                endpoint: s("endpoint"),
                region: s("region"),
                read_only: m.get_flag("read-only"),
            };
            match sysmon_view::top(&opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sysmon top: {}", e.message);
                    ExitCode::from(e.code)
                }
            }
        }
        _ => ExitCode::from(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        command().debug_assert();
        assert_eq!(interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(interval("2s"), Ok(Duration::from_secs(2)));
        assert!(
            interval("10ms")
                .unwrap_err()
                .starts_with("--interval '10ms': the interval is at least 100ms")
        );
        assert!(
            interval("100000000000000000000s")
                .unwrap_err()
                .contains("at most a day")
        );
        let m = command()
            .try_get_matches_from(["sysmon", "record", "/d", "--interval", "200ms"])
            .unwrap();
        let (_, r) = m.subcommand().unwrap();
        let args: Vec<&String> = r.get_many::<String>("args").unwrap().collect();
        assert_eq!(args, ["/d", "--interval", "200ms"]);
        assert!(
            command()
                .try_get_matches_from(["sysmon", "top", "--at", "-5m"])
                .is_err(),
            "--at needs --replay"
        );
    }
}
