//! Where alerts run their queries: a private in-memory DuckDB database of the process, with
//! sysmon's read-only functions registered in it, and one connection per alert.
//!
//! Why a database of its own: a loadable extension gets its database handle only while it is
//! loaded (DuckDB frees it when the load returns), and keeping a connection to the user's
//! database from then on would hold a file-backed database open (and unflushed) for the life
//! of the process, whether or not an alert ever runs. A private database is opened with the
//! first alert and closed with the last one ([`database`] keeps it by a `Weak`). Its queries
//! see sysmon's tables, `read_recording` and DuckDB's own functions, not the user's tables.
//!
//! The lockdown follows the caller's: the database is opened with the `allowed_directories`
//! and `allowed_paths` of the `alert_metrics` call, `enable_external_access = false` when the
//! caller had it so, and `lock_configuration`, so that everything an alert's query reads is
//! checked as the caller's own queries would be. Alerts bound under different settings get
//! different databases. Registered there: the live tables, `recordings()`, `servers()`,
//! `alerts()`, `read_recording()` and the catalog's two; nothing that starts, stops or writes.
//!
//! A query is checked once, in bind ([`AlertDb::plan`]): `DESCRIBE` of it wrapped as a
//! subquery, which admits only one query expression (a `SELECT`, `FROM ...`, `VALUES`,
//! `WITH ... SELECT`) and binds every name. Each evaluation then runs the wrapped query with
//! every numeric column cast to `DOUBLE` and every other one to `VARCHAR`, so a row reads as
//! numbers (values) and texts (labels) whatever the query's types.

use std::sync::{Arc, Mutex, Weak};

use duckdb::{Config, Connection};
use sysmon_alert::state::{Rows, Value};
use sysmon_alert::{Evaluator, Interrupt};
use sysmon_kernel::sync::lock;

use crate::lockdown::Lockdown;

/// The settings a private database was opened with.
type Key = Option<(Vec<String>, Vec<String>)>;
/// What [`AlertDb::evaluator`] gives: the alert's evaluator, and how to interrupt its query.
type EvaluatorAndInterrupt = (Box<dyn Evaluator>, Arc<dyn Interrupt>);

/// One private database.
pub struct AlertDb {
    key: Key,
    /// The owning connection: the database closes when it is dropped, after every alert's own
    /// connection (each alert's evaluator holds an `Arc` of this).
    owner: Mutex<Connection>,
}

/// A checked query, ready to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub columns: Vec<(String, bool)>,
    sql: String,
}

/// The private database for alerts bound under `lockdown`, opened if none is.
pub fn database(lockdown: Option<&Lockdown>) -> Result<Arc<AlertDb>, String> {
    static OPEN: Mutex<Vec<Weak<AlertDb>>> = Mutex::new(Vec::new());
    // Where the running DuckDB cannot tell sysmon its settings (before 1.5.6), the caller may
    // be locked down unseen: the alerts' database then allows DuckDB's own functions no
    // external access at all, so that an alert is never a way around a lockdown of
    // `read_text`, `read_parquet` or `httpfs` (sysmon's functions run there as they do on the
    // caller's connection, docs/security.md).
    let key: Key = match crate::lockdown::settings_visible() {
        true => lockdown.map(|l| (l.dirs.clone(), l.paths.clone())),
        false => Some((Vec::new(), Vec::new())),
    };
    let mut open = lock(&OPEN);
    open.retain(|w| w.strong_count() > 0);
    if let Some(db) = open.iter().filter_map(Weak::upgrade).find(|d| d.key == key) {
        return Ok(db);
    }
    let db = Arc::new(AlertDb::open(key)?);
    open.push(Arc::downgrade(&db));
    Ok(db)
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|i| quote_text(i)).collect::<Vec<_>>().join(", ")
    )
}

/// Whether DuckDB's type `ty` (as `DESCRIBE` names it) is a number.
fn numeric(ty: &str) -> bool {
    let t = ty.trim().to_ascii_uppercase();
    [
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
        "FLOAT",
        "DOUBLE",
        "REAL",
    ]
    .contains(&t.as_str())
        || t.starts_with("DECIMAL")
}

