//! The catalog: every SQL function sysmon registers, described once.
//!
//! A [`Function`] is a function's name, one-line summary, parameters (names, types, defaults,
//! meaning), an example query, what it reads, and the declaration of the rows it returns. A live
//! table's comes from its [`Table`] impl ([`table_function`]: parameters from its input and
//! options, summary, example and host paths from its consts), the recorder's and the catalog's
//! own functions are written out below. The same list drives
//!
//! * the DuckDB registration of every function's parameters (`src/functions/`),
//! * `sysmon_functions()` ([`function_rows`]) and `sysmon_columns()` ([`column_rows`]),
//! * the README's function list ([`markdown_functions`]) and docs/reference.md's column reference,
//!
//! so what a user reads cannot drift from what DuckDB accepts.

use std::fmt::Write as _;

use sysmon_kernel::interval::describe;
use sysmon_recorder::{
    self as recorder, FLUSH_DEFAULT, FLUSH_MAX, FLUSH_MIN, INTERVAL_MAX, INTERVAL_MIN, PROCESS_DEFAULT,
    PUBLISH_DEFAULT, PUBLISH_MAX,
};
use sysmon_tables as tables;
pub use sysmon_tables::function::{Function, Param, ParamType, table_function};
use sysmon_tables::schema::Row;

/// `record_metrics(dir, interval, ...)`.
pub fn record_metrics() -> Function {
    let quoted = |names: Vec<&str>| {
        let items: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        format!("[{}]", items.join(", "))
    };
    use sysmon_tables::schema::ByDefault;
    let always = sysmon_tables::recorded::all()
        .filter(|t| matches!(t.by_default, ByDefault::Always))
        .map(|t| t.name)
        .collect();
    let where_present: Vec<&str> = sysmon_tables::recorded::all()
        .filter(|t| matches!(t.by_default, ByDefault::If(_)))
        .map(|t| t.name)
        .collect();
    let defaults = match where_present.is_empty() {
        true => quoted(always),
        false => format!("{}, and {} where present", quoted(always), quoted(where_present)),
    };
    Function {
        name: "record_metrics",
        summary: "Starts a background recorder that writes the tables' history as hive-partitioned Parquet; one row: the recorder.",
        params: vec![
            Param::positional(
                "dir",
                ParamType::Varchar,
                "The directory to write into, created if missing (a relative one is resolved against the working directory; file://<path> is accepted), or s3://<bucket>[/<prefix>] to record into an S3 bucket through a local spool.".into(),
            ),
            Param::positional(
                "interval",
                ParamType::Interval,
                format!(
                    "How often the host tables are sampled, {} to {}.",
                    describe(INTERVAL_MIN),
                    describe(INTERVAL_MAX)
                ),
            ),
            Param::named(
                "tables",
                ParamType::VarcharList,
                defaults,
                format!(
                    "The tables to record, by name without `system_`; accepted: {}.",
                    sysmon_tables::recorded::accepted_names()
                ),
            ),
            Param::named(
                "process_interval",
                ParamType::Interval,
                format!("max(interval, {})", describe(PROCESS_DEFAULT)),
                format!(
                    "How often the per-process tables (processes, cgroups, filesystems, sockets, users) are sampled, {} to {}.",
                    describe(INTERVAL_MIN),
                    describe(INTERVAL_MAX)
                ),
            ),
            Param::named(
                "flush_interval",
                ParamType::Interval,
                describe(FLUSH_DEFAULT),
                format!(
                    "How long rows wait in memory before they are written (what a crash can lose), {} to {}.",
                    describe(FLUSH_MIN),
                    describe(FLUSH_MAX)
                ),
            ),
            Param::named(
                "publish_interval",
                ParamType::Interval,
                format!(
                    "max(flush_interval, {}; for s3://, min({0}, upload_interval))",
                    describe(PUBLISH_DEFAULT)
                ),
                format!(
                    "How often the flushed rows (kept in a hidden write-ahead log) become visible Parquet files, and at stop; at least flush_interval, at most {}.",
                    describe(PUBLISH_MAX)
                ),
            ),
            Param::named(
                "retention",
                ParamType::Interval,
                "none: no file is deleted for its age".into(),
                format!(
                    "Delete this host's files whose newest row is older than this, at least {}.",
                    describe(recorder::RETENTION_MIN)
                ),
            ),
            Param::named(
                "max_bytes",
                ParamType::BigInt,
                "none: no size limit".into(),
                "Keep at most this many bytes of this host's files, deleting the oldest first; positive.".into(),
            ),
            endpoint_param("s3://"),
            region_param("s3://"),
            Param::named(
                "spool",
                ParamType::Varchar,
                "$XDG_CACHE_HOME (else ~/.cache)/sysmon/spool/<hash of the destination>".into(),
                "s3:// only: the local folder rows are written to before they are uploaded.".into(),
            ),
            Param::named(
                "upload_interval",
                ParamType::Interval,
                describe(recorder::UPLOAD_INTERVAL_DEFAULT),
                format!(
                    "s3:// only: how often the spool is uploaded (one object per table each time), {} to {}.",
                    describe(recorder::UPLOAD_INTERVAL_MIN),
                    describe(recorder::UPLOAD_INTERVAL_MAX)
                ),
            ),
            Param::named(
                "spool_max_bytes",
                ParamType::BigInt,
                format!("{} (1 GiB)", recorder::SPOOL_MAX_BYTES_DEFAULT),
                "s3:// only: the most the spool holds while the store is unreachable; the oldest rows beyond it are dropped and counted in rows_dropped.".into(),
            ),
        ],
        example: "SELECT id, dir, tables FROM record_metrics('sysmon-history', INTERVAL 1 SECOND)",
        reads: tables::ALL
            .iter()
            .filter(|t| t.decl.recorded.is_some())
            .map(|t| t.decl.function)
            .collect(),
        decl: recorder::StartedRow::TABLE,
    }
}

