//! The writer's publish, step by step: a table's write-ahead log becomes one level-0 Parquet
//! file per UTC day of its rows ([`Writer::write_level0`]), then the log is emptied of what was
//! published ([`Writer::clear_published`]), then the days the log no longer holds are merged
//! ([`Writer::merge_published`]) and finished days closed ([`Writer::close_days`]). That order
//! is what makes a crash at any point lose nothing and store nothing twice (see
//! [`super::super::wal`]).

use std::io;
use std::sync::Arc;

use super::{Failure, Writer};
use sysmon_kernel::sync::lock;
use sysmon_store::wal::{self, Wal};
use sysmon_store::{layout, merge, store};
use sysmon_tables::schema::Timestamp;

impl Writer {
    /// Publishes table `ti`'s log (the steps of this module's doc). True if the log is empty
    /// and nothing is left to close.
    pub(super) fn publish_table(&mut self, ti: usize, failures: &mut Vec<Failure>) -> bool {
        // The shipper of an `s3://` destination takes finished files only while no publish or
        // merge changes them.
        let shared = Arc::clone(&self.shared);
        let _handoff = lock(&shared.handoff);
        if self.nothing_to_publish(ti) {
            return true;
        }
        let Some(moved) = self.prepare_publish(ti, failures) else {
            return false;
        };
        let (published, written) = self.write_level0(ti, failures);
        self.hooks.merge_pause("publish_after_rename");
        if !self.clear_published(ti, &published, moved, failures) {
            return false;
        }
        // Merges run only on days the log no longer holds, so that a published level-0 file
        // keeps its name while the log could still be replayed.
        let in_wal = wal_days(self.tables[ti].wal.as_ref());
        self.merge_published(ti, &published, &in_wal, failures);
        self.close_days(ti, &in_wal, failures);
        written && in_wal.is_empty() && self.tables[ti].pending.is_empty()
    }

    fn nothing_to_publish(&self, ti: usize) -> bool {
        let t = &self.tables[ti];
        t.wal.as_ref().is_none_or(Wal::is_empty)
            && t.pending.is_empty()
            && t.batch.is_empty()
            && t.days_to_close.is_empty()
    }

    /// Makes sure the partition is still this recorder's (see [`Writer::ensure_partition`]) and
    /// that every buffered row is in the log. `None` when the partition cannot be written;
    /// otherwise whether its folder was replaced since the last publish.
    fn prepare_publish(&mut self, ti: usize, failures: &mut Vec<Failure>) -> Option<bool> {
        let before = self.tables[ti].part.dir.id().ok();
        if let Err(e) = self.ensure_partition(ti) {
            failures.push(Failure {
                table: self.tables[ti].entry.name(),
                what: "writing".into(),
                error: e,
            });
            return None;
        }
        let moved = self.tables[ti].part.dir.id().ok() != before;
        {
            let t = &mut self.tables[ti];
            if moved && t.wal.as_ref().is_some_and(Wal::is_empty) {
                // The folder was replaced: the log goes to the new one.
                t.wal = None;
            }
        }
        // Rows whose append failed, or that wait for a log (not open, or in a replaced
        // folder), are appended now, so that they are published too.
        if !self.tables[ti].pending.is_empty() || self.tables[ti].wal.is_none() {
            self.append_table(ti, failures);
        }
        Some(moved)
    }

    /// Writes one level-0 file per UTC day of the log's rows (a file already there from a
    /// publish that a crash interrupted counts as written). The days written, and whether
    /// every day was.
    fn write_level0(&mut self, ti: usize, failures: &mut Vec<Failure>) -> (Vec<i64>, bool) {
        let dir_shown = self.config.dir.display().to_string();
        let (hooks, status, t) = (&self.hooks, &self.shared.status, &self.tables[ti]);
        let mut published = Vec::new();
        let Some(wal) = t.wal.as_ref() else {
            return (published, true);
        };
        let host_path = t.part.dir.path();
        let fail = |failures: &mut Vec<Failure>, e: io::Error| {
            failures.push(Failure {
                table: t.entry.name(),
                what: format!("writing under '{dir_shown}'"),
                error: e.to_string(),
            })
        };
        for day in wal_days(Some(wal)) {
            let group: Vec<wal::Record> = wal.records().iter().copied().filter(|r| r.day == day).collect();
            let first_us = group.iter().map(|r| r.first_us).min().unwrap_or(0);
            let last_us = group.iter().map(|r| r.last_us).max().unwrap_or(0);
            let day_dir = match layout::open_date_dir(&host_path, day, true, &t.part.shown) {
                Ok(d) => d,
                Err(e) => {
                    fail(failures, e);
                    return (published, false);
                }
            };
            let day_path = day_dir.path();
            let name = layout::FileName {
                level: 0,
                first_us,
                last_us,
                dup: 0,
            }
            .render();
            // Published before a crash (or a failed clear) that kept the log: the file named
            // after exactly these rows is there already.
            if day_path.join(&name).exists() {
                published.push(day);
                continue;
            }
            let mut rows = 0usize;
            let schema = &t.schema;
            let result = store::write_atomically(
                hooks,
                &day_path,
                &name,
                schema,
                t.props0.clone(),
                |w| {
                    for r in &group {
                        let batch = wal.read(r, schema)?;
                        rows += batch.num_rows();
                        w.write(&batch).map_err(|e| io::Error::other(e.to_string()))?;
                    }
                    Ok(())
                },
                || {},
            );
            match result {
                Ok(bytes) => {
                    published.push(day);
                    let mut s = lock(status);
                    s.rows_written += rows as u64;
                    s.files_written += 1;
                    s.bytes_written += bytes;
                    s.last_flush_at = Some(Timestamp::now());
                }
                Err(e) => {
                    fail(failures, e);
                    return (published, false);
                }
            }
        }
        (published, true)
    }

