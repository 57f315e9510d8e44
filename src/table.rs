//! One generic DuckDB table function for every declared table.
//!
//! A [`LiveTable`] says how to read its options in bind and how to collect its rows; the
//! columns come from the row type's declaration (`sysmon_tables::schema`), so the SQL columns are
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
use sysmon_kernel::sync::lock;
use sysmon_tables::schema::{Cell, ColType, Row};

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
        ColType::Date => LogicalTypeId::Date,
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
        // An INTERVAL or a number of seconds: bind reads either (`crate::params::interval_value`).
        ParamType::Interval => LogicalTypeId::Any,
        ParamType::TimestampTz => LogicalTypeId::TimestampTZ,
        ParamType::Any => LogicalTypeId::Any,
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

/// One value to write, of the physical type its column was declared with (see [`slot`]).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot<'a> {
    Null,
    Bool(bool),
    I32(i32),
    U32(u32),
    /// BIGINT, and TIMESTAMP WITH TIME ZONE as microseconds since the epoch.
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'a str),
    List(&'a [String]),
}

/// What to write for `cell` into a column declared `ty`: the match is on both, so a variant
/// of [`Slot`] only ever comes from the declared types whose vectors hold that Rust type.
/// `None` when the cell is of another type than the column (a `Row` impl that disagrees with
/// its own declaration).
fn slot(ty: ColType, cell: Cell<'_>) -> Option<Slot<'_>> {
    Some(match (ty, cell) {
        (_, Cell::Null) => Slot::Null,
        (ColType::Boolean, Cell::Bool(b)) => Slot::Bool(b),
        (ColType::Integer, Cell::I32(x)) | (ColType::Date, Cell::Date(x)) => Slot::I32(x),
        (ColType::UInteger, Cell::U32(x)) => Slot::U32(x),
        (ColType::BigInt, Cell::I64(x)) | (ColType::TimestampTz, Cell::Ts(x)) => Slot::I64(x),
        (ColType::UBigInt, Cell::U64(x)) => Slot::U64(x),
        (ColType::Double, Cell::F64(x)) => Slot::F64(x),
        (ColType::Varchar, Cell::Str(s)) => Slot::Str(s),
        (ColType::VarcharList, Cell::StrList(items)) => Slot::List(items),
        _ => return None,
    })
}

/// The SQL type a cell holds, for error messages.
fn cell_type(cell: Cell<'_>) -> &'static str {
    match cell {
        Cell::Null => "NULL",
        Cell::Bool(_) => ColType::Boolean.sql_name(),
        Cell::I32(_) => ColType::Integer.sql_name(),
        Cell::U32(_) => ColType::UInteger.sql_name(),
        Cell::I64(_) => ColType::BigInt.sql_name(),
        Cell::U64(_) => ColType::UBigInt.sql_name(),
        Cell::F64(_) => ColType::Double.sql_name(),
        Cell::Str(_) => ColType::Varchar.sql_name(),
        Cell::Ts(_) => ColType::TimestampTz.sql_name(),
        Cell::StrList(_) => ColType::VarcharList.sql_name(),
        Cell::Date(_) => ColType::Date.sql_name(),
    }
}

/// The slot for declared column `col` of `row`: NULL past the declared columns (DuckDB's row
/// id), an error naming the table, the column and both types when the row's cell does not
/// have the declared type.
fn row_slot<R: Row>(row: &R, col: usize) -> Result<Slot<'_>, BoxError> {
    let Some(column) = R::TABLE.columns.get(col) else {
        return Ok(Slot::Null);
    };
    let cell = row.cell(col);
    slot(column.ty, cell).ok_or_else(|| {
        format!(
            "internal error: {}() column {} is declared {} but a row gave a {} value",
            R::TABLE.function,
            column.name,
            column.ty.sql_name(),
            cell_type(cell)
        )
        .into()
    })
}

/// Writes declared column `col` of `rows` into output vector `out_col`. Every value goes
/// through [`row_slot`], so the Rust type written is always the declared column's: a row that
/// disagrees with its declaration is an error, never a write of the wrong width.
fn write_column<R: Row>(output: &DataChunkHandle, out_col: usize, col: usize, rows: &[R]) -> Result<(), BoxError> {
    if R::TABLE.columns.get(col).map(|c| c.ty) == Some(ColType::VarcharList) {
        let slots = rows.iter().map(|r| row_slot(r, col)).collect::<Result<Vec<_>, _>>()?;
        let mut list = output.list_vector(out_col);
        let total: usize = slots
            .iter()
            .map(|s| match s {
                Slot::List(items) => items.len(),
                _ => 0,
            })
            .sum();
        let child = list.child(total.max(1));
        let mut offset = 0;
        for (i, s) in slots.iter().enumerate() {
            match s {
                Slot::List(items) => {
                    for (j, item) in items.iter().enumerate() {
                        child.insert(offset + j, item.as_str());
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
        // SAFETY (each slice write below): `slot` yields Bool/I32/U32/I64/U64/F64 only for a
        // column declared BOOLEAN/INTEGER/UINTEGER/BIGINT or TIMESTAMPTZ/UBIGINT/DOUBLE, and bind
        // created the vector from that declaration (`logical_type`), so its physical type is the
        // slice's element type; `i` is below the chunk length, which is at most the capacity
        // (and the slice index is checked regardless).
        match row_slot(r, col)? {
            Slot::Null => v.set_null(i),
            Slot::Str(s) => v.insert(i, s),
            // SAFETY: the declared type matches the slice type (see above).
            Slot::Bool(b) => unsafe { v.as_mut_slice::<bool>()[i] = b },
            // SAFETY: the declared type matches the slice type (see above).
            Slot::I32(x) => unsafe { v.as_mut_slice::<i32>()[i] = x },
            // SAFETY: the declared type matches the slice type (see above).
            Slot::U32(x) => unsafe { v.as_mut_slice::<u32>()[i] = x },
            // SAFETY: the declared type matches the slice type (see above).
            Slot::I64(x) => unsafe { v.as_mut_slice::<i64>()[i] = x },
            // SAFETY: the declared type matches the slice type (see above).
            Slot::U64(x) => unsafe { v.as_mut_slice::<u64>()[i] = x },
            // SAFETY: the declared type matches the slice type (see above).
            Slot::F64(x) => unsafe { v.as_mut_slice::<f64>()[i] = x },
            Slot::List(_) => {
                return Err(format!(
                    "internal error: {}() wrote a list into a flat vector",
                    R::TABLE.function
                )
                .into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sysmon_tables::schema::{Column, TableDecl};

    use super::*;

    /// A row that declares `flag` BOOLEAN but hands out a BIGINT for it: the unsound case a safe
    /// `Row` impl can produce.
    struct LyingRow;

    impl Row for LyingRow {
        const TABLE: &'static TableDecl = &TableDecl {
            recorded: None,
            function: "system_lying",
            doc: "A row whose cells disagree with its declaration.",
            columns: &[
                Column {
                    name: "flag",
                    ty: ColType::Boolean,
                    unit: "",
                    doc: "Declared BOOLEAN.",
                },
                Column {
                    name: "tags",
                    ty: ColType::VarcharList,
                    unit: "",
                    doc: "Declared VARCHAR[].",
                },
            ],
        };

        fn cell(&self, col: usize) -> Cell<'_> {
            match col {
                0 => Cell::I64(1 << 40),
                1 => Cell::Str("not a list"),
                _ => Cell::Null,
            }
        }
    }

    #[test]
    fn a_cell_that_disagrees_with_its_column_is_refused() {
        let err = row_slot(&LyingRow, 0).unwrap_err().to_string();
        assert_eq!(
            err,
            "internal error: system_lying() column flag is declared BOOLEAN but a row gave a BIGINT value"
        );
        let err = row_slot(&LyingRow, 1).unwrap_err().to_string();
        assert!(
            err.contains("column tags is declared VARCHAR[] but a row gave a VARCHAR value"),
            "{err}"
        );
        // Past the declared columns is DuckDB's row id: NULL, not an error.
        assert_eq!(row_slot(&LyingRow, 2).unwrap(), Slot::Null);
    }

    #[test]
    fn every_declared_type_accepts_its_own_cell_and_null_only() {
        let list = vec!["a".to_string()];
        let cells = [
            (ColType::Boolean, Cell::Bool(true)),
            (ColType::Integer, Cell::I32(-1)),
            (ColType::UInteger, Cell::U32(1)),
            (ColType::BigInt, Cell::I64(-1)),
            (ColType::UBigInt, Cell::U64(1)),
            (ColType::Double, Cell::F64(0.5)),
            (ColType::Varchar, Cell::Str("x")),
            (ColType::TimestampTz, Cell::Ts(1)),
            (ColType::VarcharList, Cell::StrList(&list)),
            (ColType::Date, Cell::Date(3)),
        ];
        for (ty, _) in cells {
            assert_eq!(slot(ty, Cell::Null), Some(Slot::Null), "{ty:?}");
            for (other, cell) in cells {
                assert_eq!(slot(ty, cell).is_some(), ty == other, "{ty:?} given {cell:?}");
            }
        }
        assert_eq!(slot(ColType::TimestampTz, Cell::Ts(7)), Some(Slot::I64(7)));
    }
}