/// `recordings()`.
pub fn recordings() -> Function {
    Function {
        name: "recordings",
        summary: "One row per recorder started in this process, running or stopped, with its counters and last error.",
        params: Vec::new(),
        example: "SELECT id, dir, state, rows_written, last_error FROM recordings()",
        reads: Vec::new(),
        decl: recorder::RecordingRow::TABLE,
    }
}

/// `stop_recording(id)`.
pub fn stop_recording() -> Function {
    Function {
        name: "stop_recording",
        summary: "Flushes what a recorder buffers, stops it, and returns its final recordings() row.",
        params: vec![Param::positional(
            "id",
            ParamType::BigInt,
            "The id of a running recorder (from record_metrics or recordings()).".into(),
        )],
        example: "SELECT id, state, rows_written FROM stop_recording(1)",
        reads: Vec::new(),
        decl: recorder::RecordingRow::TABLE,
    }
}

/// `report_metrics(dir, path, ...)`.
pub fn report_metrics() -> Function {
    Function {
        name: "report_metrics",
        summary: "Writes one self-contained HTML file of charts over a recording's history (opens offline); one row: the file.",
        params: vec![
            Param::positional(
                "dir",
                ParamType::Varchar,
                "A directory record_metrics wrote, or the s3://<bucket>[/<prefix>] it uploads to (credentials from the AWS environment variables).".into(),
            ),
            Param::positional(
                "path",
                ParamType::Varchar,
                "The HTML file to write (replaced if it exists; its folder must exist).".into(),
            ),
            Param::named(
                "since",
                ParamType::TimestampTz,
                "one day before until, or the host's first recorded row when that is later".into(),
                "Start of the charted range (inclusive).".into(),
            ),
            Param::named(
                "until",
                ParamType::TimestampTz,
                "just after the host's newest recorded row".into(),
                "End of the charted range (exclusive).".into(),
            ),
            Param::named(
                "host",
                ParamType::Varchar,
                "the recording's only host".into(),
                "The host to chart, as recorded in host=<name> folders.".into(),
            ),
            endpoint_param("s3:// dir"),
            region_param("s3:// dir"),
        ],
        example: "SELECT path, host, rows_read, bytes_written FROM report_metrics('sysmon-history', 'sysmon-report.html')",
        reads: Vec::new(),
        decl: sysmon_serve::view::report::ReportRow::TABLE,
    }
}

