//! The recorder's view of the table registry: which tables it records, and how each is driven
//! on its two threads.
//!
//! A table is recordable when its declaration says so (`recorded as "..." every ...` in
//! [`declare_table!`](crate::declare_table)); nothing else is needed. For each recorded table
//! a recorder keeps one [`RecordedTable`], made by [`recorded::<T>`](recorded) for the table's
//! [`Table`] type: at each of the table's ticks the sampling thread takes its [`Input`] (and,
//! for a table whose rows are the reads, the rows), and the writer thread turns that into
//! rows with the same [`Table::rows`] the SQL function uses.

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

use super::columns::Batch;
use super::{ALL, Input, Table, TableEntry, Tick};
use crate::schema::{ByDefault, Cadence, TableDecl};
use sysmon_live::LiveState;

/// One recorded table, driven by a recorder's sampling thread.
pub trait RecordedTable: Send {
    /// The reads of one of the table's ticks (on the sampling thread).
    fn sample(&mut self, state: &LiveState, tick: &Tick) -> io::Result<Box<dyn TickRows>>;
    /// [`Input::DRAINED`] of the table's input: its recorder samples it once more at stop.
    fn drained(&self) -> bool;
}

/// What a tick's reads become on the writer thread: rows in the table's batch.
pub trait TickRows: Send {
    fn push(&self, state: &LiveState, out: &mut Batch) -> io::Result<()>;
}

/// The [`RecordedTable`] of `T`.
pub fn recorded<T: Table>() -> Box<dyn RecordedTable> {
    Box::new(Recording::<T> { prev: None })
}

struct Recording<T: Table> {
    prev: Option<Arc<T::Input>>,
}

impl<T: Table> RecordedTable for Recording<T> {
    fn drained(&self) -> bool {
        T::Input::DRAINED
    }

    fn sample(&mut self, state: &LiveState, tick: &Tick) -> io::Result<Box<dyn TickRows>> {
        let input = Arc::new(T::Input::tick(state, tick, self.prev.as_deref())?);
        self.prev = Some(input.clone());
        if T::Input::READS {
            let rows = T::rows(&input, state, &T::Options::default())?;
            return Ok(Box::new(ReadRows(rows)));
        }
        Ok(Box::new(Deferred::<T> {
            input,
            table: PhantomData,
        }))
    }
}

/// Rows already made on the sampling thread (their making was the reads).
struct ReadRows<R>(Vec<R>);

impl<R: crate::schema::Row + Send + Sync> TickRows for ReadRows<R> {
    fn push(&self, _: &LiveState, out: &mut Batch) -> io::Result<()> {
        out.push_all(&self.0);
        Ok(())
    }
}

/// An input whose rows the writer thread makes.
struct Deferred<T: Table> {
    input: Arc<T::Input>,
    table: PhantomData<fn() -> T>,
}

impl<T: Table> TickRows for Deferred<T> {
    fn push(&self, state: &LiveState, out: &mut Batch) -> io::Result<()> {
        out.push_all(&T::rows(&self.input, state, &T::Options::default())?);
        Ok(())
    }
}

/// A table the recorder can write.
#[derive(Clone, Copy, Debug)]
pub struct RecordableTable {
    pub entry: &'static TableEntry,
    pub name: &'static str,
    pub cadence: Cadence,
    pub by_default: ByDefault,
}

impl RecordableTable {
    pub fn decl(&self) -> &'static TableDecl {
        self.entry.decl
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Every recordable table, in the registry's order.
pub fn all() -> impl Iterator<Item = RecordableTable> {
    ALL.iter().filter_map(|entry| {
        let r = entry.decl.recorded?;
        Some(RecordableTable {
            entry,
            name: r.name,
            cadence: r.cadence,
            by_default: r.by_default,
        })
    })
}

/// The recordable table called `name`.
pub fn find(name: &str) -> Option<RecordableTable> {
    all().find(|t| t.name == name)
}

/// The names accepted in `tables := [...]`, comma-separated, for error messages.
pub fn accepted_names() -> String {
    all().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// The tables a recorder started on `state` records when none are named (a table declared
/// `by default if <predicate>` only where the predicate holds on `state`).
pub fn defaults(state: &LiveState) -> Vec<RecordableTable> {
    all().filter(|t| t.by_default.holds(state)).collect()
}

/// The tables for `names`, in the order given, without repeats; an error naming the first
/// unknown name and listing the accepted ones.
pub fn resolve(names: &[String]) -> Result<Vec<RecordableTable>, String> {
    if names.is_empty() {
        return Err(format!(
            "tables must name at least one table; accepted: {}",
            accepted_names()
        ));
    }
    let mut out: Vec<RecordableTable> = Vec::new();
    for n in names {
        let bare = n.strip_prefix("system_").unwrap_or(n);
        match find(bare) {
            Some(t) => {
                if !out.iter().any(|o| o.name == t.name) {
                    out.push(t);
                }
            }
            None => {
                return Err(format!(
                    "tables: unknown table '{n}'; accepted: {} (the live tables' names without 'system_')",
                    accepted_names()
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names() {
        let t = resolve(&["cpus".into(), "metrics".into(), "cpus".into()]).unwrap();
        assert_eq!(t.iter().map(|t| t.name()).collect::<Vec<_>>(), ["cpus", "metrics"]);
        assert_eq!(resolve(&["system_metrics".into()]).unwrap()[0].name(), "metrics");
        let e = resolve(&["bogus".into()]).unwrap_err();
        assert!(e.contains("'bogus'") && e.contains("metrics, cpus, disks"), "{e}");
        assert!(resolve(&[]).is_err());
        let state = LiveState::new(sysmon_kernel::procfs::Roots::test_fixture("modern"));
        let names: Vec<_> = defaults(&state).iter().map(|t| t.name()).collect();
        assert!(names.contains(&"metrics") && !names.contains(&"processes"), "{names:?}");
        assert!(find("info").is_none(), "system_info is static and not recorded");
    }

    #[test]
    fn every_recorded_table_is_named_after_its_function_and_has_ts_and_hostname() {
        for t in all() {
            // `alert_transitions()` is recorded as `alerts`, the name `read_recording` takes.
            let expected = t.decl().function.strip_prefix("system_").or(match t.decl().function {
                "alert_transitions" => Some("alerts"),
                _ => None,
            });
            assert_eq!(Some(t.name), expected);
            assert_eq!(t.decl().column_index("ts"), Some(0), "{}", t.name());
            assert!(t.decl().column_index("hostname").is_some(), "{}", t.name());
        }
    }
}
