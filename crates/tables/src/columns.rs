//! A table declaration as an Arrow schema, and the column builders rows are appended to.
//!
//! The Parquet schema of every recorded table comes from its [`TableDecl`] (the same
//! declaration that gives the SQL columns), so a file holds exactly the live table's columns,
//! in the same order, with the same types:
//!
//! | SQL type | Arrow type | Parquet physical (logical) type |
//! |---|---|---|
//! | UBIGINT | UInt64 | INT64 (INTEGER(64, unsigned)) |
//! | BIGINT | Int64 | INT64 |
//! | INTEGER | Int32 | INT32 |
//! | UINTEGER | UInt32 | INT32 (INTEGER(32, unsigned)) |
//! | DOUBLE | Float64 | DOUBLE |
//! | BOOLEAN | Boolean | BOOLEAN |
//! | VARCHAR | Utf8 | BYTE_ARRAY (STRING) |
//! | VARCHAR[] | List(Utf8) | LIST of BYTE_ARRAY (STRING) |
//! | TIMESTAMP WITH TIME ZONE | Timestamp(Microsecond, "UTC") | INT64 (TIMESTAMP(MICROS, isAdjustedToUTC = true)) |
//!
//! DuckDB reads `isAdjustedToUTC = true` back as `TIMESTAMP WITH TIME ZONE` (tested in
//! `test/python/test_recorder.py`). Every column is nullable: NULL is what the kernel did not
//! report.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType, UInt32Type};
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::schema::{Cell, ColType, Row, TableDecl};

/// The time zone written into timestamp columns.
pub const TIMESTAMP_TZ: &str = "UTC";

/// The Arrow type of a declared column.
pub fn arrow_type(ty: ColType) -> DataType {
    match ty {
        ColType::Boolean => DataType::Boolean,
        ColType::Integer => DataType::Int32,
        ColType::UInteger => DataType::UInt32,
        ColType::BigInt => DataType::Int64,
        ColType::UBigInt => DataType::UInt64,
        ColType::Double => DataType::Float64,
        ColType::Varchar => DataType::Utf8,
        ColType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMP_TZ.into())),
        ColType::VarcharList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        ColType::Date => DataType::Date32,
    }
}

/// The Arrow schema of a declared table: one nullable field per column, in order.
pub fn arrow_schema(decl: &TableDecl) -> SchemaRef {
    let fields: Vec<Field> = decl
        .columns
        .iter()
        .map(|c| Field::new(c.name, arrow_type(c.ty), true))
        .collect();
    Arc::new(Schema::new(fields))
}

enum Builder {
    Bool(BooleanBuilder),
    I32(Int32Builder),
    U32(UInt32Builder),
    I64(Int64Builder),
    U64(UInt64Builder),
    F64(Float64Builder),
    Str(StringBuilder),
    Ts(TimestampMicrosecondBuilder),
    List(ListBuilder<StringBuilder>),
    Date(Date32Builder),
}

impl Builder {
    fn new(ty: ColType) -> Builder {
        match ty {
            ColType::Boolean => Builder::Bool(BooleanBuilder::new()),
            ColType::Integer => Builder::I32(Int32Builder::new()),
            ColType::UInteger => Builder::U32(UInt32Builder::new()),
            ColType::BigInt => Builder::I64(Int64Builder::new()),
            ColType::UBigInt => Builder::U64(UInt64Builder::new()),
            ColType::Double => Builder::F64(Float64Builder::new()),
            ColType::Varchar => Builder::Str(StringBuilder::new()),
            ColType::TimestampTz => Builder::Ts(TimestampMicrosecondBuilder::new().with_timezone(TIMESTAMP_TZ)),
            ColType::VarcharList => Builder::List(ListBuilder::new(StringBuilder::new())),
            ColType::Date => Builder::Date(Date32Builder::new()),
        }
    }