/// `read_recording(location, table, ...)`.
pub fn read_recording() -> Function {
    Function {
        name: "read_recording",
        summary: "A recorded table's rows from recording folders and s3:// prefixes: published files, the not yet published write-ahead log and, in the recording process, the recorder's buffer, every row once; the table's columns, then host and date.",
        params: vec![
            Param::positional(
                "location",
                ParamType::Any,
                "A directory record_metrics wrote, or the s3://<bucket>[/<prefix>] it uploads to; or a VARCHAR[] of several, read together.".into(),
            ),
            Param::positional(
                "table",
                ParamType::Varchar,
                format!(
                    "The recorded table: {} (or its function's name, such as 'system_metrics').",
                    tables::recorded::accepted_names()
                ),
            ),
            Param::named(
                "since",
                ParamType::TimestampTz,
                "the first recorded row".into(),
                "Only rows at or after this ts; partitions, files and row groups before it are not read.".into(),
            ),
            Param::named(
                "until",
                ParamType::TimestampTz,
                "the newest row".into(),
                "Only rows before this ts (exclusive).".into(),
            ),
            Param::named(
                "host",
                ParamType::Varchar,
                "every host".into(),
                "Only this host's rows, as recorded in host=<name> folders.".into(),
            ),
            endpoint_param("s3:// location"),
            region_param("s3:// location"),
        ],
        example: "SELECT date_trunc('minute', ts) AS minute, avg(cpu_busy_pct) FROM read_recording('sysmon-history', 'metrics') GROUP BY minute ORDER BY minute",
        reads: Vec::new(),
        decl: RecordingPartition::TABLE,
    }
}

sysmon_tables::declare_table! {
    /// The columns `read_recording` adds after the recorded table's own (which are those of the
    /// table's function, as `sysmon_columns()` lists them): where each row was recorded, as the
    /// hive layout names it.
    pub struct RecordingPartition => "read_recording" {
        /// The host whose recorder wrote the row, as its folder names it (`host=<name>`).
        host: String [""],
        /// The row's UTC day, as its folder names it (`date=<YYYY-MM-DD>`).
        date: sysmon_tables::schema::Date [""],
    }
}

/// `endpoint`, as record_metrics, serve_metrics and report_metrics take it; `scope` says when it
/// applies (`s3://`, `s3:// dir`).
fn endpoint_param(scope: &str) -> Param {
    Param::named(
        "endpoint",
        ParamType::Varchar,
        "AWS_ENDPOINT_URL, else AWS".into(),
        format!("{scope} only: the S3-compatible endpoint URL (MinIO, Ceph, R2); http:// allows plain HTTP."),
    )
}

/// `region`, as record_metrics, serve_metrics and report_metrics take it.
fn region_param(scope: &str) -> Param {
    Param::named(
        "region",
        ParamType::Varchar,
        "AWS_REGION, else us-east-1".into(),
        format!("{scope} only: the bucket's region."),
    )
}

