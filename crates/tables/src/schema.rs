//! Table declarations: the single source of every table's columns.
//!
//! Each table is declared once with [`declare_table!`](crate::declare_table): the row struct, and
//! for every column its name (the field name), its SQL type (derived from the field's Rust type
//! through [`ColumnValue`]), its unit and its meaning. That one declaration drives
//!
//! * the SQL table function's result columns (the DuckDB binding reads [`TableDecl::columns`]),
//! * the recorder's Parquet schema (same columns, same order, same types),
//! * docs/reference.md's column reference ([`markdown_reference`], checked by a unit test),
//!
//! so the three cannot drift apart.
//!
//! Type mapping, for every table: `u64` is `UBIGINT` (cumulative counters, byte counts),
//! `f64` is `DOUBLE` (cumulative seconds, gauges, percentages), `i64` is `BIGINT`, `i32` is
//! `INTEGER`, `u32` is `UINTEGER`, `bool` is `BOOLEAN`, `String` is `VARCHAR`, `Vec<String>` is
//! `VARCHAR[]` and [`Timestamp`] is `TIMESTAMP WITH TIME ZONE`. `Option<T>` is the same type,
//! NULL when `None`: the value the platform or kernel did not report.

use std::fmt::Write as _;

/// The SQL type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    Boolean,
    Integer,
    UInteger,
    BigInt,
    UBigInt,
    Double,
    Varchar,
    /// `TIMESTAMP WITH TIME ZONE`, microseconds since the Unix epoch.
    TimestampTz,
    /// `VARCHAR[]`.
    VarcharList,
    /// `DATE`, days since the Unix epoch (`read_recording`'s `date`, as the hive layout has it).
    Date,
}

impl ColType {
    /// The type's name as DuckDB spells it.
    pub fn sql_name(self) -> &'static str {
        match self {
            ColType::Boolean => "BOOLEAN",
            ColType::Integer => "INTEGER",
            ColType::UInteger => "UINTEGER",
            ColType::BigInt => "BIGINT",
            ColType::UBigInt => "UBIGINT",
            ColType::Double => "DOUBLE",
            ColType::Varchar => "VARCHAR",
            ColType::TimestampTz => "TIMESTAMP WITH TIME ZONE",
            ColType::VarcharList => "VARCHAR[]",
            ColType::Date => "DATE",
        }
    }
}

/// One column of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    /// The unit, empty when the value has none (a name, an id, a count).
    pub unit: &'static str,
    /// What the value means, one sentence.
    pub doc: &'static str,
}

/// One table: the SQL function that answers it live and, where it is recorded, its folder.
#[derive(Debug)]
pub struct TableDecl {
    /// The SQL table function, e.g. `system_metrics`.
    pub function: &'static str,
    /// Whether and how the recorder writes this table; `None` for a table that is not
    /// recorded (static facts, the recorder's own functions, test hooks).
    pub recorded: Option<Recorded>,
    /// What one row is.
    pub doc: &'static str,
    pub columns: &'static [Column],
}

/// How the recorder writes a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The folder `<dir>/<name>/` and the name accepted in `record_metrics(tables := [...])`.
    pub name: &'static str,
    pub cadence: Cadence,
    /// Whether it is recorded when `tables` is not given.
    pub by_default: ByDefault,
}

/// Whether a recorded table is recorded when `record_metrics` is not given `tables`.
#[derive(Clone, Copy, Debug)]
pub enum ByDefault {
    /// Always (`recorded as "x" every ...`).
    Always,
    /// Only when named in `tables := [...]` (`... when named`).
    WhenNamed,
    /// Where the predicate holds on the recorder's live state when it starts
    /// (`... by default if path::to::predicate`): a table that has rows only on some hosts.
    If(fn(&sysmon_live::LiveState) -> bool),
}

impl ByDefault {
    /// Whether the table is a default table of a recorder started on `state`.
    pub fn holds(self, state: &sysmon_live::LiveState) -> bool {
        match self {
            ByDefault::Always => true,
            ByDefault::WhenNamed => false,
            ByDefault::If(predicate) => predicate(state),
        }
    }
}

