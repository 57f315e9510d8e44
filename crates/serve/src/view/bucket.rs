//! History read from an S3 bucket a recorder ships to (`record_metrics('s3://bucket/prefix')`):
//! the same `<table>/host=<h>/date=<d>/` layout as a local recording, read with object_store.
//!
//! The plan is `read_recording`'s (`sysmon_store::read_recording::plan_bucket`), so the charts,
//! the report and SQL read a bucket alike. Pruning is the local reader's: by `host=` and the
//! `date=` prefixes the range touches (one LIST each), then by object name (each names its first and last `ts`: the shipper's
//! `P-`/`D-` objects, and the recorder's own `L<level>-` files where a local recording was
//! copied into a bucket). Each object in range is fetched whole (one GET: a day object is a few
//! MB) and decoded as a local file is, row groups pruned by their `ts` statistics. A day object
//! whose covered objects are still there (the shipper crashed between the two steps of a
//! compaction) hides them, so no row is counted twice.
//!
//! Everything here is async: the server awaits it on its own runtime; `report_metrics` runs it
//! on a `current_thread` runtime of its first scan.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;

use super::history::{Error, History, Host, Request, add_host, begin, finish, read_parquet};
use sysmon_store::layout;
use sysmon_store::read_recording::{self, Object, Scope, Source};
use sysmon_store::s3::{S3Location, build_store, redact};

/// How long listing the hosts may take (at start, and per `/api/hosts`).
pub const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one history read may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A recording in a bucket, with its client.
pub struct Bucket {
    pub location: S3Location,
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("location", &self.location).finish()
    }
}

async fn within<T>(limit: Duration, what: &str, f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(format!("{what}: no answer within {} s", limit.as_secs())),
    }
}

impl Bucket {
    /// The client of `location` (opens no connection).
    pub fn new(location: S3Location) -> Result<Bucket, String> {
        let store = build_store(&location)?;
        Ok(Bucket { location, store })
    }

    /// Over any object store (tests use object_store's in-memory one).
    pub fn with_store(location: S3Location, store: Arc<dyn ObjectStore>) -> Bucket {
        Bucket { location, store }
    }

    /// The "folders" directly under `rel`, and the objects there.
    async fn list(&self, rel: &str) -> Result<(Vec<String>, Vec<Object>), String> {
        read_recording::list(self.store.as_ref(), &self.location, rel).await
    }

    /// The `date=` folders of one table of one host, as days.
    async fn days(&self, table: &str, host: &str) -> Result<Vec<i64>, String> {
        let (folders, _) = self.list(&format!("{table}/host={host}")).await?;
        let mut days: Vec<i64> = folders
            .iter()
            .filter_map(|f| f.strip_prefix("date=").and_then(layout::parse_date))
            .collect();
        days.sort_unstable();
        Ok(days)
    }

    async fn day_objects(&self, table: &str, host: &str, day: i64) -> Result<Vec<Object>, String> {
        let rel = format!("{table}/host={host}/date={}", layout::date_string(day));
        Ok(self.list(&rel).await?.1)
    }

    /// The hosts recorded in the bucket (in any recordable table), by name, with the time
    /// their objects cover (from the names in their first and last date folders).
    pub async fn hosts(&self) -> Result<Vec<Host>, String> {
        within(LIST_TIMEOUT, &format!("listing {}", self.location.shown), async {
            let mut out: Vec<Host> = Vec::new();
            for t in sysmon_tables::recorded::all() {
                let (folders, _) = self.list(t.name).await?;
                for f in folders {
                    let Some(h) = f.strip_prefix("host=") else {
                        continue;
                    };
                    let days = self.days(t.name, h).await?;
                    let (mut first, mut last) = (None::<i64>, None::<i64>);
                    if let (Some(&a), Some(&b)) = (days.first(), days.last()) {
                        for o in self.day_objects(t.name, h, a).await? {
                            first = Some(first.map_or(o.first_us, |v| v.min(o.first_us)));
                        }
                        for o in self.day_objects(t.name, h, b).await? {
                            last = Some(last.map_or(o.last_us, |v| v.max(o.last_us)));
                        }
                    }
                    if first.is_some() {
                        add_host(&mut out, h, t.name, first, last);
                    }
                }
            }
            out.sort_by(|a, b| a.host.cmp(&b.host));
            Ok(out)
        })
        .await
    }

    /// What a server or a report checks at start: the bucket answers and holds a recording.
    pub async fn check(&self) -> Result<Vec<Host>, String> {
        let shown = &self.location.shown;
        let hosts = self.hosts().await.map_err(|e| {
            redact(&format!(
                "cannot read the recording in {shown}: {e}; check that the bucket exists, that the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the instance's role) may list and read it, and the endpoint and region"
            ))
        })?;
        if hosts.is_empty() {
            return Err(format!(
                "{shown} holds no recording: no <table>/host=<host>/date=<day>/ object as record_metrics('{shown}', ...) uploads"
            ));
        }
        Ok(hosts)
    }