/// `serve_metrics(port := ..., bind := ..., dir := ..., token_file := ...)`.
pub fn serve_metrics() -> Function {
    use sysmon_serve::{DEFAULT_BIND, DEFAULT_PORT};
    Function {
        name: "serve_metrics",
        summary: "Starts an HTTP server (Prometheus /metrics and the dashboard) on a thread of the process; one row: the server and its url with the access token.",
        params: vec![
            Param::named(
                "port",
                ParamType::BigInt,
                DEFAULT_PORT.to_string(),
                "The TCP port to listen on, 1 to 65535, or 0 for any free port (the url says which).".into(),
            ),
            Param::named(
                "bind",
                ParamType::Varchar,
                format!("'{DEFAULT_BIND}'"),
                "The IP address to listen on; '0.0.0.0' or '::' listen on every interface.".into(),
            ),
            Param::named(
                "dir",
                ParamType::Varchar,
                "none: live values only".into(),
                "A directory record_metrics writes (or wrote), or the s3://<bucket>[/<prefix>] it uploads to: the dashboard's history reads it.".into(),
            ),
            endpoint_param("s3:// dir"),
            region_param("s3:// dir"),
            Param::named(
                "token_file",
                ParamType::Varchar,
                "none: a new token at each start".into(),
                "A file that keeps the token across restarts (for Prometheus' credentials_file): read when it exists (a regular file, mode 0600 or 0400, not a symlink), else created with mode 0600.".into(),
            ),
        ],
        example: "SELECT id, port, url FROM serve_metrics(port := 0)",
        reads: vec!["/proc", "/sys"],
        decl: sysmon_serve::ServeStartedRow::TABLE,
    }
}

/// `servers()`.
pub fn servers() -> Function {
    Function {
        name: "servers",
        summary: "One row per HTTP server started in this process, running or stopped, with its request counters and last error.",
        params: Vec::new(),
        example: "SELECT id, url, state, requests_served, last_error FROM servers()",
        reads: Vec::new(),
        decl: sysmon_serve::ServerRow::TABLE,
    }
}

/// `stop_serving(id)`.
pub fn stop_serving() -> Function {
    Function {
        name: "stop_serving",
        summary: "Stops an HTTP server started by serve_metrics and returns its final servers() row.",
        params: vec![Param::positional(
            "id",
            ParamType::BigInt,
            "The id of a running server (from serve_metrics or servers()).".into(),
        )],
        example: "SELECT id, state, requests_served FROM stop_serving(1)",
        reads: Vec::new(),
        decl: sysmon_serve::ServerRow::TABLE,
    }
}

/// `alert_metrics(name, query, ...)`.
pub fn alert_metrics() -> Function {
    use sysmon_alert::{EVERY_DEFAULT, EVERY_MAX, EVERY_MIN, FOR_MAX, REPEAT_DEFAULT, REPEAT_MAX, REPEAT_MIN};
    Function {
        name: "alert_metrics",
        summary: "Starts an alert: a query run every `every` on a connection of its own, each row one instance (pending, then firing after `for`, resolved when gone), told to a webhook; one row: the alert.",
        params: vec![
            Param::positional(
                "name",
                ParamType::Varchar,
                "The alert's name (letters, digits, '_', '-', '.', ':'): its alertname label, and what stop_alert takes; one running alert per name.".into(),
            ),
            Param::positional(
                "query",
                ParamType::Varchar,
                "A SELECT over sysmon's functions (live tables, read_recording, alerts()); each row it returns is one firing (or pending) instance, named by its non-numeric columns (its labels); its first numeric column is the value. Checked when the alert starts: it must bind.".into(),
            ),
            Param::named(
                "every",
                ParamType::Interval,
                describe(EVERY_DEFAULT),
                format!("How often the query runs, {} to {}; an evaluation that runs longer is interrupted and shows as an error in alerts().", describe(EVERY_MIN), describe(EVERY_MAX)),
            ),
            Param::named(
                "for",
                ParamType::Interval,
                "0 s".into(),
                format!("How long an instance must be present before it fires (pending until then), 0 to {}; write it quoted: \"for\" := INTERVAL 5 MINUTES.", describe(FOR_MAX)),
            ),
            Param::named(
                "severity",
                ParamType::Varchar,
                "none".into(),
                "A severity label for receivers, such as 'warning' or 'critical'.".into(),
            ),
            Param::named(
                "summary",
                ParamType::Varchar,
                "none".into(),
                "The summary annotation; {column} is replaced by the instance's value of that column, such as '{mount_point} is {used_pct}% full' ({{ and }} for braces).".into(),
            ),
            Param::named(
                "repeat",
                ParamType::Interval,
                describe(REPEAT_DEFAULT),
                format!("How often a firing instance is notified again, {} to {}.", describe(REPEAT_MIN), describe(REPEAT_MAX)),
            ),
            Param::named(
                "webhook",
                ParamType::Varchar,
                "none".into(),
                "An http:// or https:// URL that receives Alertmanager's webhook JSON (version 4) at each firing, repeat and resolution, retried with backoff until it answers 2xx.".into(),
            ),
            Param::named(
                "dir",
                ParamType::Varchar,
                "none".into(),
                "A recording folder or s3://<bucket>[/<prefix>] where every transition is recorded as the alerts table (read_recording(dir, 'alerts')); a recorder of that folder is started when none runs.".into(),
            ),
        ],
        example: "SELECT name, state FROM alert_metrics('load_high', 'SELECT load_1m FROM system_metrics() WHERE load_1m > 64', every := INTERVAL 15 SECONDS)",
        reads: Vec::new(),
        decl: sysmon_alert::AlertRow::TABLE,
    }
}