impl AlertDb {
    fn open(key: Key) -> Result<AlertDb, String> {
        let e = |e: duckdb::Error| format!("cannot open the alerts' database: {e}");
        let config = Config::default()
            .threads(1)
            .map_err(e)?
            .max_memory("256MB")
            .map_err(e)?;
        let con = Connection::open_in_memory_with_flags(config).map_err(e)?;
        crate::functions::register_for_alerts(&con)
            .map_err(|err| format!("cannot open the alerts' database: {err}"))?;
        let mut settings = String::new();
        if let Some((dirs, paths)) = &key {
            settings.push_str(&format!(
                "SET allowed_directories = {}; SET allowed_paths = {}; SET enable_external_access = false; ",
                list(dirs),
                list(paths)
            ));
        }
        settings.push_str("SET lock_configuration = true;");
        con.execute_batch(&settings).map_err(e)?;
        Ok(AlertDb {
            key,
            owner: Mutex::new(con),
        })
    }

    /// Checks `query` (one query expression that binds) and plans its evaluation.
    pub fn plan(&self, query: &str) -> Result<Plan, String> {
        let body = query.trim().trim_end_matches(|c: char| c == ';' || c.is_whitespace());
        if body.is_empty() {
            return Err("query is empty; it must be a SELECT, such as 'SELECT mount_point, used_pct FROM system_filesystems() WHERE used_pct > 90'".into());
        }
        let wrapped = format!("(\n{body}\n) AS alert_query");
        let con = lock(&self.owner);
        let describe = format!("DESCRIBE SELECT * FROM {wrapped}");
        let mut stmt = con.prepare(&describe).map_err(|e| refused(query, &e))?;
        let columns: Vec<(String, bool)> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| refused(query, &e))?
            .into_iter()
            .map(|(name, ty)| {
                let n = numeric(&ty);
                (name, n)
            })
            .collect();
        let select: Vec<String> = columns
            .iter()
            .map(|(name, n)| {
                let q = quote_ident(name);
                format!("{q}::{} AS {q}", if *n { "DOUBLE" } else { "VARCHAR" })
            })
            .collect();
        Ok(Plan {
            sql: format!("SELECT {} FROM {wrapped}", select.join(", ")),
            columns,
        })
    }

    /// A connection of its own for one alert, running `plan`.
    pub fn evaluator(self: &Arc<Self>, plan: Plan) -> Result<EvaluatorAndInterrupt, String> {
        let con = lock(&self.owner)
            .try_clone()
            .map_err(|e| format!("cannot open a connection for the alert: {e}"))?;
        let interrupt: Arc<dyn Interrupt> = Arc::new(Interrupter(con.interrupt_handle()));
        Ok((
            Box::new(DbEvaluator {
                con,
                plan,
                _db: self.clone(),
            }),
            interrupt,
        ))
    }
}

fn refused(query: &str, e: &duckdb::Error) -> String {
    let text = e.to_string();
    let shown: String = query.chars().take(200).collect();
    if text.contains("Parser Error") || text.contains("syntax error") {
        format!(
            "query must be one SELECT (or FROM ..., VALUES, WITH ... SELECT) over sysmon's functions; '{shown}' is not: {text}"
        )
    } else {
        format!(
            "query does not bind in the alerts' database (sysmon's functions and DuckDB's own; not this database's tables): {text}"
        )
    }
}

struct Interrupter(Arc<duckdb::InterruptHandle>);

impl Interrupt for Interrupter {
    fn interrupt(&self) {
        self.0.interrupt();
    }
}

/// One alert's connection. Fields drop in order: the connection before the database.
struct DbEvaluator {
    con: Connection,
    plan: Plan,
    _db: Arc<AlertDb>,
}

impl Evaluator for DbEvaluator {
    fn evaluate(&mut self) -> Result<Rows, String> {
        let mut stmt = self.con.prepare_cached(&self.plan.sql).map_err(|e| e.to_string())?;
        let cols = self.plan.columns.clone();
        let rows = stmt
            .query_map([], |r| {
                let mut out = Vec::with_capacity(cols.len());
                for (i, (_, n)) in cols.iter().enumerate() {
                    out.push(match n {
                        true => r.get::<_, Option<f64>>(i)?.map_or(Value::Null, Value::Number),
                        false => r.get::<_, Option<String>>(i)?.map_or(Value::Null, Value::Text),
                    });
                }
                Ok(out)
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| e.to_string())?;
        Ok(Rows {
            columns: self.plan.columns.clone(),
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_types() {
        for t in ["INTEGER", "DOUBLE", "DECIMAL(18,3)", "ubigint", "HUGEINT", "FLOAT"] {
            assert!(numeric(t), "{t}");
        }
        for t in ["VARCHAR", "BOOLEAN", "TIMESTAMP WITH TIME ZONE", "INTEGER[]", "DATE"] {
            assert!(!numeric(t), "{t}");
        }
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(list(&["/a'b".into()]), "['/a''b']");
    }
}
