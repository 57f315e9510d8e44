//! `report_metrics(dir, path, ...)`: one self-contained HTML file of the dashboard's history
//! charts over a recorded range. uPlot, the page's code and the downsampled data are inlined;
//! a Content-Security-Policy of `default-src 'none'` keeps the browser from fetching anything.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::bucket::Bucket;
use super::history::{self, CHART_TABLES, Request};
use super::{assets, json};
use sysmon_store::layout::{MICROS_PER_DAY, civil_from_days};
use sysmon_store::s3::S3Location;
use sysmon_tables::schema::Timestamp;

/// Points per chart: about a wide screen's pixels.
pub const REPORT_WIDTH: usize = 1200;
/// The range when `since` is left out: the day before `until`, or less when the host's first
/// recorded row is later (a recording younger than a day is charted whole, not as a sliver).
pub const DEFAULT_SPAN_US: i64 = MICROS_PER_DAY;

sysmon_tables::declare_table! {
    /// The one row `report_metrics` returns: the file it wrote.
    pub struct ReportRow => "report_metrics" {
        /// The HTML file written (absolute).
        path: String [""],
        /// The host whose recording it charts.
        host: String [""],
        /// Rows read from the recording's Parquet files.
        rows_read: u64 [""],
        /// Start of the charted range (inclusive).
        since: Timestamp [""],
        /// End of the charted range (exclusive).
        until: Timestamp [""],
        /// `until` − `since`.
        span_seconds: f64 ["seconds"],
        /// Size of the file written.
        bytes_written: u64 ["bytes"],
    }
}

/// Where the recording is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recording {
    /// A directory `record_metrics` writes (absolute).
    Local(PathBuf),
    /// A bucket `record_metrics('s3://...')` uploads to.
    Bucket(S3Location),
}

/// What to report.
#[derive(Clone, Debug)]
pub struct ReportRequest {
    pub dir: Recording,
    pub path: PathBuf,
    /// Microseconds since the epoch; `None`: [`DEFAULT_SPAN_US`] before `until`, or the host's
    /// first recorded row when that is later.
    pub since_us: Option<i64>,
    /// `None`: just after the host's newest recorded row.
    pub until_us: Option<i64>,
    /// `None`: the only host of the recording.
    pub host: Option<String>,
}

/// `2026-11-26 09:00:00 UTC`.
pub fn utc_text(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Writes the report; the error says what was wrong. A bucket is read on a `current_thread`
/// runtime of the calling thread (`report_metrics`'s first scan).
pub fn write(req: &ReportRequest) -> Result<ReportRow, String> {
    match &req.dir {
        Recording::Local(dir) => {
            match fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(format!("dir '{}' is not a directory", dir.display())),
                Err(e) => return Err(format!("dir '{}' cannot be read: {e}", dir.display())),
            }
            let hosts =
                history::hosts(dir).map_err(|e| format!("cannot list the hosts under '{}': {e}", dir.display()))?;
            write_from(req, &dir.display().to_string(), &hosts, |r| history::read(dir, r))
        }
        Recording::Bucket(loc) => {
            let bucket = Bucket::new(loc.clone())?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime to read {}: {e}", loc.shown))?;
            let hosts = rt.block_on(bucket.check())?;
            write_from(req, &loc.shown, &hosts, |r| rt.block_on(bucket.read(r)))
        }
    }
}