impl PartialEq for ByDefault {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ByDefault::Always, ByDefault::Always) | (ByDefault::WhenNamed, ByDefault::WhenNamed) => true,
            (ByDefault::If(a), ByDefault::If(b)) => std::ptr::fn_addr_eq(*a, *b),
            _ => false,
        }
    }
}

impl Eq for ByDefault {}

/// How often the recorder samples a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cadence {
    /// At every tick of `interval`.
    Host,
    /// At the ticks of the coarser `process_interval` (tables whose cost grows with the
    /// number of processes, cgroups or mounts).
    Process,
}

impl TableDecl {
    /// Index of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

pub use sysmon_kernel::time::Timestamp;

/// One value of one row, borrowed from the row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'a str),
    /// Microseconds since the Unix epoch.
    Ts(i64),
    StrList(&'a [String]),
    /// Days since the Unix epoch.
    Date(i32),
}

/// A Rust field type that can be a column: its SQL type and how to read it as a [`Cell`].
pub trait ColumnValue {
    const TYPE: ColType;
    fn cell(&self) -> Cell<'_>;
}

macro_rules! column_value {
    ($t:ty, $ty:ident, |$v:ident| $e:expr) => {
        impl ColumnValue for $t {
            const TYPE: ColType = ColType::$ty;
            fn cell(&self) -> Cell<'_> {
                let $v = self;
                $e
            }
        }
    };
}

column_value!(bool, Boolean, |v| Cell::Bool(*v));
column_value!(i32, Integer, |v| Cell::I32(*v));
column_value!(u32, UInteger, |v| Cell::U32(*v));
column_value!(i64, BigInt, |v| Cell::I64(*v));
column_value!(u64, UBigInt, |v| Cell::U64(*v));
column_value!(f64, Double, |v| if v.is_finite() { Cell::F64(*v) } else { Cell::Null });
column_value!(String, Varchar, |v| Cell::Str(v.as_str()));
column_value!(Timestamp, TimestampTz, |v| Cell::Ts(v.micros));
column_value!(Vec<String>, VarcharList, |v| Cell::StrList(v.as_slice()));
column_value!(Date, Date, |v| Cell::Date(v.days));

/// A `DATE` value: days since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub days: i32,
}

impl<T: ColumnValue> ColumnValue for Option<T> {
    const TYPE: ColType = T::TYPE;
    fn cell(&self) -> Cell<'_> {
        match self {
            Some(v) => v.cell(),
            None => Cell::Null,
        }
    }
}

/// A group of columns declared once and shared by several tables (the CPU columns of
/// `system_metrics` and `system_cpus`), declared with [`declare_columns!`](crate::declare_columns).
pub trait ColumnGroup {
    const COLUMNS: &'static [Column];
    /// The value of column `col` (an index into `COLUMNS`); `Null` past the end.
    fn group_cell(&self, col: usize) -> Cell<'_>;
}

/// A row of a declared table.
pub trait Row {
    const TABLE: &'static TableDecl;
    /// The value of column `col` (an index into `TABLE.columns`); `Null` past the end.
    fn cell(&self, col: usize) -> Cell<'_>;
}

