//! The alerts' database driven through DuckDB's C API directly, with only the functions that
//! are stable in the API version this extension is built for (v1.2.0).
//!
//! Why not duckdb-rs' `Connection` and `Statement`: their query path calls functions that are
//! newer than v1.2.0 (`duckdb_prepared_statement_column_count` is stable only from 1.5.6) or
//! deprecated (the Arrow result functions). A loadable extension gets DuckDB's functions
//! through the table its host hands it for the requested version; on DuckDB 1.4 that table
//! has no such entries, and calling one jumped to garbage (a segmentation fault at the first
//! `alert_metrics`). Everything here is in v1.2.0: open, connect, prepare, execute,
//! `duckdb_fetch_chunk` and the vector accessors, interrupt.
//!
//! Safety contract: a [`Database`] outlives every [`Con`] made from it (the callers keep an
//! `Arc` of the database in each connection's owner, dropped after it), a [`Con`] outlives
//! its [`Stmt`]s (each statement holds an `Arc` of its connection), a connection runs one
//! statement at a time (each is behind the `Mutex` or the single thread of its owner), and
//! [`Con::interrupt`] is the one call made from another thread, which the C API allows.

use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::sync::Arc;

use duckdb::ffi;

/// What a result column is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Double,
    Varchar,
}

/// One value read from a result.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Double(f64),
    Text(String),
}

/// An in-memory database of our own; closed on drop.
pub struct Database {
    db: ffi::duckdb_database,
}

// SAFETY: a `duckdb_database` may be used from any thread (DuckDB synchronises its instance);
// this wrapper only connects to it and closes it once, on drop.
unsafe impl Send for Database {}
// SAFETY: as for `Send`: `connect` may be called from several threads at once.
unsafe impl Sync for Database {}

fn c_string(s: &str, what: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} must not contain a NUL character"))
}

/// Copies a C string DuckDB owns (NULL: `default`).
fn text_of(p: *const c_char, default: &str) -> String {
    if p.is_null() {
        return default.to_string();
    }
    // SAFETY: DuckDB returns a NUL-terminated string that lives until its owner is destroyed,
    // which happens after this copy.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Database {
    /// Opens an in-memory database with `settings` (name, value) applied at open.
    pub fn open_in_memory(settings: &[(&str, &str)]) -> Result<Database, String> {
        let mut config: ffi::duckdb_config = ptr::null_mut();
        // SAFETY: `config` is an out-parameter; it is destroyed below on every path.
        if unsafe { ffi::duckdb_create_config(&mut config) } != ffi::DuckDBSuccess {
            return Err("cannot create a DuckDB configuration".into());
        }
        let result = (|| {
            for (name, value) in settings {
                let (n, v) = (c_string(name, "a setting")?, c_string(value, "a setting")?);
                // SAFETY: `config` is a live configuration; both strings are NUL-terminated
                // and live for the call.
                if unsafe { ffi::duckdb_set_config(config, n.as_ptr(), v.as_ptr()) } != ffi::DuckDBSuccess {
                    return Err(format!("cannot set {name} = {value}"));
                }
            }
            let mut db: ffi::duckdb_database = ptr::null_mut();
            let mut err: *mut c_char = ptr::null_mut();
            // SAFETY: a NULL path opens an in-memory database; `db` and `err` are
            // out-parameters; `err` is freed with duckdb_free when set.
            let rc = unsafe { ffi::duckdb_open_ext(ptr::null(), &mut db, config, &mut err) };
            if rc != ffi::DuckDBSuccess {
                let text = text_of(err, "unknown error");
                if !err.is_null() {
                    // SAFETY: `err` was allocated by DuckDB for us to free.
                    unsafe { ffi::duckdb_free(err.cast()) };
                }
                return Err(text);
            }
            Ok(Database { db })
        })();
        // SAFETY: `config` was created above and is not used after.
        unsafe { ffi::duckdb_destroy_config(&mut config) };
        result
    }

    /// The raw handle, for duckdb-rs' `Connection::open_from_raw` (which does not close it).
    pub fn raw(&self) -> ffi::duckdb_database {
        self.db
    }

    pub fn connect(&self) -> Result<Con, String> {
        let mut con: ffi::duckdb_connection = ptr::null_mut();
        // SAFETY: `self.db` is open (closed only on drop); `con` is an out-parameter.
        if unsafe { ffi::duckdb_connect(self.db, &mut con) } != ffi::DuckDBSuccess {
            return Err("cannot connect to the alerts' database".into());
        }
        Ok(Con { con })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // SAFETY: every connection made from it is gone (the contract above); closed once.
        unsafe { ffi::duckdb_close(&mut self.db) };
    }
}