    /// Empties the log of the `published` days' records. False if that failed (the log is
    /// kept whole: the next publish finds the files and only clears it).
    fn clear_published(&mut self, ti: usize, published: &[i64], moved: bool, failures: &mut Vec<Failure>) -> bool {
        let dir_shown = self.config.dir.display().to_string();
        let t = &mut self.tables[ti];
        if published.is_empty() {
            return true;
        }
        let Some(wal) = t.wal.as_mut() else {
            return true;
        };
        let keep: Vec<bool> = wal.records().iter().map(|r| !published.contains(&r.day)).collect();
        let cleared = if keep.iter().any(|&k| k) {
            wal.keep(&t.part.dir, &keep)
        } else {
            wal.clear()
        };
        match cleared {
            Ok(()) => {
                t.wal_rows = if wal.is_empty() { 0 } else { t.wal_rows };
                if moved && wal.is_empty() {
                    // The folder was replaced: the next flush opens a log in the new one.
                    t.wal = None;
                }
                true
            }
            Err(e) => {
                failures.push(Failure {
                    table: t.entry.name(),
                    what: format!("emptying the write-ahead log under '{dir_shown}'"),
                    error: e.to_string(),
                });
                false
            }
        }
    }

    /// Merges the full levels of each published day that the log no longer holds.
    fn merge_published(&mut self, ti: usize, published: &[i64], in_wal: &[i64], failures: &mut Vec<Failure>) {
        let dir_shown = self.config.dir.display().to_string();
        let (hooks, status, fanin, t) = (&self.hooks, &self.shared.status, self.fanin, &self.tables[ti]);
        let host_path = t.part.dir.path();
        for &day in published.iter().filter(|d| !in_wal.contains(d)) {
            let merged = layout::open_date_dir(&host_path, day, false, &t.part.shown)
                .and_then(|d| merge::compact(hooks, &d.path(), t.entry.decl(), &t.schema, &t.meta, fanin));
            match merged {
                Ok(m) => {
                    let mut s = lock(status);
                    s.files_written += m.files;
                    s.bytes_written += m.bytes;
                }
                Err(e) => failures.push(Failure {
                    table: t.entry.name(),
                    what: format!("merging under '{dir_shown}'"),
                    error: e.to_string(),
                }),
            }
        }
    }

    /// Merges each finished day (not today's, not in the log) into its one day file.
    fn close_days(&mut self, ti: usize, in_wal: &[i64], failures: &mut Vec<Failure>) {
        let dir_shown = self.config.dir.display().to_string();
        let (hooks, status, t) = (&self.hooks, &self.shared.status, &mut self.tables[ti]);
        let host_path = t.part.dir.path();
        let current = t.batch_day;
        let closable: Vec<i64> = t
            .days_to_close
            .iter()
            .copied()
            .filter(|d| Some(*d) != current && !in_wal.contains(d))
            .collect();
        for day in closable {
            let closed = layout::open_date_dir(&host_path, day, false, &t.part.shown)
                .and_then(|d| merge::close_day(hooks, &d.path(), t.entry.decl(), &t.schema, &t.meta));
            match closed {
                Ok(m) => {
                    t.days_to_close.remove(&day);
                    let mut s = lock(status);
                    s.files_written += m.files;
                    s.bytes_written += m.bytes;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    t.days_to_close.remove(&day);
                }
                Err(e) => failures.push(Failure {
                    table: t.entry.name(),
                    what: format!(
                        "merging the finished day {} under '{dir_shown}'",
                        layout::date_string(day)
                    ),
                    error: e.to_string(),
                }),
            }
        }
    }
}

/// The UTC days of a log's records, each once, in order.
fn wal_days(wal: Option<&Wal>) -> Vec<i64> {
    let mut days: Vec<i64> = wal
        .map(|w| w.records().iter().map(|r| r.day).collect())
        .unwrap_or_default();
    days.sort_unstable();
    days.dedup();
    days
}