/// The report of `hosts` (of the recording shown as `dir`), reading each table with `read`.
fn write_from(
    req: &ReportRequest,
    dir: &str,
    hosts: &[history::Host],
    mut read: impl FnMut(&Request) -> Result<history::History, history::Error>,
) -> Result<ReportRow, String> {
    let names = || hosts.iter().map(|h| h.host.as_str()).collect::<Vec<_>>().join(", ");
    if hosts.is_empty() {
        return Err(format!(
            "'{}' holds no recording (no <table>/host=<name>/ folder of a table record_metrics writes)",
            dir
        ));
    }
    let host = match &req.host {
        Some(h) => {
            history::check_host(h)?;
            hosts
                .iter()
                .find(|x| x.host == *h)
                .ok_or_else(|| format!("no recording of host '{h}' under '{}'; hosts found: {}", dir, names()))?
        }
        None if hosts.len() == 1 => &hosts[0],
        None => {
            return Err(format!(
                "'{}' holds the recordings of several hosts ({}): choose one with host := '...'",
                dir,
                names()
            ));
        }
    };
    let until_us = req
        .until_us
        .or(host.last_us.map(|l| l + 1))
        .ok_or_else(|| format!("host '{}' has no recorded file under '{}'", host.host, dir))?;
    let since_us = req.since_us.unwrap_or_else(|| {
        let day_before = until_us - DEFAULT_SPAN_US;
        host.first_us
            .filter(|&f| f > day_before && f < until_us)
            .unwrap_or(day_before)
    });
    if since_us >= until_us {
        return Err(format!(
            "since ({}) must be before until ({})",
            utc_text(since_us),
            utc_text(until_us)
        ));
    }
    // Whole milliseconds that cover [since, until).
    let from_ms = since_us.div_euclid(1000);
    let to_ms = (until_us + 999).div_euclid(1000);
    if to_ms - from_ms > history::MAX_RANGE_MS {
        return Err("the range from since to until is longer than 400 days".into());
    }
    let mut tables = String::from("{");
    let mut rows_read = 0u64;
    let mut first = true;
    for t in CHART_TABLES {
        if !host.tables.contains(&t.name) {
            continue;
        }
        let r = Request {
            table: t,
            host: host.host.clone(),
            from_ms,
            to_ms,
            width: REPORT_WIDTH,
        };
        let h = read(&r).map_err(|e| e.to_string())?;
        rows_read += h.rows_read;
        if h.t_us.is_empty() {
            continue;
        }
        json::key(&mut tables, first, t.name);
        tables.push_str(&h.to_json());
        first = false;
    }
    tables.push('}');
    if first {
        let covers = match (host.first_us, host.last_us) {
            (Some(a), Some(b)) => format!(" (its recording covers {} to {})", utc_text(a), utc_text(b)),
            _ => String::new(),
        };
        return Err(format!(
            "no rows of host '{}' from {} to {} under '{}'{covers}",
            host.host,
            utc_text(since_us),
            utc_text(until_us),
            dir
        ));
    }
    let mut data = String::from("{");
    json::key(&mut data, true, "host");
    json::string(&mut data, &host.host);
    json::key(&mut data, false, "since_ms");
    json::number(&mut data, since_us as f64 / 1000.0);
    json::key(&mut data, false, "until_ms");
    json::number(&mut data, until_us as f64 / 1000.0);
    json::key(&mut data, false, "rows_read");
    json::number(&mut data, rows_read as f64);
    json::key(&mut data, false, "width");
    json::number(&mut data, REPORT_WIDTH as f64);
    json::key(&mut data, false, "tables");
    data.push_str(&tables);
    data.push('}');
    let html = page(&host.host, &data);
    let bytes = write_file(&req.path, html.as_bytes())
        .map_err(|e| format!("cannot write the report to '{}': {e}", req.path.display()))?;
    Ok(ReportRow {
        path: req.path.to_string_lossy().into_owned(),
        host: host.host.clone(),
        rows_read,
        since: Timestamp::from_micros(since_us),
        until: Timestamp::from_micros(until_us),
        span_seconds: (until_us - since_us) as f64 / 1e6,
        bytes_written: bytes,
    })
}

