//! The writer's side of the write-ahead log: opening each table's log (and publishing what a
//! killed recorder left in it, [`Writer::replay`]) and appending a flush's rows to it (one
//! `pwrite`, no fsync: [`Writer::append_table`]). See [`sysmon_store::wal`] for the format.

use super::{Failure, Writer, stash_batch};
use sysmon_kernel::sync::lock;
use sysmon_store::wal::{self, Wal};

impl Writer {
    /// Opens each table's log; what a previous recorder of the partition left there (it was
    /// killed, or lost power) is published now.
    pub(super) fn replay(&mut self) {
        let mut failures = Vec::new();
        for ti in 0..self.tables.len() {
            self.open_wal(ti, &mut failures);
        }
        self.report(failures);
        if self
            .tables
            .iter()
            .any(|t| t.wal.as_ref().is_some_and(|w| !w.is_empty()))
        {
            self.publish_all();
        }
    }

    /// Opens table `ti`'s log if it is not open; false when it cannot be.
    pub(super) fn open_wal(&mut self, ti: usize, failures: &mut Vec<Failure>) -> bool {
        let t = &mut self.tables[ti];
        if t.wal.is_some() {
            return true;
        }
        match Wal::open(&t.part.dir, &t.schema) {
            Ok((w, cut)) => {
                if let Some(cut) = cut {
                    lock(&self.shared.status).rows_dropped += cut.rows_dropped;
                    failures.push(Failure {
                        table: t.entry.name(),
                        what: format!("replaying {}", t.part.shown.display()),
                        error: cut.message,
                    });
                }
                t.wal_rows = 0;
                t.wal = Some(w);
                true
            }
            Err(e) => {
                failures.push(Failure {
                    table: t.entry.name(),
                    what: format!("opening the write-ahead log of {}", t.part.shown.display()),
                    error: e.to_string(),
                });
                false
            }
        }
    }

    /// Appends table `ti`'s rows to its log (one `pwrite`, no fsync); true if none is left
    /// pending.
    pub(super) fn append_table(&mut self, ti: usize, failures: &mut Vec<Failure>) -> bool {
        {
            let t = &mut self.tables[ti];
            if !t.batch.is_empty() {
                stash_batch(t, &self.shared);
            }
            if t.pending.is_empty() {
                return true;
            }
        }
        if !self.open_wal(ti, failures) {
            return false;
        }
        let hooks = &self.hooks;
        let t = &mut self.tables[ti];
        let Some(wal) = t.wal.as_mut() else { return false };
        let entries: Vec<wal::Entry<'_>> = t
            .pending
            .iter()
            .map(|p| wal::Entry {
                day: p.day,
                first_us: p.first_us,
                last_us: p.last_us,
                batch: &p.batch,
            })
            .collect();
        match hooks.check_write().and_then(|()| wal.append(&entries)) {
            Ok(()) => {
                lock(&self.shared.status).rows_journaled += t.pending_rows as u64;
                t.wal_rows += t.pending_rows;
                t.pending.clear();
                t.pending_rows = 0;
                true
            }
            Err(e) => {
                failures.push(Failure {
                    table: t.entry.name(),
                    what: format!("writing under '{}'", self.config.dir.display()),
                    error: e.to_string(),
                });
                false
            }
        }
    }
}