    /// Appends `cell`; a cell of another type than the column's is written as NULL (the
    /// declaration makes that impossible, so it is never a panic either).
    fn append(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Builder::I32(b), Cell::I32(v)) => b.append_value(v),
            (Builder::U32(b), Cell::U32(v)) => b.append_value(v),
            (Builder::I64(b), Cell::I64(v)) => b.append_value(v),
            (Builder::U64(b), Cell::U64(v)) => b.append_value(v),
            (Builder::F64(b), Cell::F64(v)) => b.append_value(v),
            (Builder::Str(b), Cell::Str(v)) => b.append_value(v),
            (Builder::Ts(b), Cell::Ts(v)) => b.append_value(v),
            (Builder::Date(b), Cell::Date(v)) => b.append_value(v),
            (Builder::List(b), Cell::StrList(items)) => {
                for s in items {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::I32(b), _) => b.append_null(),
            (Builder::U32(b), _) => b.append_null(),
            (Builder::I64(b), _) => b.append_null(),
            (Builder::U64(b), _) => b.append_null(),
            (Builder::F64(b), _) => b.append_null(),
            (Builder::Str(b), _) => b.append_null(),
            (Builder::Ts(b), _) => b.append_null(),
            (Builder::List(b), _) => b.append(false),
            (Builder::Date(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::U32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::U64(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Ts(b) => Arc::new(b.finish()),
            Builder::List(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Builder::Bool(b) => b.len(),
            Builder::I32(b) => b.len(),
            Builder::U32(b) => b.len(),
            Builder::I64(b) => b.len(),
            Builder::U64(b) => b.len(),
            Builder::F64(b) => b.len(),
            Builder::Str(b) => b.len(),
            Builder::Ts(b) => b.len(),
            Builder::List(b) => b.len(),
            Builder::Date(b) => b.len(),
        }
    }
}

/// Rows of one declared table, buffered column by column until they are written.
pub struct Batch {
    decl: &'static TableDecl,
    schema: SchemaRef,
    builders: Vec<Builder>,
    /// Index of the `ts` column, if the table has one.
    ts_col: Option<usize>,
    rows: usize,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    /// While set, the `ts` of every row pushed (the recorder's tick time), whatever the row says.
    tick_ts: Option<i64>,
}

impl Batch {
    pub fn new(decl: &'static TableDecl) -> Batch {
        Batch {
            decl,
            schema: arrow_schema(decl),
            builders: decl.columns.iter().map(|c| Builder::new(c.ty)).collect(),
            ts_col: decl.column_index("ts"),
            rows: 0,
            first_ts: None,
            last_ts: None,
            tick_ts: None,
        }
    }

    /// Rows pushed from now on get `ts` as their `ts` (`None`: their own).
    pub fn set_tick_ts(&mut self, ts: Option<i64>) {
        self.tick_ts = ts;
    }

    pub fn decl(&self) -> &'static TableDecl {
        self.decl
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The smallest and largest `ts` of the buffered rows (microseconds since the epoch).
    pub fn ts_range(&self) -> Option<(i64, i64)> {
        self.first_ts.zip(self.last_ts)
    }

    /// Appends one row. `R` must be the row type of this batch's declaration.
    pub fn push<R: Row>(&mut self, row: &R) {
        debug_assert_eq!(R::TABLE.function, self.decl.function, "row of another table");
        for (i, b) in self.builders.iter_mut().enumerate() {
            let mut cell = row.cell(i);
            if Some(i) == self.ts_col
                && let Cell::Ts(own) = cell
            {
                let t = self.tick_ts.unwrap_or(own);
                cell = Cell::Ts(t);
                self.first_ts = Some(self.first_ts.map_or(t, |f| f.min(t)));
                self.last_ts = Some(self.last_ts.map_or(t, |l| l.max(t)));
            }
            b.append(cell);
        }
        self.rows += 1;
    }

    pub fn push_all<R: Row>(&mut self, rows: &[R]) {
        for r in rows {
            self.push(r);
        }
    }

    /// The buffered rows as one record batch; the batch is empty afterwards.
    pub fn take(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        self.first_ts = None;
        self.last_ts = None;
        debug_assert!(self.builders.iter().all(|b| b.len() == 0));
        RecordBatch::try_new(self.schema.clone(), columns)
    }
}

/// The columns that name a row's series, then `ts`: up to two VARCHAR, INTEGER or UINTEGER
/// columns right after `hostname` (`cpu`; `device`, `major`; `interface`; `resource`, `kind`;
/// `pid`, `ppid`...). Empty for a table without `ts`; just `ts` for a table of one row per tick.
/// Merged files hold their rows sorted by this key in chunks of [`SORT_ROWS`], so that each
/// series is contiguous (measured on a real recording: 20% fewer bytes, see `docs/recorder.md`).
pub fn series_key(decl: &TableDecl) -> Vec<usize> {
    let Some(ts) = decl.column_index("ts") else {
        return Vec::new();
    };
    let mut key: Vec<usize> = match decl.column_index("hostname") {
        Some(h) => decl.columns[h + 1..]
            .iter()
            .take_while(|c| matches!(c.ty, ColType::Varchar | ColType::Integer | ColType::UInteger))
            .take(2)
            .enumerate()
            .map(|(i, _)| h + 1 + i)
            .collect(),
        None => Vec::new(),
    };
    key.push(ts);
    key
}

/// Rows sorted at once when a merge writes them (bounds the memory of a merge).
pub const SORT_ROWS: usize = 8192;

enum KeyCol<'a> {
    Str(&'a arrow_array::StringArray),
    I32(&'a arrow_array::Int32Array),
    U32(&'a arrow_array::UInt32Array),
    Ts(&'a arrow_array::TimestampMicrosecondArray),
}

impl KeyCol<'_> {
    fn cmp(&self, a: usize, b: usize) -> std::cmp::Ordering {
        fn opt<T: Ord>(valid: (bool, bool), f: impl Fn(usize) -> T, a: usize, b: usize) -> std::cmp::Ordering {
            match valid {
                (true, true) => f(a).cmp(&f(b)),
                (x, y) => x.cmp(&y), // NULL first
            }
        }
        match self {
            KeyCol::Str(c) => opt((c.is_valid(a), c.is_valid(b)), |i| c.value(i), a, b),
            KeyCol::I32(c) => opt((c.is_valid(a), c.is_valid(b)), |i| c.value(i), a, b),
            KeyCol::U32(c) => opt((c.is_valid(a), c.is_valid(b)), |i| c.value(i), a, b),
            KeyCol::Ts(c) => opt((c.is_valid(a), c.is_valid(b)), |i| c.value(i), a, b),
        }
    }
}

/// `batch` with its rows sorted by the columns `key` (a stable sort; NULL first). Columns of
/// other types than text, 32-bit integers and timestamps are not sort keys and are skipped.
pub fn sort_rows(batch: &RecordBatch, key: &[usize]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<KeyCol<'_>> = key
        .iter()
        .filter_map(|&i| {
            let c = batch.columns().get(i)?;
            c.as_string_opt::<i32>()
                .map(KeyCol::Str)
                .or_else(|| c.as_primitive_opt::<Int32Type>().map(KeyCol::I32))
                .or_else(|| c.as_primitive_opt::<UInt32Type>().map(KeyCol::U32))
                .or_else(|| c.as_primitive_opt::<TimestampMicrosecondType>().map(KeyCol::Ts))
        })
        .collect();
    let n = u32::try_from(batch.num_rows()).map_err(|_| ArrowError::ComputeError("too many rows to sort".into()))?;
    let mut idx: Vec<u32> = (0..n).collect();
    idx.sort_by(|&a, &b| {
        cols.iter()
            .map(|c| c.cmp(a as usize, b as usize))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if idx.windows(2).all(|w| w[0] < w[1]) {
        return Ok(batch.clone());
    }
    arrow_select::take::take_record_batch(batch, &UInt32Array::from(idx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Timestamp;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, TimestampMicrosecondType, UInt64Type};

    crate::declare_table! {
        /// Rows of every type.
        pub struct AllTypes => "system_alltypes", recorded as "alltypes" every interval {
            /// When.
            ts: Timestamp [""],
            /// Name.
            name: String [""],
            /// Count.
            n: Option<u64> [""],
            /// Ratio.
            x: f64 [""],
            /// Flag.
            b: bool [""],
            /// Small.
            i: i32 [""],
            /// Small unsigned.
            u: Option<u32> [""],
            /// Signed.
            l: i64 [""],
            /// List.
            args: Vec<String> [""],
        }
    }

    fn row(t: i64) -> AllTypes {
        AllTypes {
            ts: Timestamp::from_micros(t),
            name: format!("r{t}"),
            n: if t % 2 == 0 { Some(t as u64) } else { None },
            x: if t == 3 { f64::NAN } else { t as f64 / 2.0 },
            b: t % 2 == 0,
            i: -(t as i32),
            u: Some(t as u32),
            l: t * 1000,
            args: vec!["a".into(), format!("{t}")],
        }
    }

    #[test]
    fn schema_follows_declaration() {
        let s = arrow_schema(AllTypes::TABLE);
        let types: Vec<_> = s.fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(types[0], DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
        assert_eq!(types[1], DataType::Utf8);
        assert_eq!(types[2], DataType::UInt64);
        assert_eq!(types[3], DataType::Float64);
        assert_eq!(types[4], DataType::Boolean);
        assert_eq!(types[5], DataType::Int32);
        assert_eq!(types[6], DataType::UInt32);
        assert_eq!(types[7], DataType::Int64);
        assert!(matches!(types[8], DataType::List(_)));
        assert!(s.fields().iter().all(|f| f.is_nullable()));
        let names: Vec<_> = s.fields().iter().map(|f| f.name().as_str()).collect();
        let declared: Vec<_> = AllTypes::TABLE.columns.iter().map(|c| c.name).collect();
        assert_eq!(names, declared);
    }

    #[test]
    fn rows_sort_by_series_then_ts() {
        let key = series_key(AllTypes::TABLE);
        // `name` follows `ts` here, not `hostname`: the key is just `ts`.
        assert_eq!(key, vec![0]);
        let cpus = series_key(crate::cpus::CpusRow::TABLE);
        let names: Vec<_> = cpus
            .iter()
            .map(|&i| crate::cpus::CpusRow::TABLE.columns[i].name)
            .collect();
        assert_eq!(names, ["cpu", "ts"]);
        let mut b = Batch::new(AllTypes::TABLE);
        for t in [5, 2, 3, 9, 1] {
            b.push(&row(t));
        }
        let rb = b.take().unwrap();
        // By `i` (= -t) then ts: 9, 5, 3, 2, 1.
        let sorted = sort_rows(&rb, &[5, 0]).unwrap();
        let ts = sorted.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.values().to_vec(), vec![9, 5, 3, 2, 1]);
        // Every column moved with its row.
        let names = sorted.column(1).as_string::<i32>();
        assert_eq!(names.value(0), "r9");
        assert_eq!(names.value(4), "r1");
        let by_ts = sort_rows(&rb, &[0]).unwrap();
        let ts = by_ts.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.values().to_vec(), vec![1, 2, 3, 5, 9]);
    }

    #[test]
    fn batch_holds_cells_and_resets() {
        let mut b = Batch::new(AllTypes::TABLE);
        for t in [5, 2, 3] {
            b.push(&row(t));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.ts_range(), Some((2, 5)));
        let rb = b.take().unwrap();
        assert_eq!(rb.num_rows(), 3);
        assert!(b.is_empty() && b.ts_range().is_none());
        let ts = rb.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.values().to_vec(), vec![5, 2, 3]);
        let n = rb.column(2).as_primitive::<UInt64Type>();
        assert!(n.is_null(0) && n.value(1) == 2 && n.is_null(2));
        let x = rb.column(3).as_primitive::<Float64Type>();
        assert!(x.is_null(2), "NaN is written as NULL");
        let l = rb.column(8).as_list::<i32>();
        assert_eq!(l.value(1).as_string::<i32>().value(1), "2");
        // A second round uses the same builders.
        b.push(&row(9));
        assert_eq!(b.take().unwrap().num_rows(), 1);
    }
}
