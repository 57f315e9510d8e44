//! The shipper thread's bucket steps: the start-up probe, **upload** of sealed parts oldest
//! first, and **day compaction** of a finished day's objects into one (steps 3 and 4 of
//! [`super`]), driven by [`Run::body`] with its backoff.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::*;

/// The shipper thread's state.
pub(super) struct Run {
    pub(super) spool: Spool,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) shared: Arc<Shared>,
    pub(super) ctl: Arc<Ctl>,
    /// (table, day) with uploads, to compact once the day is over.
    pub(super) days: std::collections::BTreeSet<(usize, i64)>,
    /// See [`ShipStatus::oldest_unshipped_us`].
    pub(super) last_take_us: i64,
}

impl Run {
    /// Runs `f` on the runtime, bounded by `limit`.
    pub(super) fn block<T>(
        &self,
        limit: Duration,
        f: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<T, String> {
        self.rt.block_on(async {
            match tokio::time::timeout(limit, f).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", limit.as_secs_f64())),
            }
        })
    }

    pub(super) fn limit(deadline: Option<Instant>) -> Duration {
        match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
            None => REQUEST_TIMEOUT * 3,
        }
    }

    /// A PUT and a DELETE of a marker object: wrong credentials, a missing bucket or a refused
    /// write fail here, before the recorder starts.
    pub(super) fn probe(&self) -> Result<(), String> {
        let name = format!(".sysmon-probe-{}-{}", self.spool.host, std::process::id());
        let key = if self.spool.remote.prefix.is_empty() {
            name
        } else {
            format!("{}/{name}", self.spool.remote.prefix)
        };
        let path = Key::parse(&key).map_err(|e| e.to_string())?;
        let shown = &self.spool.remote.shown;
        let hint = "check that the bucket exists, that the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the instance's role) may write to it, and the endpoint and region";
        self.block(
            PROBE_TIMEOUT,
            self.store.put(&path, PutPayload::from(b"sysmon probe".to_vec())),
        )
        .map_err(|e| redact(&format!("cannot write to {shown} (a test object '{key}'): {e}; {hint}")))?;
        self.block(PROBE_TIMEOUT, self.store.delete(&path)).map_err(|e| {
            redact(&format!(
                "cannot delete from {shown} (a test object '{key}'): {e}; {hint}"
            ))
        })?;
        Ok(())
    }

    /// The days each table has in the bucket before today (compacted when finished).
    pub(super) fn seed_days(&mut self) -> Result<(), String> {
        let today = layout::day_of(wall_us());
        for ti in 0..self.spool.tables.len() {
            let key = self.spool.key(ti, 0, "");
            let host_prefix = key.rsplit_once("/date=").map(|(h, _)| h.to_string()).unwrap_or(key);
            let path = Key::parse(&host_prefix).map_err(|e| e.to_string())?;
            let listed = self
                .block(REQUEST_TIMEOUT * 3, self.store.list_with_delimiter(Some(&path)))
                .map_err(|e| store_err("listing", &host_prefix, e))?;
            for p in listed.common_prefixes {
                if let Some(day) = p
                    .filename()
                    .and_then(|f| f.strip_prefix("date="))
                    .and_then(layout::parse_date)
                    && day < today
                {
                    self.days.insert((ti, day));
                }
            }
        }
        Ok(())
    }

    /// Uploads one sealed file, then deletes what it covers and its local copy.
    pub(super) fn upload(&mut self, s: &Sealed, deadline: Option<Instant>) -> Result<(), String> {
        let name = s.name.render();
        let key = self.spool.key(s.table, s.day, &name);
        let path = Key::parse(&key).map_err(|e| e.to_string())?;
        let body = fs::read(&s.path).map_err(|e| format!("reading {}: {e}", s.path.display()))?;
        let bytes = body.len() as u64;
        self.block(Self::limit(deadline), self.store.put(&path, PutPayload::from(body)))
            .map_err(|e| store_err("uploading", &key, e))?;
        if s.name.day_object {
            self.spool.hooks.ship_pause("day_after_upload");
            let kv = store::read_kv(&s.path).map_err(|e| format!("reading {}: {e}", s.path.display()))?;
            for covered in store::kv_get(&kv, COVERS).unwrap_or("").split(',') {
                if ObjName::parse(covered).is_none() || covered == name {
                    continue;
                }
                let ckey = self.spool.key(s.table, s.day, covered);
                let cpath = Key::parse(&ckey).map_err(|e| e.to_string())?;
                match self.block(Self::limit(deadline), self.store.delete(&cpath)) {
                    Ok(()) => {}
                    Err(e) if e.contains("not found") || e.contains("NotFound") => {}
                    Err(e) => return Err(store_err("deleting the compacted", &ckey, e)),
                }
            }
        } else {
            self.spool.hooks.ship_pause("after_upload");
        }
        fs::remove_file(&s.path).map_err(|e| format!("deleting {}: {e}", s.path.display()))?;
        if let Some(d) = s.path.parent() {
            let _ = sync_dir(d);
        }
        let mut st = lock(&self.ctl.status);
        st.objects_uploaded += 1;
        st.bytes_uploaded += bytes;
        st.last_upload_at = Some(Timestamp::now());
        drop(st);
        self.days.insert((s.table, s.day));
        Ok(())
    }

    /// Step 4: merges a finished day's objects in the bucket into one day object, sealed in
    /// `.ship` (uploaded by the next upload pass).
    pub(super) fn compact(&mut self, ti: usize, day: i64) -> Result<(), String> {
        let prefix = self.spool.key(ti, day, "");
        let prefix = prefix.trim_end_matches('/').to_string();
        let listed = self
            .block(
                REQUEST_TIMEOUT * 3,
                self.store
                    .list_with_delimiter(Some(&Key::parse(&prefix).map_err(|e| e.to_string())?)),
            )
            .map_err(|e| store_err("listing", &prefix, e))?;
        let mut objects: Vec<ObjName> = listed
            .objects
            .iter()
            .filter_map(|o| o.location.filename().and_then(ObjName::parse))
            .collect();
        if objects.len() < 2 {
            return Ok(());
        }
        let work = layout::date_dir(&self.spool.host_dir(Some(WORK), ti), day);
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
        for o in &objects {
            let key = format!("{prefix}/{}", o.render());
            let path = Key::parse(&key).map_err(|e| e.to_string())?;
            let got = self
                .block(REQUEST_TIMEOUT * 3, async {
                    self.store.get(&path).await?.bytes().await
                })
                .map_err(|e| store_err("downloading", &key, e))?;
            fs::write(work.join(o.render()), &got).map_err(|e| format!("writing {}: {e}", work.display()))?;
        }
        // A day object whose covered objects are still there (a crash after its upload):
        // those are deleted, never merged with it again.
        let mut covered_all: Vec<String> = Vec::new();
        for o in objects.iter().filter(|o| o.day_object) {
            let kv = store::read_kv(&work.join(o.render())).map_err(|e| format!("reading {}: {e}", o.render()))?;
            covered_all.extend(store::kv_get(&kv, COVERS).unwrap_or("").split(',').map(String::from));
        }
        for o in objects.iter().filter(|o| covered_all.contains(&o.render())) {
            let key = format!("{prefix}/{}", o.render());
            self.block(
                REQUEST_TIMEOUT,
                self.store.delete(&Key::parse(&key).map_err(|e| e.to_string())?),
            )
            .map_err(|e| store_err("deleting the compacted", &key, e))?;
        }
        objects.retain(|o| !covered_all.contains(&o.render()));
        if objects.len() < 2 {
            let _ = fs::remove_dir_all(&work);
            return Ok(());
        }
        objects.sort_by_key(|o| (o.first_us, o.day_object, o.nonce));
        let name = ObjName {
            day_object: true,
            first_us: objects.iter().map(|o| o.first_us).min().unwrap_or(0),
            last_us: objects.iter().map(|o| o.last_us).max().unwrap_or(0),
            nonce: nonce(&mut self.spool.last_nonce),
        };
        let covers: Vec<String> = objects.iter().map(ObjName::render).collect();
        let t = &self.spool.tables[ti];
        let mut kv = store::metadata_kv(&t.meta, sysmon_store::merge::DAY_LEVEL, &[]);
        kv.push(parquet::file::metadata::KeyValue::new(COVERS.into(), covers.join(",")));
        let ship_day = layout::date_dir(&self.spool.host_dir(Some(SHIP), ti), day);
        fs::create_dir_all(&ship_day).map_err(|e| format!("creating {}: {e}", ship_day.display()))?;
        let paths: Vec<PathBuf> = covers.iter().map(|c| work.join(c)).collect();
        let hooks = self.spool.hooks.clone();
        store::merge_files_then(&hooks, &ship_day, &name.render(), t.decl, &t.schema, &paths, kv, || {
            hooks.ship_pause("day_before_rename")
        })
        .map_err(|e| format!("compacting {}: {e}", prefix))?;
        let _ = fs::remove_dir_all(&work);
        Ok(())
    }

    /// Takes (when `take`), seals, bounds, uploads; compacts finished days (unless `deadline`,
    /// the final pass). Ok when everything sealed is uploaded.
    pub(super) fn cycle(&mut self, take: bool, deadline: Option<Instant>) -> Result<(), String> {
        if take {
            let taken = {
                let _handoff = lock(&self.shared.handoff);
                // Every row before the writer's last flush is in a file taken now; the rows
                // after it are in the spool or in memory.
                if let Some(t) = lock(&self.shared.status).last_flush_at {
                    self.last_take_us = t.micros;
                }
                self.spool.take()
            };
            taken.map_err(|e| format!("moving finished files out of the spool: {e}"))?;
        }
        self.spool
            .seal()
            .map_err(|e| format!("sealing the spool's files for upload: {e}"))?;
        let dropped = self.spool.bound().map_err(|e| format!("bounding the spool: {e}"))?;
        if dropped > 0 {
            lock(&self.ctl.status).rows_dropped += dropped;
            self.shared.error(format!(
                "the spool '{}' exceeded spool_max_bytes ({} bytes) while {} was unreachable: dropped the oldest parts ({dropped} rows, counted in rows_dropped)",
                self.spool.root.display(),
                self.spool.remote.spool_max_bytes,
                self.spool.remote.shown
            ));
        }
        let result = self.upload_all(deadline);
        self.report();
        result?;
        if deadline.is_none() {
            let today = layout::day_of(wall_us());
            let finished: Vec<(usize, i64)> = self
                .days
                .iter()
                .copied()
                .filter(|&(ti, d)| d < today && !self.spool.holds_day(ti, d))
                .collect();
            for (ti, day) in finished {
                self.compact(ti, day)?;
                self.upload_all(None)?;
                self.days.remove(&(ti, day));
            }
            self.report();
        }
        Ok(())
    }

    pub(super) fn upload_all(&mut self, deadline: Option<Instant>) -> Result<(), String> {
        let sealed = self.spool.sealed().map_err(|e| format!("listing the spool: {e}"))?;
        for s in &sealed {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err("the final upload ran out of time".into());
            }
            self.upload(s, deadline)?;
        }
        Ok(())
    }

    /// Backlog and lag, from what the spool holds.
    pub(super) fn report(&self) {
        let backlog = dir_bytes(&self.spool.root);
        let mut oldest = self.last_take_us;
        if let Ok(sealed) = self.spool.sealed() {
            oldest = sealed.iter().map(|s| s.name.first_us).fold(oldest, i64::min);
        }
        let mut st = lock(&self.ctl.status);
        st.backlog_bytes = backlog;
        st.oldest_unshipped_us = oldest;
        st.cpu_ns = crate::thread_cpu_ns();
    }

    pub(super) fn body(&mut self) {
        let mut backoff = Backoff::default();
        let upload_interval = self.spool.remote.upload_interval;
        let mut next_take = Instant::now();
        let mut next_try = Instant::now();
        loop {
            let finish_by = {
                let mut s = lock(&self.ctl.state);
                loop {
                    if s.finish_by.is_some() {
                        break;
                    }
                    let now = Instant::now();
                    let due = next_take.min(next_try);
                    if now >= due {
                        break;
                    }
                    s = match self.ctl.cv.wait_timeout(s, due - now) {
                        Ok((g, _)) => g,
                        Err(e) => e.into_inner().0,
                    };
                }
                s.finish_by
            };
            if let Some(deadline) = finish_by {
                if let Err(e) = self.cycle(true, Some(deadline)) {
                    self.shared.error(format!(
                        "the final upload to {} did not finish: {e}; what is left stays in the spool '{}' for the next recorder of this host (upload_backlog_bytes)",
                        self.spool.remote.shown,
                        self.spool.root.display()
                    ));
                }
                self.report();
                return;
            }
            let now = Instant::now();
            let take = now >= next_take;
            if take {
                next_take = now + upload_interval;
            }
            match self.cycle(take, None) {
                Ok(()) => {
                    backoff.reset();
                    next_try = next_take;
                }
                Err(e) => {
                    let now = Instant::now();
                    next_try = now + backoff.fail();
                    // The next try is the sooner of the backoff and the next take (the loop
                    // above wakes at either): say when it really is.
                    let retry_in = next_take.min(next_try).saturating_duration_since(now);
                    self.shared.error(format!(
                        "uploading to {}: {e}; retrying in {} s (rows stay in the spool)",
                        self.spool.remote.shown,
                        retry_in.as_secs_f64().ceil() as u64
                    ));
                }
            }
        }
    }
}