/// The report page: the dashboard's history part, everything inline.
pub fn page(host: &str, data_json: &str) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut title = String::new();
    for c in host.chars() {
        match c {
            '<' => title.push_str("&lt;"),
            '&' => title.push_str("&amp;"),
            c => title.push(c),
        }
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>sysmon report: {title}</title>\n<link rel=\"icon\" href=\"data:,\">\n\
         <style>\n{}\n{}\n</style>\n</head>\n<body>\n\
         <header><h1>sysmon report <span id=\"host\"></span></h1><span id=\"status\"></span></header>\n\
         <section id=\"history\"><div class=\"charts\" id=\"history-charts\"></div></section>\n\
         <footer><small>Charts drawn with uPlot (MIT License, Leon Sorokin), inlined.</small></footer>\n\
         <script>\n{}\n</script>\n<script>window.SYSMON_REPORT = {data_json};</script>\n<script>\n{}\n</script>\n\
         </body>\n</html>\n",
        text(assets::UPLOT_CSS),
        text(assets::SYSMON_CSS),
        text(assets::UPLOT_JS),
        text(assets::SYSMON_JS),
    )
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a report. Returns the size written.
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<u64> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"))?;
    let temp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&temp, path)?;
        Ok(bytes.len() as u64)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysmon_testkit::fixture;

    #[test]
    fn writes_a_self_contained_report_and_refuses_clearly() {
        let dir = fixture::tempdir("report");
        let day = 20_000 * MICROS_PER_DAY;
        for (t, n) in [
            ("metrics", 1),
            ("cpus", 2),
            ("disks", 2),
            ("networks", 1),
            ("pressure", 3),
        ] {
            fixture::write_day(&dir, "web-1", t, day, 3600, 1_000_000, n).unwrap();
        }
        let out = dir.join("report.html");
        let req = ReportRequest {
            dir: Recording::Local(dir.clone()),
            path: out.clone(),
            since_us: None,
            until_us: None,
            host: None,
        };
        let row = write(&req).unwrap();
        assert_eq!(row.host, "web-1");
        assert_eq!(row.rows_read, 3600 * (1 + 2 + 2 + 1 + 3));
        assert_eq!(row.until.micros, day + 3_599_000_001);
        // An hour of recording is charted whole: from its first row, not a day before `until`.
        assert_eq!(row.since.micros, day);
        assert_eq!(row.span_seconds, 3_599.000_001);
        let html = fs::read_to_string(&out).unwrap();
        assert_eq!(row.bytes_written, html.len() as u64);
        assert!(html.contains("window.SYSMON_REPORT = {\"host\":\"web-1\""));
        assert!(html.contains("default-src 'none'"));
        assert_eq!(html.matches("</script>").count(), 3, "no script closes early");
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
        for t in ["metrics", "cpus", "disks", "networks", "pressure"] {
            assert!(html.contains(&format!("\"{t}\":{{\"table\":\"{t}\"")), "{t}");
        }

        let err = |r: ReportRequest| write(&r).unwrap_err();
        let missing = dir.join("nope");
        assert!(
            err(ReportRequest {
                dir: Recording::Local(missing.clone()),
                ..req.clone()
            })
            .starts_with(&format!("dir '{}' cannot be read", missing.display()))
        );
        assert!(
            err(ReportRequest {
                dir: Recording::Local(out.clone()),
                ..req.clone()
            })
            .ends_with("is not a directory")
        );
        let empty = fixture::tempdir("report-empty");
        assert!(
            err(ReportRequest {
                dir: Recording::Local(empty.clone()),
                ..req.clone()
            })
            .contains("holds no recording")
        );
        assert_eq!(
            err(ReportRequest {
                host: Some("db-9".into()),
                ..req.clone()
            }),
            format!(
                "no recording of host 'db-9' under '{}'; hosts found: web-1",
                dir.display()
            )
        );
        let e = err(ReportRequest {
            since_us: Some(day + 2 * MICROS_PER_DAY),
            until_us: Some(day + 3 * MICROS_PER_DAY),
            ..req.clone()
        });
        assert!(
            e.starts_with("no rows of host 'web-1' from 1970-01-01")
                || e.starts_with("no rows of host 'web-1' from 2024-10-"),
            "{e}"
        );
        assert!(
            e.contains("its recording covers 2024-10-04 00:00:00 UTC to 2024-10-04 00:59:59 UTC"),
            "{e}"
        );
        let e = err(ReportRequest {
            since_us: Some(day + 10),
            until_us: Some(day),
            ..req.clone()
        });
        assert!(
            e.starts_with("since (2024-10-04 00:00:00 UTC) must be before until"),
            "{e}"
        );
        let e = err(ReportRequest {
            path: dir.join("no/such/folder/r.html"),
            ..req.clone()
        });
        assert!(e.starts_with("cannot write the report to"), "{e}");
        fixture::write_day(&dir, "db-2", "metrics", day, 60, 1_000_000, 1).unwrap();
        assert!(err(req.clone()).contains("several hosts (db-2, web-1): choose one with host := '...'"));
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(&empty);
    }

    #[test]
    fn utc_texts() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc_text(20_000 * MICROS_PER_DAY + 3_661_000_000),
            "2024-10-04 01:01:01 UTC"
        );
    }
}
