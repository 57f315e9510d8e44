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

use duckdb::Connection;
use sysmon_alert::state::{Rows, Value};
use sysmon_alert::{Evaluator, Interrupt};
use sysmon_kernel::sync::lock;

use crate::alert_capi::{Cell, Con, Database, Kind, Stmt};
use crate::lockdown::Lockdown;

/// The most rows (instances) one evaluation may answer.
pub const MAX_ROWS: usize = 10_000;

/// The settings a private database was opened with.
type Key = Option<(Vec<String>, Vec<String>)>;
/// What [`AlertDb::evaluator`] gives: the alert's evaluator, and how to interrupt its query.
/// Registers the alerts' functions on a connection of a new private database.
pub type Register = fn(&Connection) -> Result<(), Box<dyn std::error::Error>>;

type EvaluatorAndInterrupt = (Box<dyn Evaluator>, Arc<dyn Interrupt>);

/// One private database.
pub struct AlertDb {
    key: Key,
    /// The connection that checks queries. Fields drop in order: it before the database.
    owner: Mutex<Arc<Con>>,
    /// Closed when the last alert's evaluator (each holds an `Arc` of this) is gone.
    db: Database,
}

/// A checked query, ready to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub columns: Vec<(String, bool)>,
    sql: String,
}

/// The private database for alerts bound under `lockdown`, opened if none is.
/// `register` adds the functions an alert's query may call to a new database (the SQL
/// binding's list; passed in, so that this module does not depend on the functions that use it).
pub fn database(lockdown: Option<&Lockdown>, register: Register) -> Result<Arc<AlertDb>, String> {
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
    let db = Arc::new(AlertDb::open(key, register)?);
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
    fn open(key: Key, register: Register) -> Result<AlertDb, String> {
        let e = |e: String| format!("cannot open the alerts' database: {e}");
        let db = Database::open_in_memory(&[("threads", "1"), ("max_memory", "256MB")]).map_err(e)?;
        {
            // SAFETY: `db` is open and outlives this connection (dropped at the end of the
            // block); duckdb-rs does not close a database it was given raw.
            let reg = unsafe { Connection::open_from_raw(db.raw()) }.map_err(|err| e(err.to_string()))?;
            register(&reg).map_err(|err| e(err.to_string()))?;
        }
        let owner = Arc::new(db.connect().map_err(e)?);
        let mut settings = String::new();
        if let Some((dirs, paths)) = &key {
            settings.push_str(&format!(
                "SET allowed_directories = {}; SET allowed_paths = {}; SET enable_external_access = false; ",
                list(dirs),
                list(paths)
            ));
        }
        settings.push_str("SET lock_configuration = true;");
        owner.execute(&settings).map_err(e)?;
        Ok(AlertDb {
            key,
            owner: Mutex::new(owner),
            db,
        })
    }

    /// Checks `query` (one query expression that binds) and plans its evaluation.
    pub fn plan(&self, query: &str) -> Result<Plan, String> {
        let body = query.trim().trim_end_matches(|c: char| c == ';' || c.is_whitespace());
        if body.is_empty() {
            return Err("query is empty; it must be a SELECT, such as 'SELECT mount_point, used_pct FROM system_filesystems() WHERE used_pct > 90'".into());
        }
        let wrapped = format!("(\n{body}\n) AS alert_query");
        let con = lock(&self.owner).clone();
        let describe = format!("DESCRIBE SELECT * FROM {wrapped}");
        let stmt = con.prepare(&describe).map_err(|e| refused(query, &e))?;
        let columns: Vec<(String, bool)> = stmt
            .rows(&[Kind::Varchar, Kind::Varchar], MAX_ROWS)
            .map_err(|e| refused(query, &e))?
            .into_iter()
            .filter_map(|r| match (&r[0], &r[1]) {
                (Cell::Text(name), Cell::Text(ty)) => Some((name.clone(), numeric(ty))),
                _ => None,
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
        let con = Arc::new(
            self.db
                .connect()
                .map_err(|e| format!("cannot open a connection for the alert: {e}"))?,
        );
        let stmt = con
            .prepare(&plan.sql)
            .map_err(|e| format!("cannot prepare the alert's query: {e}"))?;
        let kinds = plan
            .columns
            .iter()
            .map(|(_, n)| if *n { Kind::Double } else { Kind::Varchar })
            .collect();
        let interrupt: Arc<dyn Interrupt> = Arc::new(Interrupter { con, _db: self.clone() });
        Ok((
            Box::new(DbEvaluator {
                stmt,
                kinds,
                plan,
                _db: self.clone(),
            }),
            interrupt,
        ))
    }
}

fn refused(query: &str, text: &str) -> String {
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

/// Interrupts one alert's connection. It keeps the database too, so that, whichever of it and
/// the evaluator goes last, the connection is disconnected before the database is closed
/// (`alert_capi`'s contract). Fields drop in order: the connection first.
struct Interrupter {
    con: Arc<Con>,
    _db: Arc<AlertDb>,
}

impl Interrupt for Interrupter {
    fn interrupt(&self) {
        self.con.interrupt();
    }
}

/// One alert's statement. Fields drop in order: the statement (and with it, when the
/// interrupter is gone too, its connection) before the database.
struct DbEvaluator {
    stmt: Stmt,
    kinds: Vec<Kind>,
    plan: Plan,
    _db: Arc<AlertDb>,
}

impl Evaluator for DbEvaluator {
    fn evaluate(&mut self) -> Result<Rows, String> {
        let rows = self.stmt.rows(&self.kinds, MAX_ROWS).map_err(|e| match e.as_str() {
            "the query answered too many rows" => format!(
                "the query answered more than {MAX_ROWS} rows (each row is one instance of the alert); narrow its WHERE or aggregate"
            ),
            _ => e,
        })?;
        let rows = rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|c| match c {
                        Cell::Null => Value::Null,
                        Cell::Double(d) => Value::Number(d),
                        Cell::Text(t) => Value::Text(t),
                    })
                    .collect()
            })
            .collect();
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