/// A connection; disconnected on drop.
pub struct Con {
    con: ffi::duckdb_connection,
}

// SAFETY: a connection is used by one thread at a time (its owner's lock or thread); the only
// call from another thread is `interrupt`, which DuckDB's C API allows concurrently.
unsafe impl Send for Con {}
// SAFETY: see `Send`: shared only for `interrupt`.
unsafe impl Sync for Con {}

/// A `duckdb_result` destroyed on drop.
struct Answer(ffi::duckdb_result);

impl Drop for Answer {
    fn drop(&mut self) {
        // SAFETY: the result was filled by a query or an execution (also on failure, when
        // DuckDB documents it must still be destroyed); destroyed once.
        unsafe { ffi::duckdb_destroy_result(&mut self.0) };
    }
}

impl Con {
    /// Runs `sql` (one or more statements) for its effect.
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        let q = c_string(sql, "a query")?;
        // SAFETY: an all-zero `duckdb_result` is the documented initial state of the
        // out-parameter.
        let mut answer = Answer(unsafe { std::mem::zeroed() });
        // SAFETY: a live connection, a NUL-terminated query, the result destroyed by `Answer`.
        let rc = unsafe { ffi::duckdb_query(self.con, q.as_ptr(), &mut answer.0) };
        if rc != ffi::DuckDBSuccess {
            // SAFETY: the result of a failed query holds its error text.
            return Err(text_of(
                unsafe { ffi::duckdb_result_error(&mut answer.0) },
                "query failed",
            ));
        }
        Ok(())
    }

    /// Prepares `sql` on this connection.
    pub fn prepare(self: &Arc<Con>, sql: &str) -> Result<Stmt, String> {
        let q = c_string(sql, "a query")?;
        let mut stmt: ffi::duckdb_prepared_statement = ptr::null_mut();
        // SAFETY: a live connection, a NUL-terminated query; `stmt` is destroyed by `Stmt`
        // (also when preparing failed, as the C API requires).
        let rc = unsafe { ffi::duckdb_prepare(self.con, q.as_ptr(), &mut stmt) };
        let s = Stmt {
            stmt,
            _con: self.clone(),
        };
        if rc != ffi::DuckDBSuccess {
            // SAFETY: the statement of a failed prepare holds its error text.
            return Err(text_of(
                unsafe { ffi::duckdb_prepare_error(s.stmt) },
                "cannot prepare the query",
            ));
        }
        Ok(s)
    }

    /// Interrupts the statement running on this connection (from another thread).
    pub fn interrupt(&self) {
        // SAFETY: a live connection (the caller holds an `Arc` of it); interrupting is
        // allowed while another thread runs a query on it.
        unsafe { ffi::duckdb_interrupt(self.con) };
    }
}

impl Drop for Con {
    fn drop(&mut self) {
        // SAFETY: no statement of it is left (each holds an `Arc`); disconnected once.
        unsafe { ffi::duckdb_disconnect(&mut self.con) };
    }
}

/// A prepared statement; destroyed on drop, before its connection.
pub struct Stmt {
    stmt: ffi::duckdb_prepared_statement,
    _con: Arc<Con>,
}

// SAFETY: a statement is used by the one thread that owns it.
unsafe impl Send for Stmt {}