    /// One table of one host over the request's range, as [`super::history::read`] reads a local
    /// recording.
    pub async fn read(&self, req: &Request) -> Result<History, Error> {
        match tokio::time::timeout(READ_TIMEOUT, self.read_unbounded(req)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Io(format!(
                "reading {}: no answer within {} s",
                self.location.shown,
                READ_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn read_unbounded(&self, req: &Request) -> Result<History, Error> {
        let t = req.table;
        let (mut ds, mut h) = begin(req);
        let from_us = req.from_ms.saturating_mul(1000);
        let to_us = req.to_ms.saturating_mul(1000);
        let days = self.days(t.name, &req.host).await.map_err(Error::Io)?;
        if days.is_empty() {
            let found: Vec<String> = self
                .hosts()
                .await
                .map_err(Error::Io)?
                .into_iter()
                .map(|h| h.host)
                .collect();
            if !found.contains(&req.host) {
                return Err(Error::UnknownHost {
                    host: req.host.clone(),
                    found,
                });
            }
        }
        // The plan `read_recording` makes of a bucket: day objects first, the parts they
        // cover left out, objects and row groups pruned by the range.
        let scope = Scope {
            host: Some(req.host.clone()),
            since_us: Some(from_us),
            until_us: Some(to_us),
        };
        let parts = read_recording::plan_bucket(&self.store, &self.location, t.name, &scope)
            .await
            .map_err(Error::Io)?;
        // Fetched a few at a time as they are read, so a long range holds a few objects in
        // memory, not all of them.
        let mut rest = parts;
        while !rest.is_empty() {
            let later = rest.split_off(rest.len().min(read_recording::PARALLEL_GETS));
            for part in read_recording::fetch(rest).await.map_err(Error::Io)? {
                if let Source::Object { bytes, key } = part.source {
                    read_parquet(bytes, t, &mut ds, &mut h).map_err(|e| Error::Io(format!("reading '{key}': {e}")))?;
                }
            }
            rest = later;
        }
        Ok(finish(t, ds, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::history::chart_table;
    use crate::view::{ViewContext, route_async};
    use object_store::memory::InMemory;
    use object_store::path::Path as Key;
    use object_store::{ObjectStoreExt, PutPayload};
    use sysmon_store::faults::Hooks;
    use sysmon_store::layout::MICROS_PER_DAY;
    use sysmon_store::objects::{COVERS, ObjName};
    use sysmon_store::store::{self, FileMeta};
    use sysmon_testkit::fixture;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn location() -> S3Location {
        S3Location {
            bucket: "b".into(),
            prefix: "fleet/x".into(),
            shown: "s3://b/fleet/x".into(),
            endpoint: None,
            region: None,
        }
    }

    fn put(rt: &tokio::runtime::Runtime, store: &InMemory, key: &str, path: &std::path::Path) {
        let body = std::fs::read(path).unwrap();
        rt.block_on(store.put(&Key::parse(key).unwrap(), PutPayload::from(body)))
            .unwrap();
    }

    /// A bucket as the shipper leaves it after a crash in a compaction (two parts and the day
    /// object covering them), plus a copied local recording of another host.
    #[test]
    fn reads_hosts_and_history_from_a_bucket_as_from_a_directory() {
        let rt = rt();
        let dir = fixture::tempdir("bucket");
        let day = 20_000 * MICROS_PER_DAY;
        let t = sysmon_tables::recorded::find("metrics").unwrap();
        let (a, _) = fixture::write_day(&dir.join("a"), "web-1", "metrics", day, 3600, 1_000_000, 1).unwrap();
        let (b, _) = fixture::write_day(
            &dir.join("b"),
            "web-1",
            "metrics",
            day + 3_600_000_000,
            3600,
            1_000_000,
            1,
        )
        .unwrap();
        let p1 = ObjName {
            day_object: false,
            first_us: day,
            last_us: day + 3_599_000_000,
            nonce: 1,
        }
        .render();
        let p2 = ObjName {
            day_object: false,
            first_us: day + 3_600_000_000,
            last_us: day + 7_199_000_000,
            nonce: 2,
        }
        .render();
        let d = ObjName {
            day_object: true,
            first_us: day,
            last_us: day + 7_199_000_000,
            nonce: 3,
        }
        .render();
        let merged = dir.join("merged");
        std::fs::create_dir_all(&merged).unwrap();
        let meta = FileMeta {
            table: "metrics",
            host: "web-1".into(),
            interval_seconds: 1.0,
        };
        let mut kv = store::metadata_kv(&meta, 2, &[]);
        kv.push(parquet::file::metadata::KeyValue::new(
            COVERS.into(),
            format!("{p1},{p2}"),
        ));
        let schema = sysmon_tables::columns::arrow_schema(t.decl());
        store::merge_files_then(
            &Hooks::default(),
            &merged,
            &d,
            t.decl(),
            &schema,
            &[a.clone(), b.clone()],
            kv,
            || {},
        )
        .unwrap();
        let (c, _) = fixture::write_day(&dir.join("c"), "db-2", "cpus", day, 600, 1_000_000, 2).unwrap();

        let mem = InMemory::new();
        let folder = format!("fleet/x/metrics/host=web-1/date={}", layout::date_string(20_000));
        put(&rt, &mem, &format!("{folder}/{p1}"), &a);
        put(&rt, &mem, &format!("{folder}/{p2}"), &b);
        put(&rt, &mem, &format!("{folder}/{d}"), &merged.join(&d));
        let copied = format!(
            "fleet/x/cpus/host=db-2/date={}/{}",
            layout::date_string(20_000),
            c.file_name().unwrap().to_str().unwrap()
        );
        put(&rt, &mem, &copied, &c);
        // Outside the prefix: never read.
        put(&rt, &mem, &format!("other/metrics/host=zz/date=2024-10-04/{p1}"), &a);
        let bucket = Bucket::with_store(location(), Arc::new(mem));

        let hosts = rt.block_on(bucket.check()).unwrap();
        assert_eq!(
            hosts
                .iter()
                .map(|h| (h.host.as_str(), h.tables.clone()))
                .collect::<Vec<_>>(),
            [("db-2", vec!["cpus"]), ("web-1", vec!["metrics"])]
        );
        assert_eq!(
            (hosts[1].first_us, hosts[1].last_us),
            (Some(day), Some(day + 7_199_000_000))
        );

        // The whole two hours, against the local reader over the day object alone.
        let req = Request {
            table: chart_table("metrics").unwrap(),
            host: "web-1".into(),
            from_ms: day / 1000,
            to_ms: day / 1000 + 7_200_000,
            width: 120,
        };
        let h = rt.block_on(bucket.read(&req)).unwrap();
        assert_eq!(
            h.rows_read, 7200,
            "the parts the day object covers are not counted twice"
        );
        assert_eq!(h.files_read, 1);
        let local = dir.join("local");
        let ld = layout::date_dir(&layout::host_dir(&local, "metrics", "web-1"), 20_000);
        std::fs::create_dir_all(&ld).unwrap();
        std::fs::copy(
            merged.join(&d),
            ld.join(format!("L2-{}-{}.parquet", day, day + 7_199_000_000)),
        )
        .unwrap();
        let want = super::super::history::read(&local, &req).unwrap();
        assert_eq!(h.to_json(), want.to_json());

        // Pruned by name: the second hour reads one object.
        let req2 = Request {
            from_ms: day / 1000 + 3_600_000,
            ..req.clone()
        };
        let h2 = rt.block_on(bucket.read(&req2)).unwrap();
        assert_eq!((h2.rows_read, h2.files_read), (3600, 1));
        // A day without objects: nothing read, no error.
        let req3 = Request {
            from_ms: day / 1000 + MICROS_PER_DAY / 1000,
            to_ms: day / 1000 + MICROS_PER_DAY / 1000 + 60_000,
            ..req.clone()
        };
        assert_eq!(rt.block_on(bucket.read(&req3)).unwrap().files_read, 0);
        // The copied local recording of the other host.
        let cpus = Request {
            table: chart_table("cpus").unwrap(),
            host: "db-2".into(),
            ..req.clone()
        };
        let hc = rt.block_on(bucket.read(&cpus)).unwrap();
        assert_eq!((hc.rows_read, hc.series.len()), (1200, 2));
        let e = rt
            .block_on(bucket.read(&Request {
                host: "nope".into(),
                ..req.clone()
            }))
            .unwrap_err();
        assert_eq!(e.to_string(), "no recording of host 'nope'; hosts found: db-2, web-1");

        // The routes, as the server answers them.
        let state = sysmon_live::LiveState::new(sysmon_kernel::procfs::Roots::test_fixture("modern"));
        let ctx = ViewContext {
            live: &state,
            dir: None,
            bucket: Some(&bucket),
        };
        let r = rt.block_on(route_async(&ctx, "/api/hosts", "")).unwrap();
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(
            body.starts_with(r#"{"dir":"s3://b/fleet/x","hosts":[{"host":"db-2""#),
            "{body}"
        );
        let q = format!(
            "table=metrics&host=web-1&from={}&to={}&width=10",
            req.from_ms, req.to_ms
        );
        let r = rt.block_on(route_async(&ctx, "/api/history", &q)).unwrap();
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(&r.body).contains(r#""rows_read":7200"#));
        let r = rt
            .block_on(route_async(&ctx, "/api/history", "table=metrics&host=nope"))
            .unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(rt.block_on(route_async(&ctx, "/api/hosts", "x=1")).unwrap().status, 400);
        assert_eq!(rt.block_on(route_async(&ctx, "/api/live", "")).unwrap().status, 200);

        // A bucket without a recording is refused at start.
        let empty = Bucket::with_store(location(), Arc::new(InMemory::new()));
        let e = rt.block_on(empty.check()).unwrap_err();
        assert!(e.starts_with("s3://b/fleet/x holds no recording"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
