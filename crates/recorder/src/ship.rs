//! The shipper: uploads a recording's spool to an S3 bucket (issue 9).
//!
//! The recorder writes an S3 destination's rows into a local spool exactly as a local
//! recording (same writer, same crash-safe files); this thread moves them to the bucket. It
//! owns a `current_thread` tokio runtime (object_store is async) and never runs on DuckDB's
//! threads. The design, each step crash-safe (see `docs/recorder.md`, "Recording to object
//! storage"):
//!
//! 1. **take** (every `upload_interval`, and at stop): under [`super::Shared::handoff`], the
//!    lock the writer holds while it changes visible files, every finished visible file of the
//!    spool (`layout::list_files`: the store's notion of a finished file, whatever the writer
//!    does inside) is renamed into `.take/<table>/host=<h>/date=<d>/`.
//! 2. **seal**: each such folder is merged into one part `P-<first_us>-<last_us>-<nonce>.parquet`
//!    in `.ship/...`, whose footer names its inputs (`sysmon.merged_from`); the inputs are then
//!    deleted. A crash between the two: recovery deletes the inputs a part names.
//! 3. **upload**, oldest first: PUT to `<prefix>/<table>/host=<h>/date=<d>/<name>` (the key is
//!    the local name, fixed when the part was sealed, so a re-upload after a crash overwrites),
//!    then the local copy is deleted. One object per table per upload: about 100 PUT per hour
//!    for the eight default tables at the default 5 minutes.
//! 4. **day compaction**: a finished UTC day with several objects in the bucket is downloaded
//!    and merged into one `D-...parquet` whose footer lists the objects it covers
//!    (`sysmon.covers`); after its PUT, the covered objects are deleted. A crash before the PUT
//!    leaves the day object in `.ship` (uploaded at the next start); after it, the next
//!    recorder's upload or compaction deletes the covered objects (a compaction never merges
//!    a day object with objects it covers).
//!
//! Failures (server down, 5xx, throttling, wrong credentials mid-run) go to `last_error` and
//! are retried with exponential backoff ([`Backoff`]); the spool is bounded by
//! `spool_max_bytes` (the oldest parts are dropped, their rows counted in `rows_dropped`).

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::{Config, Remote};
use sysmon_store::faults::Hooks;
use sysmon_store::layout::{self, sync_dir};
pub use sysmon_store::objects::{COVERS, ObjName, object_key};

mod run;
mod spool;
use super::{Shared, wall_us};
use run::Run;
pub use spool::dir_bytes;
use spool::{Sealed, Spool};
use sysmon_kernel::sync::lock;
use sysmon_store::s3::{REQUEST_TIMEOUT, build_store, redact, store_err};
use sysmon_store::store::{self, FileMeta, keys};
use sysmon_tables::schema::{TableDecl, Timestamp};

/// How long `stop_recording` waits for the final upload (within its [`super::STOP_TIMEOUT`]).
pub const STOP_UPLOAD_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the start-up probe (a PUT and a DELETE of a marker object) may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Backoff between failed uploads.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(64);
/// The merge level written into parts' footers.
pub const PART_LEVEL: u32 = 8;

/// Folders of the spool the shipper owns (the writer's are `<table>/...`).
pub const TAKE: &str = ".take";
pub const SHIP: &str = ".ship";
pub const WORK: &str = ".day";

/// Exponential backoff: `BACKOFF_MIN`, doubling to `BACKOFF_MAX`; reset on success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    /// The wait after one more failure.
    pub fn fail(&mut self) -> Duration {
        let d = self.next.unwrap_or(BACKOFF_MIN);
        self.next = Some((d * 2).min(BACKOFF_MAX));
        d
    }
    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// A name never given before in this spool: microseconds now, bumped past `last`.
fn nonce(last: &mut u64) -> u64 {
    let n = (wall_us().max(0) as u64).max(*last + 1);
    *last = n;
    n
}

/// What the shipper reports (`recordings()`).
#[derive(Clone, Debug, Default)]
pub struct ShipStatus {
    pub objects_uploaded: u64,
    pub bytes_uploaded: u64,
    /// Bytes in the spool not yet in the bucket (spool files, taken and sealed ones).
    pub backlog_bytes: u64,
    pub last_upload_at: Option<Timestamp>,
    /// The oldest row known not to be in the bucket (µs): the oldest sealed file's first row,
    /// or the writer's last flush before the last take (the rows after it are in the spool or
    /// in memory), or the start.
    pub oldest_unshipped_us: i64,
    /// Rows of parts dropped because the spool exceeded `spool_max_bytes`.
    pub rows_dropped: u64,
    pub cpu_ns: u64,
}

