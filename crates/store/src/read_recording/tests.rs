use super::*;
use crate::faults::Hooks;
use crate::handle::Dir;
use crate::store::write_atomically;
use crate::wal::{Entry, Wal};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMicrosecondType};
use arrow_array::{Float64Array, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::file::properties::WriterProperties;

const DAY: i64 = layout::MICROS_PER_DAY;
/// A day well after the epoch: 2026-12-06.
const D0: i64 = 20_793;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("value", DataType::Float64, true),
        Field::new("added_later", DataType::Float64, true),
    ]))
}

/// Rows at `ts` (µs) whose value is the second of the day.
fn batch(ts: &[i64]) -> RecordBatch {
    let s = schema();
    RecordBatch::try_new(
        s,
        vec![
            Arc::new(TimestampMicrosecondArray::from(ts.to_vec()).with_timezone("UTC")),
            Arc::new(Float64Array::from(
                ts.iter().map(|t| (t % DAY) as f64 / 1e6).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(vec![Some(1.0); ts.len()])),
        ],
    )
    .unwrap()
}

/// An older file: no `added_later` column.
fn old_batch(ts: &[i64]) -> RecordBatch {
    let b = batch(ts);
    b.project(&[0, 1]).unwrap()
}

struct Rec {
    dir: PathBuf,
}

impl Rec {
    fn new(name: &str) -> Rec {
        let dir = std::env::temp_dir().join(format!("sysmon-read-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Rec { dir }
    }

    fn host_dir(&self, host: &str) -> PathBuf {
        let d = layout::host_dir(&self.dir, "metrics", host);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Publishes `b` as a file of `level` in its day's folder.
    fn file(&self, host: &str, level: u32, b: &RecordBatch) -> PathBuf {
        let ts = b.column(0).as_primitive::<TimestampMicrosecondType>();
        let (first, last) = (ts.value(0), ts.value(ts.len() - 1));
        let day_dir = layout::date_dir(&self.host_dir(host), layout::day_of(first));
        let name = FileName {
            level,
            first_us: first,
            last_us: last,
            dup: 0,
        }
        .render();
        write_atomically(
            &Hooks::default(),
            &day_dir,
            &name,
            &b.schema(),
            WriterProperties::builder().set_max_row_group_row_count(Some(4)).build(),
            |w| w.write(b).map_err(|e| io::Error::other(e.to_string())),
            || {},
        )
        .unwrap();
        day_dir.join(name)
    }

    /// Appends `b` to the host's log as one record.
    fn journal(&self, host: &str, b: &RecordBatch) {
        let dir = Dir::open(&self.host_dir(host)).unwrap();
        let (mut wal, _) = Wal::open(&dir, &schema()).unwrap();
        let ts = b.column(0).as_primitive::<TimestampMicrosecondType>();
        wal.append(&[Entry {
            day: layout::day_of(ts.value(0)),
            first_us: ts.value(0),
            last_us: ts.value(ts.len() - 1),
            batch: b,
        }])
        .unwrap();
    }

    fn read(&self, columns: &[usize], scope: &Scope) -> Result<Vec<(String, i64, f64)>, Error> {
        let parts = plan_local(&self.dir, "metrics", &schema(), scope)?;
        read_parts(parts, columns, scope)
    }
}

/// (host, ts, value) of every row the parts give, reading `columns` (which must include 0 and 1).
fn read_parts(parts: Vec<Part>, columns: &[usize], scope: &Scope) -> Result<Vec<(String, i64, f64)>, Error> {
    let mut out = Vec::new();
    for p in parts {
        let host = p.host.clone();
        let mut r = PartReader::new(p, &schema(), columns, scope)?;
        while let Some(c) = r.next_chunk()? {
            assert_eq!(c.columns.len(), columns.len());
            let ts = c.columns[0].as_primitive::<TimestampMicrosecondType>();
            let v = c.columns[1].as_primitive::<Float64Type>();
            for i in 0..c.len {
                out.push((host.clone(), ts.value(i), v.value(i)));
            }
        }
    }
    Ok(out)
}

fn secs(day: i64, from: i64, to: i64) -> Vec<i64> {
    (from..to).map(|s| day * DAY + s * 1_000_000).collect()
}

fn tss(rows: &[(String, i64, f64)]) -> Vec<i64> {
    let mut t: Vec<i64> = rows.iter().map(|r| r.1).collect();
    t.sort_unstable();
    t
}

#[test]
fn published_files_and_the_log_are_read_together_each_row_once() {
    let r = Rec::new("together");
    r.file("vm", 0, &batch(&secs(D0, 0, 10)));
    r.file("vm", 0, &batch(&secs(D0, 10, 20)));
    r.journal("vm", &batch(&secs(D0, 20, 25)));
    r.journal("vm", &batch(&secs(D0, 25, 30)));
    let rows = r.read(&[0, 1], &Scope::default()).unwrap();
    assert_eq!(tss(&rows), secs(D0, 0, 30));
    assert!(rows.iter().all(|(h, t, v)| h == "vm" && *v == ((t % DAY) as f64 / 1e6)));
    let parts = plan_local(&r.dir, "metrics", &schema(), &Scope::default()).unwrap();
    assert_eq!(parts.iter().filter(|p| p.is_journal()).count(), 2);
}

#[test]
fn a_log_record_already_published_is_not_read_again() {
    // A crash between a publish's rename and the log's truncation, or a publish between the
    // reader's two reads: the log still holds rows that a file has.
    let r = Rec::new("published");
    r.journal("vm", &batch(&secs(D0, 0, 10)));
    r.journal("vm", &batch(&secs(D0, 10, 20)));
    r.file("vm", 0, &batch(&secs(D0, 0, 20)));
    r.journal("vm", &batch(&secs(D0, 20, 30)));
    let rows = r.read(&[0, 1], &Scope::default()).unwrap();
    assert_eq!(tss(&rows), secs(D0, 0, 30));
}

#[test]
fn a_merge_in_flight_shows_the_merged_file_only() {
    let r = Rec::new("merging");
    r.file("vm", 0, &batch(&secs(D0, 0, 10)));
    r.file("vm", 0, &batch(&secs(D0, 10, 20)));
    r.file("vm", 1, &batch(&secs(D0, 0, 20)));
    r.file("vm", 0, &batch(&secs(D0, 20, 25)));
    let rows = r.read(&[0, 1], &Scope::default()).unwrap();
    assert_eq!(tss(&rows), secs(D0, 0, 25));
}

#[test]
fn since_until_and_host_prune_and_cut() {
    let r = Rec::new("scope");
    r.file("vm", 1, &batch(&secs(D0 - 1, 86_390, 86_400)));
    r.file("vm", 1, &batch(&secs(D0, 0, 100)));
    r.file("db", 1, &batch(&secs(D0, 0, 100)));
    r.journal("vm", &batch(&secs(D0, 100, 110)));
    let scope = Scope {
        host: Some("vm".into()),
        since_us: Some(D0 * DAY + 95_000_000),
        until_us: Some(D0 * DAY + 105_000_000),
    };
    let rows = r.read(&[0, 1], &scope).unwrap();
    assert_eq!(tss(&rows), secs(D0, 95, 105));
    assert!(rows.iter().all(|r| r.0 == "vm"));
    // The day before is not even opened; nor is a file outside the range.
    let parts = plan_local(&r.dir, "metrics", &schema(), &scope).unwrap();
    assert_eq!(parts.len(), 2, "{parts:?}");
    // Every host.
    let all = r.read(&[0, 1], &Scope::default()).unwrap();
    assert_eq!(all.len(), 10 + 100 + 100 + 10);
    // An empty range is no rows, not an error.
    let none = Scope {
        since_us: Some(0),
        until_us: Some(1),
        ..Scope::default()
    };
    assert!(r.read(&[0, 1], &none).unwrap().is_empty());
}

#[test]
fn row_groups_outside_the_range_are_skipped() {
    let r = Rec::new("groups");
    // Row groups of 4 rows.
    let path = r.file("vm", 1, &batch(&secs(D0, 0, 40)));
    let scope = Scope {
        since_us: Some(D0 * DAY + 33_000_000),
        ..Scope::default()
    };
    let parts = plan_local(&r.dir, "metrics", &schema(), &scope).unwrap();
    assert_eq!(parts.len(), 1);
    let mut reader = PartReader::new(parts.into_iter().next().unwrap(), &schema(), &[0], &scope).unwrap();
    let mut seen = 0;
    let mut decoded = 0;
    while let Some(c) = reader.next_chunk().unwrap() {
        seen += c.len;
        decoded += 1;
    }
    assert_eq!(seen, 7);
    assert!(decoded >= 1);
    assert!(path.exists());
}

#[test]
fn unknown_host_and_table_say_what_is_there() {
    let r = Rec::new("unknown");
    r.file("vm", 0, &batch(&secs(D0, 0, 2)));
    let err = r
        .read(
            &[0, 1],
            &Scope {
                host: Some("db".into()),
                ..Scope::default()
            },
        )
        .unwrap_err();
    assert!(err.contains("host 'db'") && err.contains("recorded hosts: vm"), "{err}");
    let err = plan_local(&r.dir, "cpus", &schema(), &Scope::default()).unwrap_err();
    assert!(
        err.contains("no recorded table 'cpus'") && err.contains("recorded here: metrics"),
        "{err}"
    );
    let err = plan_local(&r.dir.join("nope"), "metrics", &schema(), &Scope::default()).unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn only_the_requested_columns_are_decoded_and_an_older_file_gives_null() {
    let r = Rec::new("columns");
    r.file("vm", 0, &old_batch(&secs(D0, 0, 3)));
    r.file("vm", 0, &batch(&secs(D0, 3, 6)));
    let parts = plan_local(&r.dir, "metrics", &schema(), &Scope::default()).unwrap();
    let mut nulls = 0;
    let mut ones = 0;
    for p in parts {
        let mut rd = PartReader::new(p, &schema(), &[2], &Scope::default()).unwrap();
        while let Some(c) = rd.next_chunk().unwrap() {
            assert_eq!(c.columns.len(), 1);
            let a = c.columns[0].as_primitive::<Float64Type>();
            nulls += a.null_count();
            ones += a.len() - a.null_count();
        }
    }
    assert_eq!((nulls, ones), (3, 3));
    // No column at all (a count): the rows are still counted.
    let parts = plan_local(&r.dir, "metrics", &schema(), &Scope::default()).unwrap();
    let mut n = 0;
    for p in parts {
        let mut rd = PartReader::new(p, &schema(), &[], &Scope::default()).unwrap();
        while let Some(c) = rd.next_chunk().unwrap() {
            n += c.len;
        }
    }
    assert_eq!(n, 6);
}

#[test]
fn buffered_rows_add_only_what_is_after_the_durable_ones() {
    let r = Rec::new("buffered");
    r.file("vm", 0, &batch(&secs(D0, 0, 10)));
    r.journal("vm", &batch(&secs(D0, 10, 20)));
    let mut parts = plan_local(&r.dir, "metrics", &schema(), &Scope::default()).unwrap();
    // Taken before the plan: 15..25, of which 15..20 were flushed since.
    add_buffered(&mut parts, "vm", batch(&secs(D0, 15, 25)), &Scope::default());
    let rows = read_parts(parts, &[0, 1], &Scope::default()).unwrap();
    assert_eq!(tss(&rows), secs(D0, 0, 25));
}

#[test]
fn the_log_is_read_up_to_a_torn_or_damaged_record_and_left_unchanged() {
    let r = Rec::new("torn");
    r.journal("vm", &batch(&secs(D0, 0, 5)));
    r.journal("vm", &batch(&secs(D0, 5, 10)));
    let wal_path = r.host_dir("vm").join(wal::WAL_FILE);
    let mut bytes = std::fs::read(&wal_path).unwrap();
    // A record being written: half of a third one.
    let head = bytes[..40].to_vec();
    bytes.extend_from_slice(&head);
    std::fs::write(&wal_path, &bytes).unwrap();
    let rows = r.read(&[0, 1], &Scope::default()).unwrap();
    assert_eq!(tss(&rows), secs(D0, 0, 10));
    assert_eq!(std::fs::read(&wal_path).unwrap(), bytes, "a reader changes nothing");
}

#[test]
fn a_link_in_place_of_the_log_is_refused() {
    let r = Rec::new("link");
    let target = r.dir.join("elsewhere");
    std::fs::write(&target, b"x").unwrap();
    std::os::unix::fs::symlink(&target, r.host_dir("vm").join(wal::WAL_FILE)).unwrap();
    let err = r.read(&[0, 1], &Scope::default()).unwrap_err();
    assert!(err.contains("symbolic link"), "{err}");
}