/// `alerts()`.
pub fn alerts() -> Function {
    Function {
        name: "alerts",
        summary: "One row per running alert and instance: its state, labels, value, last evaluation and its cost, and its webhook's delivery counters and last error.",
        params: Vec::new(),
        example: "SELECT name, state, labels, value, active_since, last_error, last_delivery_status FROM alerts()",
        reads: Vec::new(),
        decl: sysmon_alert::AlertRow::TABLE,
    }
}

/// `stop_alert(name)`.
pub fn stop_alert() -> Function {
    Function {
        name: "stop_alert",
        summary: "Stops a running alert (its webhook gets up to 2 s to deliver what is queued) and returns its final alerts() rows.",
        params: vec![Param::positional(
            "name",
            ParamType::Varchar,
            "The name of a running alert (from alert_metrics or alerts()).".into(),
        )],
        example: "SELECT name, evaluations, notifications_sent FROM stop_alert('load_high')",
        reads: Vec::new(),
        decl: sysmon_alert::AlertRow::TABLE,
    }
}

/// `sysmon_functions()`.
pub fn sysmon_functions() -> Function {
    Function {
        name: "sysmon_functions",
        summary: "One row per sysmon function: its parameters with types and defaults, what it returns, an example and what it reads.",
        params: Vec::new(),
        example: "SELECT function_name, signature, description FROM sysmon_functions()",
        reads: Vec::new(),
        decl: FunctionRow::TABLE,
    }
}

/// `sysmon_columns()`.
pub fn sysmon_columns() -> Function {
    Function {
        name: "sysmon_columns",
        summary: "One row per column of every sysmon function: its type, unit and meaning.",
        params: Vec::new(),
        example: "SELECT column_name, data_type, unit, description FROM sysmon_columns() WHERE function_name = 'system_metrics'",
        reads: Vec::new(),
        decl: ColumnRow::TABLE,
    }
}

/// Every SQL function sysmon registers, in the README's order: the live tables of the registry
/// ([`for_each_table!`](sysmon_tables::for_each_table)), the recorder's three, `report_metrics`, the server's three,
/// the alerts' three, then the catalog's two.
pub fn functions() -> Vec<Function> {
    let mut all: Vec<Function> = tables::ALL.iter().map(|t| (t.function)()).collect();
    all.extend([
        record_metrics(),
        recordings(),
        stop_recording(),
        read_recording(),
        report_metrics(),
        serve_metrics(),
        servers(),
        stop_serving(),
        alert_metrics(),
        alerts(),
        stop_alert(),
        sysmon_functions(),
        sysmon_columns(),
    ]);
    all
}

