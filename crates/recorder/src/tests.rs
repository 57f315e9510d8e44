//! Unit tests of the recorder without DuckDB: files, encodings, rotation, merging, recovery.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Encoding;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::sampler::{self, Sampled};
use super::*;
use sysmon_kernel::procfs::Roots;
use sysmon_kernel::sample::{Collector, HostSample};
use sysmon_kernel::sync::lock;
use sysmon_live::LiveState;
use sysmon_store::layout::{self, FileName, MICROS_PER_DAY};
use sysmon_store::store::{self, FileMeta, keys};
use sysmon_store::{faults, handle, lock, merge, wal};
use sysmon_tables::columns::{Batch, arrow_schema};
use sysmon_tables::metrics::{self, MetricsRow};
use sysmon_tables::schema::Row;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sysmon-rec-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    fs::canonicalize(d).unwrap()
}

/// What `start` hands the writer: the held directory and the locked partitions.
fn held(config: &Config) -> writer::Held {
    let root = handle::open_root(&config.dir).unwrap();
    let partitions = config
        .tables
        .iter()
        .map(|t| lock::Partition::acquire(&root, &config.dir, t.name(), &config.host).unwrap())
        .collect();
    writer::Held {
        root,
        partitions,
        hooks: faults::Hooks::default(),
    }
}

fn fixture_sample() -> HostSample {
    Collector::new(Roots::test_fixture("modern")).sample().unwrap()
}

/// A live state and the recorders started on it (what the process object holds for the
/// process), for tests that start recorders.
pub(super) struct Rig {
    pub live: Arc<LiveState>,
    pub recorders: Recorders,
}

impl std::ops::Deref for Rig {
    type Target = Arc<LiveState>;
    fn deref(&self) -> &Arc<LiveState> {
        &self.live
    }
}

pub(super) fn fixture_state() -> Rig {
    Rig {
        live: Arc::new(LiveState::new(Roots::test_fixture("modern"))),
        recorders: Recorders::default(),
    }
}

pub(super) fn check(rig: &Rig, req: &Request) -> Result<Config, String> {
    super::check(&rig.live, &rig.recorders, req)
}

pub(super) fn start_checked(rig: &Rig, config: Config) -> Result<Arc<Recorder>, String> {
    super::start(&rig.live, &rig.recorders, config)
}

pub(super) fn start(rig: &Rig, req: &Request) -> Result<Arc<Recorder>, String> {
    start_checked(rig, check(rig, req)?)
}

pub(super) fn stop(rig: &Rig, id: i64) -> Result<RecordingRow, String> {
    super::stop(&rig.recorders, id)
}

/// What the sampling thread would send for `ss[1..]` (the first is the baseline).
fn ticks(config: &Config, state: &LiveState, ss: &[Arc<HostSample>]) -> Vec<Sampled> {
    let mut tables = sampler::Tables::new(config, ss[0].clone());
    ss[1..]
        .iter()
        .map(|s| tables.tick(state, s.clone(), false, |i, e| panic!("table {i}: {e}")))
        .collect()
}

/// Samples one second apart starting at `start_us`, with counters moving.
fn samples(start_us: i64, n: usize) -> Vec<Arc<HostSample>> {
    let base = fixture_sample();
    (0..n)
        .map(|i| {
            let mut s = base.clone();
            s.ts = Timestamp::from_micros(start_us + i as i64 * 1_000_000);
            s.instant = base.instant + Duration::from_secs(i as u64);
            if let Some(t) = s.stat.total.as_mut() {
                t.user += 37 * i as u64;
                t.idle += 163 * i as u64;
            }
            Arc::new(s)
        })
        .collect()
}

fn meta() -> FileMeta {
    FileMeta {
        table: "metrics",
        host: "testhost".into(),
        interval_seconds: 1.0,
    }
}

fn write_l0(day_dir: &Path, rows: &[Arc<HostSample>]) -> FileName {
    let mut b = Batch::new(MetricsRow::TABLE);
    for w in rows.windows(2) {
        b.push(&metrics::row(&w[0], &w[1]));
    }
    let (first_us, last_us) = b.ts_range().unwrap();
    let name = FileName {
        level: 0,
        first_us,
        last_us,
        dup: 0,
    };
    let batch = b.take().unwrap();
    store::write_batch(
        day_dir,
        &name.render(),
        MetricsRow::TABLE,
        &batch,
        store::metadata_kv(&meta(), 0, &[]),
    )
    .unwrap();
    name
}

fn read_ts(path: &Path) -> Vec<i64> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    let r = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in r {
        let b = b.unwrap();
        out.extend(
            b.column(0)
                .as_primitive::<TimestampMicrosecondType>()
                .values()
                .iter()
                .copied(),
        );
    }
    out
}

fn all_ts(host_dir: &Path) -> Vec<i64> {
    let mut out = Vec::new();
    for (_, d) in layout::list_days(host_dir).unwrap() {
        for f in layout::list_files(&d).unwrap() {
            out.extend(read_ts(&f.path));
        }
    }
    out.sort();
    out
}

const DAY0: i64 = 20_000 * MICROS_PER_DAY;

