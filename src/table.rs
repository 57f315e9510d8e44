//! One generic DuckDB table function for every declared table.
//!
//! A [`LiveTable`] says how to read its options in bind and how to collect its rows; the
//! columns come from the row type's declaration (`sysmon_core::schema`), so the SQL columns are
//! exactly the declared ones. Rows are collected on the first scan call (never in bind: DESCRIBE
//! and PREPARE bind without scanning) and emitted a vector's worth at a time. Projection
//! pushdown is on, so only the columns a query uses are written.
//!
//! Panic containment: duckdb-rs's `VTab` callbacks wrap `bind`, `init` and `func` in
//! `catch_unwind` and report a panic as a query error; the `panicking_table_is_a_query_error`
//! test in `test/python` checks this end to end.

use std::error::Error;
use std::marker::PhantomData;
use std::sync::Mutex;

use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};
use sysmon_core::catalog::{Function, ParamType};
use sysmon_core::schema::{Cell, ColType, Row};
use sysmon_core::sync::lock;

pub type BoxError = Box<dyn Error>;

/// A table function backed by a declared row type.
pub trait LiveTable: 'static {
    type Row: Row + Send + Sync;
    /// What bind read from the arguments.
    type Options: Send + Sync;

    /// The function's description (`sysmon_core::catalog`): its name and its parameters, which
    /// are registered with DuckDB from it, so `sysmon_functions()` shows what DuckDB accepts.
    fn function() -> Function;

    /// Checks and keeps the arguments. Runs for DESCRIBE/PREPARE too: must not act.
    fn bind(bind: &BindInfo) -> Result<Self::Options, BoxError>;

    /// The rows, taken when the query runs. `columns` are the declared column indices the
    /// query reads (projection pushdown; an index past the declared columns is DuckDB's row
    /// id): a table may skip reading what only unrequested columns need, and leave those
    /// fields empty.
    fn collect(options: &Self::Options, columns: &[usize]) -> Result<Vec<Self::Row>, BoxError>;
}

pub struct TableFn<T>(PhantomData<T>);

pub struct Bound<T: LiveTable> {
    options: T::Options,
}

pub struct Scan<R> {
    /// Declared column index of each output column (an index past the end is DuckDB's row id).
    columns: Vec<usize>,
    /// `None` until the first scan call collects; then the rows and how many were emitted.
    rows: Mutex<Option<(Vec<R>, usize)>>,
}

pub fn logical_type(ty: ColType) -> LogicalTypeHandle {
    let id = match ty {
        ColType::Boolean => LogicalTypeId::Boolean,
        ColType::Integer => LogicalTypeId::Integer,
        ColType::UInteger => LogicalTypeId::UInteger,
        ColType::BigInt => LogicalTypeId::Bigint,
        ColType::UBigInt => LogicalTypeId::UBigint,
        ColType::Double => LogicalTypeId::Double,
        ColType::Varchar => LogicalTypeId::Varchar,
        ColType::TimestampTz => LogicalTypeId::TimestampTZ,
        ColType::VarcharList => {
            return LogicalTypeHandle::list(&LogicalTypeHandle::from(LogicalTypeId::Varchar));
        }
    };
    LogicalTypeHandle::from(id)
}

/// The DuckDB type a parameter is registered with.
pub fn param_type(ty: ParamType) -> LogicalTypeHandle {
    let id = match ty {
        ParamType::Boolean => LogicalTypeId::Boolean,
        ParamType::BigInt => LogicalTypeId::Bigint,
        ParamType::Varchar => LogicalTypeId::Varchar,
        ParamType::Interval => LogicalTypeId::Interval,
        ParamType::VarcharList => {
            return LogicalTypeHandle::list(&LogicalTypeHandle::from(LogicalTypeId::Varchar));
        }
    };
    LogicalTypeHandle::from(id)
}

impl<T: LiveTable> VTab for TableFn<T> {
    type BindData = Bound<T>;
    type InitData = Scan<T::Row>;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, BoxError> {
        for c in T::Row::TABLE.columns {
            bind.add_result_column(c.name, logical_type(c.ty));
        }
        Ok(Bound {
            options: T::bind(bind)?,
        })
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        let columns = init
            .get_column_indices()
            .into_iter()
            .map(|i| usize::try_from(i).unwrap_or(usize::MAX))
            .collect();
        Ok(Scan {
            columns,
            rows: Mutex::new(None),
        })
    }

    fn func(info: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        let scan = info.get_init_data();
        let mut state = lock(&scan.rows);
        if state.is_none() {
            *state = Some((T::collect(&info.get_bind_data().options, &scan.columns)?, 0));
        }
        let Some((rows, emitted)) = state.as_mut() else {
            return Ok(());
        };
        let capacity = if output.num_columns() > 0 {
            output.flat_vector(0).capacity()
        } else {
            2048
        };
        let chunk = &rows[*emitted..rows.len().min(*emitted + capacity)];
        for (out_col, &col) in scan.columns.iter().enumerate() {
            write_column(output, out_col, col, chunk)?;
        }
        output.set_len(chunk.len());
        *emitted += chunk.len();
        Ok(())
    }

    fn supports_pushdown() -> bool {
        true
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(T::function().positional().map(|p| param_type(p.ty)).collect())
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        Some(
            T::function()
                .named()
                .map(|p| (p.name.to_string(), param_type(p.ty)))
                .collect(),
        )
    }
}

/// Writes declared column `col` of `rows` into output vector `out_col`.
fn write_column<R: Row>(output: &DataChunkHandle, out_col: usize, col: usize, rows: &[R]) -> Result<(), BoxError> {
    let ty = R::TABLE.columns.get(col).map(|c| c.ty);
    if ty == Some(ColType::VarcharList) {
        let mut list = output.list_vector(out_col);
        let total: usize = rows
            .iter()
            .map(|r| match r.cell(col) {
                Cell::StrList(v) => v.len(),
                _ => 0,
            })
            .sum();
        let child = list.child(total.max(1));
        let mut offset = 0;
        for (i, r) in rows.iter().enumerate() {
            match r.cell(col) {
                Cell::StrList(items) => {
                    for (j, s) in items.iter().enumerate() {
                        child.insert(offset + j, s.as_str());
                    }
                    list.set_entry(i, offset, items.len());
                    offset += items.len();
                }
                _ => list.set_null(i),
            }
        }
        list.set_len(offset);
        return Ok(());
    }
    let mut v = output.flat_vector(out_col);
    for (i, r) in rows.iter().enumerate() {
        // SAFETY (each slice write below): the vector's physical type is the one the column
        // was declared with in bind (`logical_type`), and `i` is below the vector's capacity.
        match (ty, r.cell(col)) {
            (_, Cell::Null) | (None, _) => v.set_null(i),
            (_, Cell::Str(s)) => v.insert(i, s),
            (_, Cell::Bool(b)) => unsafe { v.as_mut_slice::<bool>()[i] = b },
            (_, Cell::I32(x)) => unsafe { v.as_mut_slice::<i32>()[i] = x },
            (_, Cell::U32(x)) => unsafe { v.as_mut_slice::<u32>()[i] = x },
            (_, Cell::I64(x)) | (_, Cell::Ts(x)) => unsafe { v.as_mut_slice::<i64>()[i] = x },
            (_, Cell::U64(x)) => unsafe { v.as_mut_slice::<u64>()[i] = x },
            (_, Cell::F64(x)) => unsafe { v.as_mut_slice::<f64>()[i] = x },
            (Some(t), Cell::StrList(_)) => {
                return Err(format!("internal error: list value in a {} column", t.sql_name()).into());
            }
        }
    }
    Ok(())
}