impl Stmt {
    /// Runs the statement and reads every row, each column as `kinds` says (a column of
    /// another type is an error, never read as the wrong one). More than `max_rows` rows is an
    /// error.
    pub fn rows(&self, kinds: &[Kind], max_rows: usize) -> Result<Vec<Vec<Cell>>, String> {
        // SAFETY: an all-zero result is the initial state of the out-parameter.
        let mut answer = Answer(unsafe { std::mem::zeroed() });
        // SAFETY: a live prepared statement; the result is destroyed by `Answer`.
        let rc = unsafe { ffi::duckdb_execute_prepared(self.stmt, &mut answer.0) };
        if rc != ffi::DuckDBSuccess {
            // SAFETY: the result of a failed execution holds its error text.
            return Err(text_of(
                unsafe { ffi::duckdb_result_error(&mut answer.0) },
                "query failed",
            ));
        }
        // SAFETY: a successful result.
        let ncols = unsafe { ffi::duckdb_column_count(&mut answer.0) } as usize;
        if ncols < kinds.len() {
            return Err(format!("the query answered {ncols} columns, {} expected", kinds.len()));
        }
        for (i, kind) in kinds.iter().enumerate() {
            // SAFETY: `i` is below the column count.
            let ty = unsafe { ffi::duckdb_column_type(&mut answer.0, i as u64) };
            let want = match kind {
                Kind::Double => ffi::DUCKDB_TYPE_DUCKDB_TYPE_DOUBLE,
                Kind::Varchar => ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR,
            };
            if ty != want {
                return Err(format!("column {} of the query is not {kind:?} (type id {ty})", i + 1));
            }
        }
        let mut out = Vec::new();
        loop {
            // SAFETY: `answer.0` is a successful result; the chunk is ours to destroy.
            let mut chunk = unsafe { ffi::duckdb_fetch_chunk(answer.0) };
            if chunk.is_null() {
                break;
            }
            let read = read_chunk(chunk, kinds, max_rows.saturating_sub(out.len()), &mut out);
            // SAFETY: the chunk was returned above and is not used after.
            unsafe { ffi::duckdb_destroy_data_chunk(&mut chunk) };
            read?;
        }
        Ok(out)
    }
}

fn read_chunk(
    chunk: ffi::duckdb_data_chunk,
    kinds: &[Kind],
    room: usize,
    out: &mut Vec<Vec<Cell>>,
) -> Result<(), String> {
    // SAFETY: a live chunk.
    let n = unsafe { ffi::duckdb_data_chunk_get_size(chunk) } as usize;
    if n > room {
        return Err("the query answered too many rows".into());
    }
    let mut rows: Vec<Vec<Cell>> = (0..n).map(|_| Vec::with_capacity(kinds.len())).collect();
    for (c, kind) in kinds.iter().enumerate() {
        // SAFETY: `c` is below the column count (checked against the result's); the vector,
        // its data and validity live as long as the chunk, which outlives this loop.
        let vector = unsafe { ffi::duckdb_data_chunk_get_vector(chunk, c as u64) };
        // SAFETY: as above.
        let data = unsafe { ffi::duckdb_vector_get_data(vector) };
        // SAFETY: as above; NULL when every row is valid.
        let validity = unsafe { ffi::duckdb_vector_get_validity(vector) };
        for (r, row) in rows.iter_mut().enumerate() {
            // SAFETY: `r` is below the chunk's size; `validity` is a live mask when not NULL.
            let valid = validity.is_null() || unsafe { ffi::duckdb_validity_row_is_valid(validity, r as u64) };
            if !valid {
                row.push(Cell::Null);
                continue;
            }
            row.push(match kind {
                // SAFETY: the column's type was checked to be DOUBLE: its data is `n` f64s.
                Kind::Double => Cell::Double(unsafe { *data.cast::<f64>().add(r) }),
                Kind::Varchar => {
                    // SAFETY: the column's type was checked to be VARCHAR: its data is `n`
                    // `duckdb_string_t`s; the bytes they point to live as long as the chunk.
                    let s = unsafe { data.cast::<ffi::duckdb_string_t>().add(r) };
                    // SAFETY: `s` points to a valid string of the vector (above).
                    let len = unsafe { ffi::duckdb_string_t_length(*s) } as usize;
                    // SAFETY: as above; the pointer is to `len` bytes.
                    let p = unsafe { ffi::duckdb_string_t_data(s) };
                    // SAFETY: `p` points to `len` readable bytes (above).
                    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
                    Cell::Text(String::from_utf8_lossy(bytes).into_owned())
                }
            });
        }
    }
    out.extend(rows);
    Ok(())
}