sysmon_tables::declare_table! {
    /// One row per SQL function of sysmon. The parameter lists are parallel (one element per
    /// parameter, positional ones first), as `duckdb_functions()` lists its `parameters` and
    /// `parameter_types`, but with the names of positional parameters that DuckDB shows as
    /// `col0`, `col1`.
    pub struct FunctionRow => "sysmon_functions" {
        /// The function's name.
        function_name: String [""],
        /// What it returns, one line.
        description: String [""],
        /// How it is called: positional parameters in order, then named ones (`name := TYPE`).
        signature: String [""],
        /// Parameter names: positional ones in call order, then named ones.
        parameters: Vec<String> [""],
        /// Each parameter's type, as `duckdb_functions()` spells it; `INTERVAL or number of seconds` for a duration, which DuckDB lists as `ANY`.
        parameter_types: Vec<String> [""],
        /// Each parameter's kind: `positional` (required, in order) or `named` (`name := value`, may be left out).
        parameter_kinds: Vec<String> [""],
        /// What applies when a named parameter is left out; `required` for a positional one.
        parameter_defaults: Vec<String> [""],
        /// What each parameter means and accepts.
        parameter_descriptions: Vec<String> [""],
        /// A query to try.
        example: String [""],
        /// What the rows are read from: host files and directories; for `record_metrics`, the tables it can record. Empty for functions that read no host file.
        reads: Vec<String> [""],
        /// The recorder's folder for this table (`<dir>/<folder>/`, the name `tables := [...]` takes); NULL for a table that is not recorded.
        recorded_as: Option<String> [""],
    }
}

sysmon_tables::declare_table! {
    /// One row per column of every sysmon function, in the function's column order (a
    /// function's columns are those of its declaration: `stop_recording` has `recordings`'s).
    pub struct ColumnRow => "sysmon_columns" {
        /// The function whose result has the column.
        function_name: String [""],
        /// The column's position in the function's result, from 1.
        column_index: i64 [""],
        /// The column's name.
        column_name: String [""],
        /// The column's SQL type.
        data_type: String [""],
        /// The column's unit; NULL for a value without one (a name, an id, a count).
        unit: Option<String> [""],
        /// What the value means.
        description: String [""],
    }
}

/// The rows of `sysmon_functions()`.
pub fn function_rows() -> Vec<FunctionRow> {
    functions()
        .iter()
        .map(|f| {
            let list = |g: &dyn Fn(&Param) -> String| f.params.iter().map(g).collect::<Vec<_>>();
            FunctionRow {
                function_name: f.name.to_string(),
                description: f.summary.to_string(),
                signature: f.signature(),
                parameters: list(&|p| p.name.to_string()),
                parameter_types: list(&|p| p.ty.sql_name().to_string()),
                parameter_kinds: list(&|p| if p.named { "named" } else { "positional" }.to_string()),
                parameter_defaults: list(&|p| p.default.clone().unwrap_or_else(|| "required".to_string())),
                parameter_descriptions: list(&|p| p.doc.clone()),
                example: f.example.to_string(),
                reads: f.reads.iter().map(|r| r.to_string()).collect(),
                recorded_as: f.decl.recorded.map(|r| r.name.to_string()),
            }
        })
        .collect()
}

/// The rows of `sysmon_columns()`.
pub fn column_rows() -> Vec<ColumnRow> {
    let mut rows = Vec::new();
    for f in functions() {
        for (i, c) in f.decl.columns.iter().enumerate() {
            rows.push(ColumnRow {
                function_name: f.name.to_string(),
                column_index: i64::try_from(i + 1).unwrap_or(i64::MAX),
                column_name: c.name.to_string(),
                data_type: c.ty.sql_name().to_string(),
                unit: (!c.unit.is_empty()).then(|| c.unit.to_string()),
                description: c.doc.trim().to_string(),
            });
        }
    }
    rows
}