/// `parts` laid end to end (the columns of a declaration with groups); `N` must be their total.
pub const fn concat_columns<const N: usize>(parts: &[&[Column]]) -> [Column; N] {
    const BLANK: Column = Column {
        name: "",
        ty: ColType::Boolean,
        unit: "",
        doc: "",
    };
    let mut out = [BLANK; N];
    let (mut k, mut i) = (0, 0);
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[k] = parts[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(k == N, "column count mismatch");
    out
}

/// For each column of a declaration whose entries have `lens` columns each (1 for a column, the
/// group's size for a group): (entry, column within the entry).
pub const fn column_map<const N: usize>(lens: &[usize]) -> [(u16, u16); N] {
    let mut out = [(0u16, 0u16); N];
    let (mut k, mut e) = (0, 0);
    while e < lens.len() {
        let mut j = 0;
        while j < lens[e] {
            out[k] = (e as u16, j as u16);
            k += 1;
            j += 1;
        }
        e += 1;
    }
    assert!(k == N, "column count mismatch");
    out
}

/// Declares a table: its row struct (with `Default`: every `Option` `None`) and its
/// [`TableDecl`].
///
/// `=> "system_widgets"` names the SQL function. `, recorded as "widgets" every interval`
/// also makes the recorder write it into the folder `widgets/` at every tick of `interval`
/// (`every process_interval`: at the ticks of `process_interval`), by default; only when
/// named in `tables := [...]` with `when named` at the end; or by default where a predicate on
/// the recorder's [`LiveState`](sysmon_live::LiveState) holds, with `by default if <fn path>`
/// at the end (see [`ByDefault`]). A field `name: Group [..]` embeds a [`ColumnGroup`]'s
/// columns at that place.
///
/// ```
/// sysmon_tables::declare_table! {
///     /// One row per widget.
///     pub struct WidgetRow => "system_widgets", recorded as "widgets" every interval {
///         /// Name of the widget.
///         name: String [""],
///         /// Size of the widget.
///         size_bytes: Option<u64> ["bytes"],
///     }
/// }
/// use sysmon_tables::schema::Row;
/// assert_eq!(WidgetRow::TABLE.columns[1].name, "size_bytes");
/// assert_eq!(WidgetRow::TABLE.recorded.unwrap().name, "widgets");
/// ```
#[macro_export]
macro_rules! declare_table {
    (
        $(#[doc = $tdoc:literal])+
        $vis:vis struct $row:ident => $function:literal
            $(, recorded as $folder:literal every $cadence:ident
                $(when $named:ident)? $(by default if $predicate:path)?)? {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty [$($unit:tt)*]
            ),* $(,)?
        }
    ) => {
        $crate::declare_columns! {
            $(#[doc = $tdoc])+
            $vis struct $row {
                $( $(#[doc = $doc])* $field : $ty [$($unit)*] ),*
            }
        }

        impl $crate::schema::Row for $row {
            const TABLE: &'static $crate::schema::TableDecl = &$crate::schema::TableDecl {
                function: $function,
                recorded: $crate::__recorded!($($folder $cadence [$($named)?] [$($predicate)?])?),
                doc: concat!($($tdoc),+),
                columns: <$row as $crate::schema::ColumnGroup>::COLUMNS,
            };

            fn cell(&self, col: usize) -> $crate::schema::Cell<'_> {
                $crate::schema::ColumnGroup::group_cell(self, col)
            }
        }
    };
}

/// Declares a [`ColumnGroup`]: a struct whose fields are columns (or groups), with the same
/// field syntax as [`declare_table!`](crate::declare_table).
#[macro_export]
macro_rules! declare_columns {
    (
        $(#[doc = $tdoc:literal])+
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty [$($unit:tt)*]
            ),* $(,)?
        }
    ) => {
        $(#[doc = $tdoc])+
        #[derive(Debug, Clone, Default, PartialEq)]
        $vis struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
        }

        impl $crate::schema::ColumnGroup for $name {
            const COLUMNS: &'static [$crate::schema::Column] = {
                const N: usize = 0 $(+ $crate::__entry_columns!([$($unit)*] $field $ty []).len())*;
                const COLUMNS: [$crate::schema::Column; N] = $crate::schema::concat_columns::<N>(&[
                    $( $crate::__entry_columns!([$($unit)*] $field $ty [$($doc)*]) ),*
                ]);
                &COLUMNS
            };

            fn group_cell(&self, col: usize) -> $crate::schema::Cell<'_> {
                type Getter = for<'a> fn(&'a $name, usize) -> $crate::schema::Cell<'a>;
                const GETTERS: &[Getter] = &[ $( $crate::__entry_getter!([$($unit)*] $name, $field) ),* ];
                const N: usize = <$name as $crate::schema::ColumnGroup>::COLUMNS.len();
                const MAP: [(u16, u16); N] = $crate::schema::column_map::<N>(&[
                    $( $crate::__entry_columns!([$($unit)*] $field $ty []).len() ),*
                ]);
                match MAP.get(col) {
                    Some(&(e, j)) => match GETTERS.get(usize::from(e)) {
                        Some(get) => get(self, usize::from(j)),
                        None => $crate::schema::Cell::Null,
                    },
                    None => $crate::schema::Cell::Null,
                }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __recorded {
    () => {
        None
    };
    ($folder:literal $cadence:ident [$($named:ident)?] [$($predicate:path)?]) => {
        Some($crate::schema::Recorded {
            name: $folder,
            cadence: $crate::__cadence!($cadence),
            by_default: $crate::__by_default!([$($named)?] [$($predicate)?]),
        })
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __cadence {
    (interval) => {
        $crate::schema::Cadence::Host
    };
    (process_interval) => {
        $crate::schema::Cadence::Process
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __by_default {
    ([] []) => {
        $crate::schema::ByDefault::Always
    };
    ([named] []) => {
        $crate::schema::ByDefault::WhenNamed
    };
    ([] [$predicate:path]) => {
        $crate::schema::ByDefault::If($predicate)
    };
}

/// The columns of one entry of a declaration: a group's, or one column.
#[doc(hidden)]
#[macro_export]
macro_rules! __entry_columns {
    ([..] $field:ident $ty:ty [$($doc:literal)*]) => {
        <$ty as $crate::schema::ColumnGroup>::COLUMNS
    };
    ([$unit:literal] $field:ident $ty:ty [$($doc:literal)*]) => {
        &[$crate::schema::Column {
            name: stringify!($field),
            ty: <$ty as $crate::schema::ColumnValue>::TYPE,
            unit: $unit,
            doc: concat!($($doc),*),
        }]
    };
}

/// The cell getter of one entry of a declaration.
#[doc(hidden)]
#[macro_export]
macro_rules! __entry_getter {
    ([..] $row:ty, $field:ident) => {{
        fn get(r: &$row, j: usize) -> $crate::schema::Cell<'_> {
            $crate::schema::ColumnGroup::group_cell(&r.$field, j)
        }
        get
    }};
    ([$unit:literal] $row:ty, $field:ident) => {{
        fn get(r: &$row, _: usize) -> $crate::schema::Cell<'_> {
            $crate::schema::ColumnValue::cell(&r.$field)
        }
        get
    }};
}

/// docs/reference.md's column reference for `tables`, in Markdown.
pub fn markdown_reference(tables: &[&TableDecl]) -> String {
    let mut out = String::new();
    for t in tables {
        let _ = writeln!(out, "#### `{}()`\n", t.function);
        let _ = writeln!(out, "{}\n", t.doc.trim());
        let _ = writeln!(out, "| column | type | unit | meaning |");
        let _ = writeln!(out, "|---|---|---|---|");
        for c in t.columns {
            let unit = if c.unit.is_empty() { "" } else { c.unit };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                c.name,
                c.ty.sql_name(),
                unit,
                c.doc.trim().replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    out
}

/// Markers around the generated reference in docs/reference.md.
pub const README_BEGIN: &str = "<!-- BEGIN GENERATED COLUMN REFERENCE (make docs) -->";
pub const README_END: &str = "<!-- END GENERATED COLUMN REFERENCE -->";

/// `readme` with the text between the markers replaced by `reference`; `None` if a marker is missing.
pub fn splice_reference(readme: &str, reference: &str) -> Option<String> {
    let begin = readme.find(README_BEGIN)? + README_BEGIN.len();
    let end = readme[begin..].find(README_END)? + begin;
    Some(format!("{}\n\n{}{}", &readme[..begin], reference, &readme[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::declare_columns! {
        /// A group.
        pub struct Pair {
            /// First.
            first_bytes: u64 ["bytes"],
            /// Second.
            second: Option<i32> [""],
        }
    }

    crate::declare_table! {
        /// Test rows.
        pub struct TestRow => "system_test", recorded as "test" every process_interval when named {
            /// A name.
            name: String [""],
            /// A size.
            size_bytes: Option<u64> ["bytes"],
            /// When.
            ts: Timestamp [""],
            /// Ratio.
            ratio_pct: f64 ["percent"],
            /// Arguments.
            args: Vec<String> [""],
            pair: Pair [..],
            /// After the group.
            last: bool [""],
        }
    }

    fn has_widgets(state: &sysmon_live::LiveState) -> bool {
        state.roots().proc("widgets").exists()
    }

    crate::declare_table! {
        /// Rows only on some hosts.
        pub struct SomeRow => "system_some", recorded as "some" every interval by default if has_widgets {
            /// A count.
            n: u64 [""],
        }
    }

    #[test]
    fn recorded_by_default_always_when_named_or_where_a_predicate_holds() {
        let state = sysmon_live::LiveState::new(sysmon_kernel::procfs::Roots::test_fixture("modern"));
        let by_default = |t: &TableDecl| t.recorded.unwrap().by_default;
        assert_eq!(by_default(SomeRow::TABLE), ByDefault::If(has_widgets));
        assert!(
            !by_default(SomeRow::TABLE).holds(&state),
            "the fixture has no /proc/widgets"
        );
        assert!(!by_default(TestRow::TABLE).holds(&state));
        assert_eq!(by_default(crate::metrics::MetricsRow::TABLE), ByDefault::Always);
        assert!(ByDefault::Always.holds(&state));
        assert_ne!(ByDefault::If(has_widgets), ByDefault::Always);
    }

    #[test]
    fn declaration_drives_columns_and_cells() {
        let t = TestRow::TABLE;
        assert_eq!(t.function, "system_test");
        let names: Vec<_> = t.columns.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "name",
                "size_bytes",
                "ts",
                "ratio_pct",
                "args",
                "first_bytes",
                "second",
                "last"
            ]
        );
        assert_eq!(
            t.recorded,
            Some(Recorded {
                name: "test",
                cadence: Cadence::Process,
                by_default: ByDefault::WhenNamed
            })
        );
        assert_eq!(t.columns[5].unit, "bytes");
        assert_eq!(t.columns[5].doc, " First.");
        assert_eq!(t.columns[1].ty, ColType::UBigInt);
        assert_eq!(t.columns[2].ty, ColType::TimestampTz);
        assert_eq!(t.columns[4].ty, ColType::VarcharList);
        assert_eq!(t.columns[1].unit, "bytes");
        let r = TestRow {
            name: "a".into(),
            size_bytes: None,
            ts: Timestamp::from_micros(5),
            ratio_pct: f64::NAN,
            args: vec!["x".into()],
            pair: Pair {
                first_bytes: 7,
                second: None,
            },
            last: true,
        };
        assert_eq!(r.cell(0), Cell::Str("a"));
        assert_eq!(r.cell(1), Cell::Null);
        assert_eq!(r.cell(2), Cell::Ts(5));
        assert_eq!(r.cell(3), Cell::Null, "a non-finite double is NULL, never NaN");
        assert_eq!(r.cell(4), Cell::StrList(&["x".to_string()]));
        assert_eq!(r.cell(5), Cell::U64(7), "a group's columns sit where the group is");
        assert_eq!(r.cell(6), Cell::Null);
        assert_eq!(r.cell(7), Cell::Bool(true));
        assert_eq!(r.cell(8), Cell::Null);
        let blank = TestRow::default();
        assert_eq!(blank.cell(1), Cell::Null, "Default leaves every Option None");
    }

    #[test]
    fn markdown_lists_every_column() {
        let md = markdown_reference(&[TestRow::TABLE]);
        assert!(md.contains("#### `system_test()`"));
        assert!(md.contains("| `size_bytes` | UBIGINT | bytes | A size. |"));
        let readme = format!("head\n{README_BEGIN}\nold\n{README_END}\ntail");
        let new = splice_reference(&readme, &md).unwrap();
        assert!(new.contains("| `ratio_pct` | DOUBLE"));
        assert!(!new.contains("old"));
        assert!(new.ends_with(&format!("{README_END}\ntail")));
    }
}