#[test]
fn file_has_declared_schema_metadata_and_encodings() {
    let dir = tmp("encodings");
    let name = write_l0(&dir, &samples(DAY0, 11));
    let path = dir.join(name.render());
    let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
    let md = reader.metadata();
    assert_eq!(md.file_metadata().num_rows(), 10);
    let kv = store::read_kv(&path).unwrap();
    assert_eq!(store::kv_get(&kv, keys::TABLE), Some("metrics"));
    assert_eq!(store::kv_get(&kv, keys::HOST), Some("testhost"));
    assert_eq!(store::kv_get(&kv, keys::INTERVAL_SECONDS), Some("1"));
    assert_eq!(store::kv_get(&kv, keys::SCHEMA_VERSION), Some("1"));
    assert_eq!(
        store::kv_get(&kv, keys::SYSMON_VERSION),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(store::kv_get(&kv, "ARROW:schema").is_none(), "no embedded arrow schema");
    let rg = md.row_group(0);
    let enc = |col: &str| {
        let i = MetricsRow::TABLE.column_index(col).unwrap();
        rg.column(i).encodings().collect::<Vec<_>>()
    };
    assert!(enc("ts").contains(&Encoding::DELTA_BINARY_PACKED), "{:?}", enc("ts"));
    assert!(enc("context_switches").contains(&Encoding::DELTA_BINARY_PACKED));
    // Memory gauges (whole KiB): PLAIN, no dictionary.
    assert!(enc("mem_used_bytes").contains(&Encoding::PLAIN));
    assert!(!enc("mem_used_bytes").contains(&Encoding::DELTA_BINARY_PACKED));
    assert!(!enc("mem_used_bytes").contains(&Encoding::RLE_DICTIONARY));
    // Gauges: BYTE_STREAM_SPLIT, or a dictionary where values repeat (percentages of ticks).
    assert!(enc("uptime_seconds").contains(&Encoding::BYTE_STREAM_SPLIT));
    assert!(!enc("uptime_seconds").contains(&Encoding::RLE_DICTIONARY));
    assert!(
        enc("cpu_busy_pct").contains(&Encoding::RLE_DICTIONARY),
        "{:?}",
        enc("cpu_busy_pct")
    );
    assert!(enc("cpu_user_seconds").contains(&Encoding::PLAIN));
    assert!(!enc("cpu_user_seconds").contains(&Encoding::RLE_DICTIONARY));
    assert!(
        enc("hostname").contains(&Encoding::RLE_DICTIONARY),
        "{:?}",
        enc("hostname")
    );
    // The rows read back are the rows written.
    assert_eq!(
        read_ts(&path),
        (1..11).map(|i| DAY0 + i * 1_000_000).collect::<Vec<_>>()
    );
    let r = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
    let schema = r.schema().clone();
    for (f, want) in schema.fields().iter().zip(arrow_schema(MetricsRow::TABLE).fields()) {
        assert_eq!(f.name(), want.name());
        assert_eq!(f.data_type(), want.data_type(), "{}", f.name());
    }
    assert!(layout::list_temps(&dir).unwrap().is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn level0_files_are_cheap_and_merged_files_compressed_and_sorted() {
    use parquet::basic::Compression;
    let dir = tmp("level0");
    let all = samples(DAY0, 21);
    let decl = MetricsRow::TABLE;
    let schema = arrow_schema(decl);
    // Two level-0 files as the writer makes them, the later rows written first.
    let mut names = Vec::new();
    for chunk in [&all[10..], &all[..11]] {
        let mut b = Batch::new(decl);
        for w in chunk.windows(2) {
            b.push(&metrics::row(&w[0], &w[1]));
        }
        let (first_us, last_us) = b.ts_range().unwrap();
        let name = FileName {
            level: 0,
            first_us,
            last_us,
            dup: 0,
        };
        let batch = b.take().unwrap();
        let props = store::level0_properties(decl, store::metadata_kv(&meta(), 0, &[]));
        store::write_atomically(
            &faults::Hooks::default(),
            &dir,
            &name.render(),
            &schema,
            props,
            |w| w.write(&batch).map_err(|e| std::io::Error::other(e.to_string())),
            || {},
        )
        .unwrap();
        names.push(name);
    }
    let col = |path: &Path, name: &str| {
        let r = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let c = r
            .metadata()
            .row_group(0)
            .column(decl.column_index(name).unwrap())
            .clone();
        (
            c.compression(),
            c.statistics().is_some(),
            c.encodings().collect::<Vec<_>>(),
        )
    };
    let l0 = dir.join(names[0].render());
    let (compression, stats, enc) = col(&l0, "ts");
    assert_eq!(compression, Compression::UNCOMPRESSED);
    assert!(!stats, "level-0 files carry no statistics");
    assert!(
        enc.contains(&Encoding::DELTA_BINARY_PACKED),
        "same encodings as merged files: {enc:?}"
    );
    let inputs = layout::list_files(&dir).unwrap();
    assert_eq!(inputs.len(), 2);
    let m = merge::merge(&faults::Hooks::default(), &dir, decl, &schema, &meta(), &inputs, 1).unwrap();
    assert_eq!(m.files, 1);
    let merged = layout::list_files(&dir).unwrap();
    assert_eq!(merged.len(), 1);
    let (compression, stats, _) = col(&merged[0].path, "ts");
    assert!(matches!(compression, Compression::ZSTD(_)), "{compression:?}");
    assert!(stats, "merged files carry chunk statistics");
    // Rows come out sorted by the series key (for metrics: ts), every row once.
    let ts = read_ts(&merged[0].path);
    assert_eq!(ts, (1..21).map(|i| DAY0 + i * 1_000_000).collect::<Vec<_>>());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn merge_keeps_every_row_once_and_recovery_finishes_a_crashed_merge() {
    let dir = tmp("merge");
    let host_dir = layout::host_dir(&dir, "metrics", "testhost");
    let day_dir = layout::date_dir(&host_dir, layout::day_of(DAY0));
    let all = samples(DAY0, 31);
    let names: Vec<FileName> = all
        .chunks(10)
        .filter(|c| c.len() > 1)
        .map(|c| write_l0(&day_dir, c))
        .collect();
    let before = all_ts(&host_dir);
    let n_before = before.len();
    assert_eq!(names.len(), 3);
    let schema = arrow_schema(MetricsRow::TABLE);
    // Fan-in 4: nothing to do yet.
    assert_eq!(
        merge::compact(
            &faults::Hooks::default(),
            &day_dir,
            MetricsRow::TABLE,
            &schema,
            &meta(),
            4
        )
        .unwrap()
        .files,
        0
    );
    // Keep copies of the inputs, to replay a crash between rename and delete.
    let copies: Vec<(PathBuf, Vec<u8>)> = names
        .iter()
        .map(|n| (day_dir.join(n.render()), fs::read(day_dir.join(n.render())).unwrap()))
        .collect();
    let m = merge::compact(
        &faults::Hooks::default(),
        &day_dir,
        MetricsRow::TABLE,
        &schema,
        &meta(),
        3,
    )
    .unwrap();
    assert_eq!(m.files, 1);
    let files = layout::list_files(&day_dir).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name.level, 1);
    assert_eq!(all_ts(&host_dir), before, "no row lost or doubled by the merge");
    let kv = store::read_kv(&files[0].path).unwrap();
    let merged_from = store::kv_get(&kv, keys::MERGED_FROM).unwrap();
    assert_eq!(merged_from.split(',').count(), 3);
    // A crash after the rename: the inputs are still there, rows visible twice...
    for (p, bytes) in &copies {
        fs::write(p, bytes).unwrap();
    }
    fs::write(day_dir.join(layout::temp_name("L0-1-2.parquet")), b"partial").unwrap();
    assert_eq!(all_ts(&host_dir).len(), 2 * n_before);
    // ...until the next recorder recovers.
    assert_eq!(merge::recover(&host_dir).unwrap(), 4);
    assert_eq!(all_ts(&host_dir), before);
    assert!(layout::list_temps(&day_dir).unwrap().is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

fn test_config(dir: &Path, flush: Duration) -> Config {
    Config {
        dir: dir.to_path_buf(),
        remote: None,
        interval: Duration::from_secs(1),
        process_interval: Duration::from_secs(60),
        flush_interval: flush,
        publish_interval: flush,
        tables: vec![sysmon_tables::recorded::find("metrics").unwrap()],
        retention: None,
        max_bytes: None,
        host: "testhost".into(),
        checked_at: std::time::Instant::now(),
        faults: sysmon_store::faults::Hooks::default(),
    }
}

#[test]
fn rotation_splits_days_and_closes_the_finished_one() {
    let dir = tmp("rotation");
    let config = test_config(&dir, Duration::from_secs(3600));
    // 40 samples ending 20 s after midnight UTC.
    let ss = samples(DAY0 + MICROS_PER_DAY - 20_000_000, 41);
    let shared = Arc::new(Shared::default());
    let state = fixture_state();
    let (tx, rx) = sync_channel(100);
    for t in ticks(&config, &state, &ss) {
        tx.send(t).unwrap();
    }
    drop(tx);
    let h = held(&config);
    writer::run(config.clone(), shared.clone(), rx, state.live.clone(), h);
    let host_dir = layout::host_dir(&dir, "metrics", "testhost");
    let days = layout::list_days(&host_dir).unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[0].0, layout::day_of(DAY0));
    for (day, d) in &days {
        for f in layout::list_files(d).unwrap() {
            assert!(
                read_ts(&f.path).iter().all(|t| layout::day_of(*t) == *day),
                "a file spans two days"
            );
        }
    }
    assert_eq!(
        all_ts(&host_dir),
        ss[1..].iter().map(|s| s.ts.micros).collect::<Vec<_>>()
    );
    let st = lock(&shared.status).clone();
    assert_eq!(st.rows_written, 40);
    assert_eq!(st.rows_dropped, 0);
    assert!(st.last_error.is_none(), "{:?}", st.last_error);
    assert_eq!(shared.state(), State::Failed, "not stopped: the channel closed");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_restart_merges_a_finished_day_left_in_pieces() {
    let dir = tmp("closeday");
    let host_dir = layout::host_dir(&dir, "metrics", "testhost");
    let day_dir = layout::date_dir(&host_dir, layout::day_of(DAY0));
    let all = samples(DAY0, 21);
    for c in all.chunks(7) {
        write_l0(&day_dir, c);
    }
    let before = all_ts(&host_dir);
    let shared = Arc::new(Shared::default());
    let (tx, rx) = sync_channel::<Sampled>(1);
    drop(tx);
    let config = test_config(&dir, Duration::from_secs(60));
    let h = held(&config);
    writer::run(config, shared, rx, fixture_state().live, h);
    let files = layout::list_files(&day_dir).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name.level, merge::DAY_LEVEL);
    assert_eq!(all_ts(&host_dir), before);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_refuses_bad_requests() {
    let dir = tmp("check");
    let state = fixture_state();
    let check = |r: &Request| check(&state, r);
    let req = |d: &str| Request {
        dir: d.to_string(),
        interval: Duration::from_secs(1),
        tables: None,
        process_interval: None,
        flush_interval: None,
        publish_interval: None,
        retention: None,
        max_bytes: None,
        ship: Default::default(),
    };
    let file = dir.join("afile");
    fs::write(&file, b"x").unwrap();
    let e = check(&req(file.to_str().unwrap())).unwrap_err();
    assert!(e.contains("is a file"), "{e}");
    let e = check(&req(&format!("{}/sub", file.display()))).unwrap_err();
    assert!(e.contains("cannot be created"), "{e}");
    assert!(check(&req("")).unwrap_err().contains("empty"));
    let ok = check(&req(dir.join("new/deeper").to_str().unwrap())).unwrap();
    assert_eq!(ok.tables.len(), sysmon_tables::recorded::defaults(&state).len());
    assert!(ok.dir.is_absolute());
    let rel = check(&req("some/../rel")).unwrap();
    assert_eq!(rel.dir, std::env::current_dir().unwrap().join("rel"));
    let mut r = req(dir.to_str().unwrap());
    r.interval = Duration::from_millis(5);
    assert!(
        check(&r)
            .unwrap_err()
            .contains("interval must be an INTERVAL from 10 ms to 1 day")
    );
    r.interval = Duration::from_secs(2);
    r.process_interval = Some(Duration::from_secs(1));
    assert!(check(&r).unwrap_err().contains("process_interval"));
    // Every bound is checked here, not only in the SQL binding.
    r.process_interval = Some(Duration::from_secs(2 * 86_400));
    assert!(check(&r).unwrap_err().contains("process_interval must be an INTERVAL"));
    r.process_interval = None;
    r.flush_interval = Some(Duration::from_millis(50));
    assert!(
        check(&r)
            .unwrap_err()
            .contains("flush_interval must be an INTERVAL from 100 ms")
    );
    r.flush_interval = None;
    r.retention = Some(Duration::from_secs(59));
    assert!(
        check(&r)
            .unwrap_err()
            .contains("retention must be an INTERVAL from 1 minute")
    );
    r.retention = None;
    r.max_bytes = Some(0);
    assert!(check(&r).unwrap_err().contains("max_bytes"));
    r.max_bytes = None;
    r.tables = Some(vec!["nope".into()]);
    assert!(check(&r).unwrap_err().contains("accepted: metrics, cpus"));
    fs::remove_dir_all(&dir).unwrap();
}

/// Waits (at most a generous 20 s, for a loaded machine) until `done` holds.
fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn records_a_fixture_tree_stops_and_refuses_a_second_recorder_on_the_same_dir() {
    let dir = tmp("e2e");
    let state = fixture_state();
    let req = Request {
        dir: dir.display().to_string(),
        interval: Duration::from_millis(50),
        tables: Some(vec!["metrics".into(), "cpus".into(), "sensors".into()]),
        process_interval: None,
        flush_interval: Some(Duration::from_millis(200)),
        publish_interval: None,
        retention: None,
        max_bytes: None,
        ship: Default::default(),
    };
    let rec = start(&state, &req).unwrap();
    let e = start(&state, &req).err().unwrap();
    assert!(e.contains("already recording"), "{e}");
    wait_for(|| rec.row().samples_taken >= 3);
    let row = stop(&state, rec.id).unwrap();
    assert_eq!(row.state, "stopped");
    assert_eq!(row.rows_dropped, 0);
    assert!(row.last_error.is_none(), "{:?}", row.last_error);
    let host_dir = |t: &str| layout::host_dir(&dir, t, &rec.config.host);
    let ts = all_ts(&host_dir("metrics"));
    assert_eq!(ts.len() as u64, row.samples_taken, "one metrics row per sample");
    // The fixture tree has 2 CPUs and 7 sensors: the rows are the fixture's, not the host's.
    assert_eq!(all_ts(&host_dir("cpus")).len() as u64, 2 * row.samples_taken);
    assert_eq!(all_ts(&host_dir("sensors")).len() as u64, 7 * row.samples_taken);
    assert_eq!(row.rows_written, 10 * row.samples_taken);
    assert!(stop(&state, rec.id).unwrap_err().contains("already stopped"));
    assert!(stop(&state, 999_999).unwrap_err().contains("no recorder has id 999999"));
    // The lock is released: a new recorder can start on the same directory.
    let again = start(&state, &req).unwrap();
    stop(&state, again.id).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

fn fast_request(dir: &Path, tables: &[&str]) -> Request {
    Request {
        dir: dir.display().to_string(),
        interval: Duration::from_millis(20),
        tables: Some(tables.iter().map(|t| t.to_string()).collect()),
        process_interval: None,
        flush_interval: Some(Duration::from_millis(100)),
        // Files published at every flush: these tests watch the visible files while recording.
        publish_interval: Some(Duration::from_millis(100)),
        retention: None,
        max_bytes: None,
        ship: Default::default(),
    }
}

/// `remove_dir_all`, retried: the recorder may add a file while the tree is being removed.
fn remove_tree(dir: &Path) {
    for _ in 0..50 {
        match fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    panic!("cannot remove {}", dir.display());
}

fn last_error(rec: &Recorder) -> String {
    rec.row().last_error.unwrap_or_default()
}

/// Every file below `dir`, links not followed.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn injected_faults_come_from_the_config_and_last_error_names_every_failed_table() {
    let dir = tmp("faults");
    let fault = dir.join("fault");
    fs::write(&fault, b"").unwrap();
    let state = fixture_state();
    let req = fast_request(&dir.join("rec"), &["metrics", "cpus", "sensors"]);
    let mut config = check(&state, &req).unwrap();
    // A checked config carries the environment's hooks (none here); the test sets its own.
    assert_eq!(config.faults, faults::Hooks::from_env(|k| std::env::var(k).ok()));
    config.faults = faults::Hooks {
        fault_file: Some(fault.clone()),
        ..faults::Hooks::default()
    };
    let rec = start_checked(&state, config).unwrap();
    wait_for(|| last_error(&rec).contains("3 of 3 tables"));
    let e = last_error(&rec);
    assert!(e.contains("(metrics, cpus, sensors)") && e.contains("injected"), "{e}");
    assert_eq!(rec.row().rows_written, 0);
    fs::remove_file(&fault).unwrap();
    wait_for(|| rec.row().rows_written > 0);
    let row = stop(&state, rec.id).unwrap();
    assert_eq!(row.rows_dropped, 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn links_swapped_in_while_recording_never_redirect_writes() {
    let base = tmp("swap");
    let outside = base.join("outside");
    fs::create_dir(&outside).unwrap();
    let dir = base.join("rec");
    let state = fixture_state();
    let rec = start(&state, &fast_request(&dir, &["metrics", "cpus"])).unwrap();
    wait_for(|| rec.row().rows_written > 0);
    // A table folder replaced by a link: refused, nothing written through it.
    remove_tree(&dir.join("cpus"));
    std::os::unix::fs::symlink(&outside, dir.join("cpus")).unwrap();
    wait_for(|| last_error(&rec).contains("is a symbolic link"));
    assert!(
        last_error(&rec).contains("1 of 2 tables (cpus)"),
        "{}",
        last_error(&rec)
    );
    let metrics_rows = rec.row().rows_written;
    wait_for(|| rec.row().rows_written > metrics_rows);
    // The recording directory replaced by a link: nothing written, rows stay buffered.
    fs::rename(&dir, base.join("moved")).unwrap();
    std::os::unix::fs::symlink(&outside, &dir).unwrap();
    wait_for(|| last_error(&rec).contains("replaced by a symbolic link"));
    let written = rec.row().rows_written;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        rec.row().rows_written,
        written,
        "nothing written while the root is a link"
    );
    assert_eq!(
        files_below(&outside),
        Vec::<PathBuf>::new(),
        "nothing written through a link"
    );
    // Put back (without the cpus link): every buffered row is written.
    fs::remove_file(&dir).unwrap();
    fs::rename(base.join("moved"), &dir).unwrap();
    fs::remove_file(dir.join("cpus")).unwrap();
    let row = {
        wait_for(|| rec.row().rows_written > written);
        stop(&state, rec.id).unwrap()
    };
    assert_eq!(row.rows_dropped, 0);
    let metrics = all_ts(&layout::host_dir(&dir, "metrics", &rec.config.host));
    assert_eq!(metrics.len() as u64, row.samples_taken);
    // The cpus rows written before its folder was removed went with it; every later one is
    // there (2 CPUs in the fixture), none lost while the link stood.
    let cpus = all_ts(&layout::host_dir(&dir, "cpus", &rec.config.host));
    let later: Vec<i64> = metrics
        .iter()
        .filter(|t| **t >= cpus[0])
        .flat_map(|t| [*t, *t])
        .collect();
    assert_eq!(cpus, later);
    assert_eq!(files_below(&outside), Vec::<PathBuf>::new());
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn a_deleted_recording_is_taken_again_or_left_to_the_recorder_that_took_its_lock() {
    let dir = tmp("deleted").join("rec");
    let state = fixture_state();
    let rec = start(&state, &fast_request(&dir, &["metrics", "cpus"])).unwrap();
    wait_for(|| rec.row().rows_written > 0);
    // Deleted, nobody else around: re-created, lock taken again, nothing lost after.
    remove_tree(&dir);
    wait_for(|| last_error(&rec).contains("took the lock again"));
    wait_for(|| !all_ts(&layout::host_dir(&dir, "metrics", &rec.config.host)).is_empty());
    let locked = lock::Partition::acquire(&handle::open_root(&dir).unwrap(), &dir, "metrics", &rec.config.host);
    assert!(
        locked.is_err(),
        "the recorder holds the lock of the re-created partition"
    );
    // Deleted again, and another recorder takes the lock first: this one stops, writes nothing more.
    remove_tree(&dir);
    let other = handle::open_root(&dir).unwrap();
    let theirs = lock::Partition::acquire(&other, &dir, "metrics", &rec.config.host).unwrap();
    wait_for(|| rec.state() != State::Running);
    let row = rec.row();
    assert_eq!(row.state, "stopped");
    let e = row.last_error.unwrap();
    assert!(e.contains("another recorder") && e.contains("stopped"), "{e}");
    assert!(all_ts(&layout::host_dir(&dir, "metrics", &rec.config.host)).is_empty());
    drop(theirs);
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

/// Found at the next flush, not at the next publish (an hour away here): the folder is taken
/// again and what the recorder held is published into it.
#[test]
fn a_deleted_recording_is_found_at_the_next_flush() {
    let dir = tmp("deleted-flush").join("rec");
    let state = fixture_state();
    let mut req = fast_request(&dir, &["metrics"]);
    req.publish_interval = Some(Duration::from_secs(3600));
    let rec = start(&state, &req).unwrap();
    wait_for(|| rec.row().rows_journaled > 0);
    remove_tree(&dir);
    wait_for(|| last_error(&rec).contains("took the lock again"));
    let host_dir = layout::host_dir(&dir, "metrics", &rec.config.host);
    wait_for(|| !all_ts(&host_dir).is_empty());
    let row = stop(&state, rec.id).unwrap();
    assert_eq!(row.rows_dropped, 0);
    let ts = all_ts(&host_dir);
    assert_eq!(
        ts.len() as u64,
        row.rows_written,
        "every row published after the loss is in the new folder"
    );
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn a_second_start_of_one_statement_names_the_recorder_left_running() {
    let dir = tmp("twice");
    let state = fixture_state();
    let req = fast_request(&dir, &["metrics"]);
    // Both record_metrics of `... UNION ALL ...` are bound before either runs.
    let (a, b) = (check(&state, &req).unwrap(), check(&state, &req).unwrap());
    let first = start_checked(&state, a).unwrap();
    let e = start_checked(&state, b).err().unwrap();
    assert!(
        e.contains(&format!("recorder {} is already recording", first.id)),
        "{e}"
    );
    assert!(
        e.contains("this statement") && e.contains(&format!("stop_recording({})", first.id)),
        "{e}"
    );
    // A later statement gets the plain message.
    let e = start(&state, &req).err().unwrap();
    assert!(e.contains("stop it first") && !e.contains("this statement"), "{e}");
    stop(&state, first.id).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_resolves_links_and_names_what_is_wrong_with_a_directory() {
    let base = tmp("resolve");
    let state = fixture_state();
    let outside = base.join("outside");
    fs::create_dir(&outside).unwrap();
    let allowed = base.join("allowed");
    fs::create_dir(&allowed).unwrap();
    std::os::unix::fs::symlink(&outside, allowed.join("link")).unwrap();
    let mut req = fast_request(&allowed.join("link/rec"), &["metrics"]);
    assert_eq!(
        check(&state, &req).unwrap().dir,
        outside.join("rec"),
        "checked where it really is"
    );
    assert_eq!(resolve(&allowed.join("link/../x")).unwrap(), base.join("x"));
    assert_eq!(resolve(&allowed.join("new/../x")).unwrap(), allowed.join("x"));
    std::os::unix::fs::symlink(base.join("missing"), allowed.join("dangling")).unwrap();
    req.dir = allowed.join("dangling/rec").display().to_string();
    let e = check(&state, &req).unwrap_err();
    assert!(
        e.contains("is a symbolic link to") && e.contains("does not exist"),
        "{e}"
    );
    for (dir, why) in [
        ("/proc", "on a proc file system"),
        ("/proc/x/y", "on a proc file system"),
        ("/sys/x", "on a sysfs file system"),
    ] {
        req.dir = dir.into();
        let e = check(&state, &req).unwrap_err();
        assert!(e.contains(why), "{dir}: {e}");
    }
    req.dir = base.join("rec").display().to_string();
    req.tables = Some(vec!["metrics".into(), "cpus".into()]);
    req.max_bytes = Some(1);
    let e = check(&state, &req).unwrap_err();
    assert!(
        e.contains("max_bytes must be at least 2097152 bytes") && e.contains("got 1"),
        "{e}"
    );
    req.max_bytes = Some(2 << 20);
    assert_eq!(check(&state, &req).unwrap().max_bytes, Some(2 << 20));
    fs::remove_dir_all(&base).unwrap();
}

/// The `ts` of every row of a write-ahead log, and the name of the level-0 file each of its
/// days is published as.
fn logged(host_dir: &Path) -> (Vec<i64>, Vec<(i64, String)>) {
    let schema = arrow_schema(MetricsRow::TABLE);
    let (w, note) = wal::Wal::open(&handle::Dir::open(host_dir).unwrap(), &schema).unwrap();
    assert!(note.is_none(), "{note:?}");
    let mut ts = Vec::new();
    for r in w.records() {
        let b = w.read(r, &schema).unwrap();
        let col = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
            .unwrap();
        ts.extend(col.values().iter().copied());
    }
    let mut days: Vec<i64> = w.records().iter().map(|r| r.day).collect();
    days.dedup();
    let names = days
        .into_iter()
        .map(|d| {
            let g: Vec<&wal::Record> = w.records().iter().filter(|r| r.day == d).collect();
            let name = FileName {
                level: 0,
                first_us: g.iter().map(|r| r.first_us).min().unwrap(),
                last_us: g.iter().map(|r| r.last_us).max().unwrap(),
                dup: 0,
            };
            (d, name.render())
        })
        .collect();
    ts.sort();
    (ts, names)
}

/// A log whose middle record has a right checksum but does not decode (issue 20: it stopped
/// the table from ever publishing again). The next recorder publishes what precedes it, counts
/// the decodable rows after it as dropped, says so in `last_error`, and then records normally.
#[test]
fn a_log_record_that_does_not_decode_cannot_wedge_its_table() {
    let dir = tmp("undecodable");
    let state = fixture_state();
    let host = layout::host_partition(&sysmon_kernel::host::hostname());
    let host_dir = layout::host_dir(&dir, "metrics", &host);
    fs::create_dir_all(&host_dir).unwrap();
    let schema = arrow_schema(MetricsRow::TABLE);
    let day0 = (wall_us() / MICROS_PER_DAY - 1) * MICROS_PER_DAY;
    let batch_of = |start_us: i64, n: usize| {
        let mut b = Batch::new(MetricsRow::TABLE);
        for w in samples(start_us, n + 1).windows(2) {
            b.push(&metrics::row(&w[0], &w[1]));
        }
        let (first_us, last_us) = b.ts_range().unwrap();
        (first_us, last_us, b.take().unwrap())
    };
    let (mut w, _) = wal::Wal::open(&handle::Dir::open(&host_dir).unwrap(), &schema).unwrap();
    let mut lens = Vec::new();
    for (i, n) in [(0, 60), (1, 5), (2, 7)] {
        let (first_us, last_us, batch) = batch_of(day0 + i * 100_000_000, n);
        w.append(&[wal::Entry {
            day: layout::day_of(first_us),
            first_us,
            last_us,
            batch: &batch,
        }])
        .unwrap();
        lens.push(w.len() as usize);
    }
    drop(w);
    // The second record's Arrow bytes become junk under a matching checksum.
    let log = host_dir.join(wal::WAL_FILE);
    let mut bytes = fs::read(&log).unwrap();
    let (from, to) = (lens[0], lens[1]);
    for b in &mut bytes[from + 12 + 24..to] {
        *b = 0x5a;
    }
    let crc = crc32fast::hash(&bytes[from + 12..to]);
    bytes[from + 8..from + 12].copy_from_slice(&crc.to_le_bytes());
    fs::write(&log, &bytes).unwrap();

    let rec = start(&state, &fast_request(&dir, &["metrics"])).unwrap();
    wait_for(|| last_error(&rec).contains("does not decode") && rec.row().samples_taken >= 3);
    let row = stop(&state, rec.id).unwrap();
    let ts = all_ts(&host_dir);
    let before: Vec<i64> = ts.iter().copied().filter(|&t| t < wall_us() - 3_600_000_000).collect();
    assert_eq!(before.len(), 60, "the 60 rows before the damage are published");
    assert_eq!(
        row.rows_dropped, 7,
        "the decodable record after it is counted as dropped"
    );
    assert_eq!(
        ts.len() as u64,
        60 + row.samples_taken,
        "and recording goes on as usual"
    );
    assert!(row.last_error.unwrap_or_default().contains(".wal.damaged-"));
    fs::remove_dir_all(&dir).unwrap();
}

/// Runs a recorder of `metrics` on `dir` for a few samples; its row.
fn run_briefly(state: &Rig, dir: &Path) -> RecordingRow {
    let rec = start(state, &fast_request(dir, &["metrics"])).unwrap();
    wait_for(|| rec.row().samples_taken >= 3);
    stop(state, rec.id).unwrap()
}

#[test]
fn rows_wait_in_the_log_until_published_and_stop_publishes_every_one() {
    let dir = tmp("wal");
    let state = fixture_state();
    let mut req = fast_request(&dir, &["metrics", "cpus"]);
    req.publish_interval = None;
    let before = wall_us();
    let rec = start(&state, &req).unwrap();
    assert_eq!(rec.config.publish_interval, config::PUBLISH_DEFAULT);
    let host_dir = |t: &str| layout::host_dir(&dir, t, &rec.config.host);
    let log = host_dir("metrics").join(wal::WAL_FILE);
    wait_for(|| fs::metadata(&log).is_ok_and(|m| m.len() > 0) && rec.row().samples_taken >= 10);
    let (visible, written) = (all_ts(&host_dir("metrics")), rec.row().rows_written);
    let period = config::PUBLISH_DEFAULT.as_micros() as i64;
    if before.div_euclid(period) == wall_us().div_euclid(period) {
        // No publish moment (a multiple of 5 minutes on the wall clock) passed meanwhile.
        assert!(visible.is_empty(), "rows are visible only once published");
        assert_eq!(written, 0);
    }
    let row = stop(&state, rec.id).unwrap();
    assert!(row.last_error.is_none(), "{:?}", row.last_error);
    let ts = all_ts(&host_dir("metrics"));
    assert_eq!(ts.len() as u64, row.samples_taken, "stop publishes every row");
    assert_eq!(all_ts(&host_dir("cpus")).len() as u64, 2 * row.samples_taken);
    assert_eq!(row.rows_written, 3 * row.samples_taken);
    assert_eq!(
        fs::metadata(&log).unwrap().len(),
        0,
        "the log is empty after the last publish"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Every row of a tick carries the tick's time, in every table: sensors (whose rows read the
/// clock themselves) share the host tables' `ts`, and a tick whose reads began within the
/// tolerance carries its due time.
#[test]
fn rows_of_one_tick_share_the_ticks_time_in_every_table() {
    let dir = tmp("tickts");
    let state = fixture_state();
    let rec = start(&state, &fast_request(&dir, &["metrics", "sensors"])).unwrap();
    wait_for(|| rec.row().samples_taken >= 15);
    let row = stop(&state, rec.id).unwrap();
    assert!(row.last_error.is_none(), "{:?}", row.last_error);
    let host_dir = |t: &str| layout::host_dir(&dir, t, &rec.config.host);
    let metrics = all_ts(&host_dir("metrics"));
    let mut sensors = all_ts(&host_dir("sensors"));
    sensors.dedup();
    assert!(metrics.len() >= 15);
    assert_eq!(sensors, metrics, "one ts per tick, the same in both tables");
    let iv = rec.config.interval.as_micros() as i64;
    for ts in &metrics {
        let late = ts.rem_euclid(iv);
        assert!(
            late == 0 || late > sampler::TS_TOLERANCE_US,
            "ts {ts} is {late} us after its due time: it should carry the due time"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_log_left_by_a_crash_is_published_once_whenever_the_crash_came() {
    let base = tmp("replay");
    let state = fixture_state();
    // The log of a running recorder, copied: what a kill -9 at that moment leaves behind.
    let mut req = fast_request(&base.join("a"), &["metrics"]);
    req.publish_interval = Some(Duration::from_secs(86_400));
    let rec = start(&state, &req).unwrap();
    let host = rec.config.host.clone();
    let log_of = |d: &str| layout::host_dir(&base.join(d), "metrics", &host);
    wait_for(|| fs::metadata(log_of("a").join(wal::WAL_FILE)).is_ok_and(|m| m.len() > 0));
    wait_for(|| rec.row().samples_taken >= 12);
    let log = fs::read(log_of("a").join(wal::WAL_FILE)).unwrap();
    stop(&state, rec.id).unwrap();
    let place = |d: &str, bytes: &[u8]| {
        fs::create_dir_all(log_of(d)).unwrap();
        fs::write(log_of(d).join(wal::WAL_FILE), bytes).unwrap();
    };
    place("b", &log);
    let (ts, names) = logged(&log_of("b"));
    assert!(ts.len() >= 3, "{}", ts.len());
    let exactly_once = |d: &str, row: &RecordingRow| {
        let all = all_ts(&log_of(d));
        for t in &ts {
            assert_eq!(all.iter().filter(|x| *x == t).count(), 1, "{d}: row {t}");
        }
        assert_eq!(all.len() as u64, ts.len() as u64 + row.samples_taken, "{d}");
        assert!(row.last_error.is_none(), "{d}: {:?}", row.last_error);
    };
    // Killed at any moment of recording: the next recorder publishes the log.
    let row = run_briefly(&state, &base.join("b"));
    exactly_once("b", &row);
    // Killed mid-publish (or mid-replay): the level-0 file of the log's rows is visible and
    // the log was not emptied yet. The next recorder finds the file and skips those rows.
    place("c", &log);
    for (day, name) in &names {
        let day_dir = layout::date_dir(&log_of("b"), *day);
        let to = layout::date_dir(&log_of("c"), *day);
        fs::create_dir_all(&to).unwrap();
        fs::copy(day_dir.join(name), to.join(name)).unwrap();
    }
    let row = run_briefly(&state, &base.join("c"));
    exactly_once("c", &row);
    // A torn last record (power loss mid-write): replay stops at the last good record and
    // says so in last_error.
    place("d", &log[..log.len() - 5]);
    let rec = start(&state, &fast_request(&base.join("d"), &["metrics"])).unwrap();
    wait_for(|| rec.row().samples_taken >= 3);
    let e = last_error(&rec);
    assert!(e.contains("write-ahead log") && e.contains("last valid record"), "{e}");
    let row = stop(&state, rec.id).unwrap();
    let all = all_ts(&log_of("d"));
    let kept: Vec<i64> = all.iter().copied().filter(|t| ts.contains(t)).collect();
    assert!(
        kept.len() < ts.len() && !kept.is_empty(),
        "{} of {}",
        kept.len(),
        ts.len()
    );
    assert_eq!(kept, ts[..kept.len()].to_vec(), "a prefix of the log, each row once");
    assert_eq!(all.len() as u64, kept.len() as u64 + row.samples_taken);
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn an_s3_recording_publishes_at_least_as_often_as_it_uploads_by_default() {
    let spool = tmp("spool-default-publish");
    let state = fixture_state();
    let mut req = fast_request(&spool, &["metrics"]);
    req.dir = "s3://bucket/fleet".into();
    req.publish_interval = None;
    req.ship.endpoint = Some("http://127.0.0.1:9".into());
    req.ship.spool = Some(spool.display().to_string());
    for (upload, publish) in [(30, 30), (3_600, config::PUBLISH_DEFAULT.as_secs())] {
        req.ship.upload_interval = Some(Duration::from_secs(upload));
        let config = check(&state, &req).unwrap();
        assert_eq!(
            config.publish_interval,
            Duration::from_secs(publish),
            "upload_interval {upload} s"
        );
    }
    // A local recording keeps the one-minute default.
    let local = fast_request(&spool, &["metrics"]);
    let config = check(
        &state,
        &crate::Request {
            publish_interval: None,
            ..local
        },
    )
    .unwrap();
    assert_eq!(config.publish_interval, config::PUBLISH_DEFAULT);
}

/// `read_recording` in the recording process asks for a flush first: with an hour between
/// flushes, the log holds the samples taken until the request once it returns.
#[test]
fn a_flush_request_puts_the_latest_samples_in_the_log() {
    let dir = tmp("flush-request");
    let state = fixture_state();
    let mut req = fast_request(&dir, &["metrics"]);
    req.flush_interval = Some(Duration::from_secs(3600));
    req.publish_interval = Some(Duration::from_secs(3600));
    let rec = start(&state, &req).unwrap();
    wait_for(|| rec.row().samples_taken >= 3);
    let host_dir = layout::host_dir(&dir, "metrics", &rec.config.host);
    let schema = sysmon_tables::columns::arrow_schema(rec.config.tables[0].decl());
    assert!(sysmon_store::wal::snapshot(&host_dir, &schema).unwrap().is_empty());
    let taken = rec.row().samples_taken;
    assert_eq!(
        super::lifecycle::flush_folder(&state.recorders, &dir, Duration::from_secs(30)),
        1
    );
    let rows: usize = sysmon_store::wal::snapshot(&host_dir, &schema)
        .unwrap()
        .iter()
        .map(|(_, b)| b.num_rows())
        .sum();
    assert!(
        rows as u64 >= taken,
        "{rows} rows in the log, {taken} samples taken before the request"
    );
    // Another folder's reader asks nothing of this recorder.
    assert_eq!(
        super::lifecycle::flush_folder(&state.recorders, &dir.join("x"), Duration::from_secs(1)),
        0
    );
    let row = stop(&state, rec.id).unwrap();
    assert_eq!(row.rows_dropped, 0);
    // A stopped recorder is not asked.
    assert_eq!(
        super::lifecycle::flush_folder(&state.recorders, &dir, Duration::from_secs(1)),
        0
    );
    fs::remove_dir_all(&dir).unwrap();
}