/// The README's function list, in Markdown.
pub fn markdown_functions(functions: &[Function]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| function | returns | named parameters (default) |");
    let _ = writeln!(out, "|---|---|---|");
    for f in functions {
        let positional: Vec<String> = f.positional().map(Param::signature).collect();
        let named: Vec<String> = f
            .named()
            .map(|p| {
                let sig = p.signature();
                match &p.default {
                    Some(d) => format!("`{sig}` ({})", d.replace('|', "\\|")),
                    None => format!("`{sig}`"),
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "| `{}({})` | {} | {} |",
            f.name,
            positional.join(", "),
            f.summary.replace('|', "\\|"),
            if named.is_empty() {
                "none".to_string()
            } else {
                named.join(", ")
            }
        );
    }
    out
}

/// Markers around the generated function list in README.md.
pub const README_FUNCTIONS_BEGIN: &str = "<!-- BEGIN GENERATED FUNCTION LIST (make docs) -->";
pub const README_FUNCTIONS_END: &str = "<!-- END GENERATED FUNCTION LIST -->";

/// `readme` with the text between `begin` and `end` replaced by `text`; `None` if a marker is
/// missing.
pub fn splice(readme: &str, begin: &str, end: &str, text: &str) -> Option<String> {
    let from = readme.find(begin)? + begin.len();
    let to = readme[from..].find(end)? + from;
    Some(format!("{}\n\n{}\n{}", &readme[..from], text, &readme[to..]))
}

/// README.md with its generated function list current; `None` if a marker is missing.
pub fn update_function_list(readme: &str) -> Option<String> {
    splice(
        readme,
        README_FUNCTIONS_BEGIN,
        README_FUNCTIONS_END,
        &markdown_functions(&functions()),
    )
}

/// docs/reference.md with its generated column reference current; `None` if a marker is missing.
pub fn update_column_reference(doc: &str) -> Option<String> {
    sysmon_tables::schema::splice_reference(
        doc,
        &sysmon_tables::schema::markdown_reference(&crate::reference_tables()),
    )
}

/// docs/prometheus.md with its generated `/metrics` mapping current; `None` if a marker is missing.
pub fn update_metrics_mapping(doc: &str) -> Option<String> {
    splice(
        doc,
        sysmon_serve::metrics::README_BEGIN,
        sysmon_serve::metrics::README_END,
        &sysmon_serve::metrics::markdown_mapping(),
    )
}

/// Makes the generated parts of one doc current; `None` if a marker is missing.
pub type UpdateDoc = fn(&str) -> Option<String>;

/// Every file with generated parts (`make docs` rewrites them), relative to the repository
/// root, with the function that makes them current.
pub const GENERATED_DOCS: [(&str, UpdateDoc); 3] = [
    ("README.md", update_function_list),
    ("docs/reference.md", update_column_reference),
    ("docs/prometheus.md", update_metrics_mapping),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_described() {
        let all = functions();
        let mut names: Vec<&str> = all.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a function is listed twice");
        for f in &all {
            assert!(!f.summary.trim().is_empty(), "{} has no summary", f.name);
            assert!(!f.summary.contains('\n'), "{}'s summary is not one line", f.name);
            assert!(
                f.example.contains(&format!("{}(", f.name)),
                "{}'s example does not call it",
                f.name
            );
            let mut seen = Vec::new();
            let mut named = false;
            for p in &f.params {
                assert!(!seen.contains(&p.name), "{}: parameter {} twice", f.name, p.name);
                seen.push(p.name);
                assert!(p.named || !named, "{}: positional {} after a named one", f.name, p.name);
                named |= p.named;
                assert_eq!(
                    p.default.is_some(),
                    p.named,
                    "{}.{}: only named ones have defaults",
                    f.name,
                    p.name
                );
                assert!(!p.doc.is_empty(), "{}.{} has no description", f.name, p.name);
            }
            for r in &f.reads {
                assert!(
                    r.starts_with('/') || all.iter().any(|g| g.name == *r),
                    "{} reads {r}: neither an absolute path nor a function",
                    f.name
                );
            }
        }
    }

    #[test]
    fn live_tables_declare_what_they_read() {
        for t in tables::ALL {
            let f = (t.function)();
            if f.name == "alert_transitions" {
                assert!(f.reads.is_empty(), "the process's own alerts, in memory");
                continue;
            }
            assert!(!f.reads.is_empty(), "{} declares no host path", f.name);
            assert!(f.reads.iter().all(|r| r.starts_with('/')), "{}: {:?}", f.name, f.reads);
        }
        let disks = functions().into_iter().find(|f| f.name == "system_disks").unwrap();
        assert!(
            disks.reads.contains(&"/proc/diskstats"),
            "a windowed table reads the host sample"
        );
        assert!(disks.reads.contains(&"/sys/class/block"));
        assert_eq!(
            disks.signature(),
            "system_disks(\"window\" := INTERVAL or number of seconds, include_virtual := BOOLEAN)"
        );
        assert_eq!(disks.params[1].default.as_deref(), Some("true"));
        assert_eq!(
            disks.params[0].default.as_deref(),
            Some("newest kept sample at least 100 ms old")
        );
    }

    #[test]
    fn record_metrics_parameters() {
        let f = record_metrics();
        assert_eq!(
            f.signature(),
            "record_metrics(dir VARCHAR, interval INTERVAL or number of seconds, tables := VARCHAR[], process_interval := INTERVAL or number of seconds, flush_interval := INTERVAL or number of seconds, publish_interval := INTERVAL or number of seconds, retention := INTERVAL or number of seconds, max_bytes := BIGINT, endpoint := VARCHAR, region := VARCHAR, spool := VARCHAR, upload_interval := INTERVAL or number of seconds, spool_max_bytes := BIGINT)"
        );
        let tables = f.params.iter().find(|p| p.name == "tables").unwrap();
        assert!(tables.default.as_deref().unwrap().starts_with("['metrics', 'cpus'"));
        assert!(
            !tables.default.as_deref().unwrap().contains("processes"),
            "processes only when named"
        );
        assert!(f.reads.contains(&"system_processes"), "it can record processes");
        assert!(!f.reads.contains(&"system_info"), "system_info is not recorded");
    }

    #[test]
    fn rows_follow_the_declarations() {
        let rows = function_rows();
        assert_eq!(rows.len(), functions().len());
        let rm = rows.iter().find(|r| r.function_name == "record_metrics").unwrap();
        assert_eq!(rm.parameters[..2], ["dir", "interval"]);
        assert_eq!(rm.parameter_kinds[..3], ["positional", "positional", "named"]);
        assert_eq!(rm.parameter_defaults[0], "required");
        assert_eq!(rm.parameter_types.len(), rm.parameters.len());
        assert_eq!(rm.parameter_types[1], "INTERVAL or number of seconds");
        assert_eq!(rm.recorded_as, None);
        let m = rows.iter().find(|r| r.function_name == "system_metrics").unwrap();
        assert_eq!(m.recorded_as.as_deref(), Some("metrics"));
        let cols = column_rows();
        let metrics: Vec<_> = cols.iter().filter(|c| c.function_name == "system_metrics").collect();
        assert_eq!(metrics.len(), sysmon_tables::metrics::MetricsRow::TABLE.columns.len());
        assert_eq!((metrics[0].column_index, metrics[0].column_name.as_str()), (1, "ts"));
        let busy = metrics.iter().find(|c| c.column_name == "cpu_busy_pct").unwrap();
        assert_eq!(busy.unit.as_deref(), Some("percent"));
        assert_eq!(busy.data_type, "DOUBLE");
        let host = metrics.iter().find(|c| c.column_name == "hostname").unwrap();
        assert_eq!(host.unit, None, "no unit is NULL, not an empty string");
        assert!(
            cols.iter()
                .any(|c| c.function_name == "sysmon_columns" && c.column_name == "unit")
        );
        assert_eq!(
            cols.iter().filter(|c| c.function_name == "stop_recording").count(),
            cols.iter().filter(|c| c.function_name == "recordings").count()
        );
    }

    #[test]
    fn generated_docs_are_current() {
        for (file, update) in GENERATED_DOCS {
            let path = format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
            let updated = update(&text).unwrap_or_else(|| panic!("{file} lacks its generated-part markers"));
            assert!(
                updated == text,
                "{file}'s generated part differs from the declarations: run `make docs`"
            );
        }
    }
}