#[derive(Debug, Default)]
struct CtlState {
    finish_by: Option<Instant>,
    done: bool,
}

#[derive(Debug, Default)]
struct Ctl {
    state: Mutex<CtlState>,
    cv: Condvar,
    status: Mutex<ShipStatus>,
}

/// The handle of a running shipper.
#[derive(Debug)]
pub struct Shipper {
    ctl: Arc<Ctl>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Shipper {
    pub fn status(&self) -> ShipStatus {
        lock(&self.ctl.status).clone()
    }

    /// Asks for the final upload (what the spool holds once the writer has finished), to end
    /// by `deadline`; waits for it until then. True when it ended in time.
    pub fn finish(&self, deadline: Instant) -> bool {
        {
            let mut s = lock(&self.ctl.state);
            if s.finish_by.is_none() {
                s.finish_by = Some(deadline);
            }
        }
        self.ctl.cv.notify_all();
        let mut s = lock(&self.ctl.state);
        while !s.done {
            let now = Instant::now();
            // A little past the deadline: the thread bounds each request by it.
            let until = deadline + Duration::from_millis(500);
            if now >= until {
                return false;
            }
            s = match self.ctl.cv.wait_timeout(s, until - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        drop(s);
        if let Some(h) = lock(&self.thread).take() {
            let _ = h.join();
        }
        true
    }
}

/// Starts the shipper thread of recorder `id`: builds the client, recovers the spool after a
/// crash, probes the bucket (a PUT and a DELETE), and returns once the probe answered; an
/// error (wrong credentials, missing bucket, refused write) starts nothing.
pub fn start(config: &Config, shared: Arc<Shared>, hooks: Hooks, id: i64) -> Result<Shipper, String> {
    let Some(remote) = config.remote.clone() else {
        return Err("not an s3:// destination".into());
    };
    let spool = Spool::new(config, remote.clone(), hooks);
    let shown = remote.shown.clone();
    spool
        .recover()
        .map_err(|e| format!("spool '{}': cannot clean up after a crash: {e}", config.dir.display()))?;
    let ctl = Arc::new(Ctl::default());
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    let thread = {
        let ctl = ctl.clone();
        std::thread::Builder::new()
            .name(format!("sysmon-rec{id}-u"))
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = tx.send(Err(format!("cannot start the shipper's runtime: {e}")));
                            return;
                        }
                    };
                    let store = match build_store(&remote.location()) {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let mut run = Run {
                        spool,
                        store,
                        rt,
                        shared: shared.clone(),
                        ctl: ctl.clone(),
                        days: Default::default(),
                        last_take_us: wall_us(),
                    };
                    if let Err(e) = run.probe() {
                        let _ = tx.send(Err(e));
                        return;
                    }
                    let seeded = run.seed_days();
                    let _ = tx.send(Ok(()));
                    if let Err(e) = seeded {
                        shared.error(format!("listing {}: {e}", remote.shown));
                    }
                    run.report();
                    run.body();
                }));
                if let Err(panic) = result {
                    shared.error(format!(
                        "internal error: the shipper thread panicked: {}",
                        super::panic_text(&*panic)
                    ));
                }
                lock(&ctl.state).done = true;
                ctl.cv.notify_all();
            })
            .map_err(|e| format!("cannot start the shipper thread: {e}"))?
    };
    match rx.recv_timeout(PROBE_TIMEOUT * 2 + Duration::from_secs(5)) {
        Ok(Ok(())) => Ok(Shipper {
            ctl,
            thread: Mutex::new(Some(thread)),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(format!(
            "{shown} did not answer the start-up probe within {} s",
            (PROBE_TIMEOUT * 2).as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Request;
    use crate::tests::{check, fixture_state, start as start_recorder, stop as stop_recorder};
    use object_store::memory::InMemory;
    use object_store::path::Path as Key;
    use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
    use std::fs;
    use std::path::PathBuf;

    /// A spool holding a few flushes of a real (fixture) recording of `metrics`, and a shipper
    /// over it uploading into an in-memory store.
    fn spool_run(name: &str, spool_max_bytes: u64) -> (Run, PathBuf) {
        let dir = std::env::temp_dir().join(format!("sysmon-ship-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let state = fixture_state();
        let req = Request {
            dir: dir.display().to_string(),
            interval: Duration::from_millis(20),
            tables: Some(vec!["metrics".into()]),
            flush_interval: Some(Duration::from_millis(100)),
            ..Request::default()
        };
        let rec = start_recorder(&state, &req).unwrap();
        std::thread::sleep(Duration::from_millis(350));
        stop_recorder(&state, rec.id).unwrap();
        let config = check(&state, &req).unwrap();
        let remote = Remote {
            bucket: "b".into(),
            prefix: "fleet".into(),
            shown: "s3://b/fleet".into(),
            endpoint: None,
            region: None,
            upload_interval: Duration::from_secs(1),
            spool_max_bytes,
        };
        let run = Run {
            spool: Spool::new(&config, remote, Hooks::default()),
            store: Arc::new(InMemory::new()),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            shared: Arc::new(Shared::default()),
            ctl: Arc::new(Ctl::default()),
            days: Default::default(),
            last_take_us: wall_us(),
        };
        (run, dir)
    }

    fn listed(run: &Run, prefix: &str) -> Vec<String> {
        let l = run
            .block(
                REQUEST_TIMEOUT,
                run.store.list_with_delimiter(Some(&Key::parse(prefix).unwrap())),
            )
            .unwrap();
        let mut v: Vec<String> = l.objects.iter().map(|o| o.location.to_string()).collect();
        v.sort();
        v
    }

    fn rows_of(run: &Run, key: &str) -> u64 {
        let bytes = run
            .block(REQUEST_TIMEOUT, async {
                run.store.get(&Key::parse(key).unwrap()).await?.bytes().await
            })
            .unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(bytes).unwrap();
        use parquet::file::reader::FileReader;
        reader.metadata().file_metadata().num_rows() as u64
    }

    fn copy(run: &Run, from: &str, to: &str) {
        let body = run
            .block(REQUEST_TIMEOUT, async {
                run.store.get(&Key::parse(from).unwrap()).await?.bytes().await
            })
            .unwrap();
        run.block(
            REQUEST_TIMEOUT,
            run.store.put(&Key::parse(to).unwrap(), PutPayload::from(body)),
        )
        .unwrap();
    }

    #[test]
    fn take_seal_upload_then_compact_a_finished_day_with_its_footer() {
        let (mut run, dir) = spool_run("cycle", 1 << 30);
        let local_rows: u64 = layout::list_days(&run.spool.host_dir(None, 0))
            .unwrap()
            .iter()
            .flat_map(|(_, d)| layout::list_files(d).unwrap())
            .map(|f| store::row_count(&f.path).unwrap())
            .sum();
        assert!(local_rows > 0);
        run.cycle(true, None).unwrap();
        let host = run.spool.host.clone();
        let today = layout::day_of(wall_us());
        let today_prefix = format!("fleet/metrics/host={host}/date={}", layout::date_string(today));
        let objects = listed(&run, &today_prefix);
        assert_eq!(objects.len(), 1, "one object per table per upload: {objects:?}");
        assert!(objects[0].rsplit('/').next().unwrap().starts_with("P-"));
        assert_eq!(rows_of(&run, &objects[0]), local_rows, "every row uploaded");
        assert_eq!(dir_bytes(&dir), 0, "local copies deleted after the upload");
        let st = run.ctl.status.lock().unwrap().clone();
        assert_eq!((st.objects_uploaded, st.backlog_bytes), (1, 0));

        // Two parts of a finished day (yesterday): compacted into one day object that lists them.
        let yday = today - 1;
        let yprefix = format!("fleet/metrics/host={host}/date={}", layout::date_string(yday));
        let parts = ["P-1-2-3.parquet", "P-4-5-6.parquet"];
        for p in parts {
            copy(&run, &objects[0], &format!("{yprefix}/{p}"));
        }
        run.days.insert((0, yday));
        run.cycle(false, None).unwrap();
        let day = listed(&run, &yprefix);
        assert_eq!(day.len(), 1, "{day:?}");
        let dname = day[0].rsplit('/').next().unwrap().to_string();
        assert!(dname.starts_with("D-"), "{dname}");
        assert_eq!(rows_of(&run, &day[0]), 2 * local_rows);
        assert!(!run.days.contains(&(0, yday)), "a compacted day is not looked at again");

        // A crash after the day object's upload, before its parts were deleted: the next
        // compaction deletes them and never merges them with it again.
        for p in parts {
            copy(&run, &objects[0], &format!("{yprefix}/{p}"));
        }
        assert_eq!(listed(&run, &yprefix).len(), 3);
        run.days.insert((0, yday));
        run.cycle(false, None).unwrap();
        assert_eq!(listed(&run, &yprefix), day, "only the day object is left");
        assert_eq!(rows_of(&run, &day[0]), 2 * local_rows, "no row twice");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recovery_deletes_the_inputs_a_sealed_part_names() {
        let (mut run, dir) = spool_run("recover", 1 << 30);
        run.spool.take().unwrap();
        let take_files = |spool: &Spool| -> Vec<PathBuf> {
            layout::list_days(&spool.host_dir(Some(TAKE), 0))
                .unwrap()
                .iter()
                .flat_map(|(_, d)| layout::list_files(d).unwrap())
                .map(|f| f.path)
                .collect()
        };
        let taken = take_files(&run.spool);
        assert!(!taken.is_empty());
        // Keep copies of the inputs: as if the process died after the part's rename but
        // before the inputs' deletion.
        let saved: Vec<(PathBuf, Vec<u8>)> = taken.iter().map(|p| (p.clone(), fs::read(p).unwrap())).collect();
        run.spool.seal().unwrap();
        for (p, body) in &saved {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        }
        assert_eq!(take_files(&run.spool).len(), saved.len());
        run.spool.recover().unwrap();
        assert!(
            take_files(&run.spool).is_empty(),
            "the part's inputs are deleted: their rows are in the part"
        );
        assert_eq!(run.spool.sealed().unwrap().len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_spool_is_bounded_and_drops_are_counted() {
        let (mut run, dir) = spool_run("bound", 1);
        run.spool.take().unwrap();
        run.spool.seal().unwrap();
        let sealed = run.spool.sealed().unwrap();
        assert_eq!(sealed.len(), 1);
        let rows = store::row_count(&sealed[0].path).unwrap();
        assert_eq!(run.spool.bound().unwrap(), rows, "the dropped rows are counted");
        assert!(run.spool.sealed().unwrap().is_empty());
        run.spool.remote.spool_max_bytes = 1 << 30;
        assert_eq!(run.spool.bound().unwrap(), 0, "nothing dropped under the cap");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..9).map(|_| b.fail().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
        b.reset();
        assert_eq!(b.fail(), BACKOFF_MIN);
    }

    #[test]
    fn object_names_and_keys() {
        let n = ObjName {
            day_object: false,
            first_us: 1_700_000_000_000_000,
            last_us: 1_700_000_300_000_000,
            nonce: 1_700_000_301_000_123,
        };
        assert_eq!(
            n.render(),
            "P-1700000000000000-1700000300000000-1700000301000123.parquet"
        );
        assert_eq!(ObjName::parse(&n.render()), Some(n.clone()));
        let d = ObjName { day_object: true, ..n };
        assert!(d.render().starts_with("D-"));
        assert_eq!(ObjName::parse(&d.render()), Some(d));
        for bad in [
            "L0-1-2.parquet",
            "P-1-2.parquet",
            "X-1-2-3.parquet",
            "P-1-2-3.parquet.tmp",
        ] {
            assert_eq!(ObjName::parse(bad), None, "{bad}");
        }
        assert_eq!(
            object_key("fleet/a", "metrics", "web-1", 19_723, "P-1-2-3.parquet"),
            "fleet/a/metrics/host=web-1/date=2024-01-01/P-1-2-3.parquet"
        );
        assert_eq!(
            object_key("", "cpus", "h", 0, "D-1-2-3.parquet"),
            "cpus/host=h/date=1970-01-01/D-1-2-3.parquet"
        );
        // Every character of a key is one object_store keeps as is (no percent-encoding).
        let k = object_key("p", "metrics", "web-1.example_x", 19_723, &n.render());
        assert_eq!(Key::parse(&k).unwrap().as_ref(), k);
        let mut last = u64::MAX - 5;
        assert!(nonce(&mut last) > u64::MAX - 5);
        let mut last = 0;
        let a = nonce(&mut last);
        assert!(nonce(&mut last) > a);
    }

    #[test]
    fn secrets_are_redacted() {
        // Only this test sets the variable, to a value no other text contains.
        let secret = "sysmon-test-secret-Zq93";
        // SAFETY: no other test of this crate reads or writes this variable.
        unsafe { std::env::set_var("AWS_SESSION_TOKEN", secret) };
        let text = redact(&format!("error: token {secret} refused"));
        // SAFETY: as above.
        unsafe { std::env::remove_var("AWS_SESSION_TOKEN") };
        assert_eq!(text, "error: token *** refused");
    }
}
