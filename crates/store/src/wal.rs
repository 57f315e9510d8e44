//! The write-ahead log of one table's partition: where a flush puts its rows until they are
//! published as a Parquet file.
//!
//! # Why
//!
//! Writing every flush as a complete Parquet file per table (create, write, fsync, rename,
//! folder fsync, then merges) made the recorder cost more than sadc per sample; the kernel's
//! work for those files dominated (see `docs/recorder.md`, "Recorder cost"). A flush now
//! appends its rows to this log with one `pwrite` and no fsync: data in the page cache
//! survives a `kill -9` of the process, which is the crash bound `flush_interval` is about.
//! The visible Parquet files are published from the log every `publish_interval` and at stop.
//!
//! # Format
//!
//! `<dir>/<table>/host=<host>/.wal` (hidden: no `*.parquet` glob sees it), written through
//! the partition's held folder and under its lock. A sequence of records:
//!
//! ```text
//! "SMW1" | payload length (u32 LE) | CRC-32 of the payload (u32 LE) | payload
//! payload = day (i64 LE) | first ts µs (i64 LE) | last ts µs (i64 LE) | Arrow IPC stream of one batch
//! ```
//!
//! Reading stops at the first record that is torn (shorter than its length) or whose checksum
//! fails; what follows is cut off and reported ([`Wal::open`]). A record whose checksum is
//! right but whose payload does not decode (a writer bug, a checksum collision, a column type
//! changed between versions) is found when the log is opened, not at the publish: what precedes
//! it is kept and published, and the record with everything after it is moved aside to
//! `.wal.damaged-<µs>` for inspection, its rows counted as dropped, so that one bad record
//! cannot stop the table from ever publishing again.
//!
//! # Crash safety (with [`super::writer`]'s publish order)
//!
//! A publish writes each day's rows of the log as one level-0 file named after their
//! first/last `ts` (temporary name, fsync, rename, folder fsync), then empties the log
//! (`ftruncate` + `fdatasync`), and only then merges. After a crash between the rename and the
//! truncation, the next recorder replays the log: a day whose level-0 file already exists under
//! the very name the replay would give it was published, and is skipped, so no row is stored
//! twice; merges never run while the log still holds published rows, so that name is still
//! there to be found.

use std::fs::{File, OpenOptions};
use std::io::{self, Cursor};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::Arc;

use arrow_array::{RecordBatch, new_null_array};
use arrow_schema::SchemaRef;

use super::handle::Dir;

/// The log's file name in a `<table>/host=<host>` folder.
pub const WAL_FILE: &str = ".wal";
/// A log being rewritten ([`Wal::keep`]).
const WAL_TEMP: &str = ".wal.tmp";
const MAGIC: &[u8; 4] = b"SMW1";
const HEADER: usize = 12;
const META: usize = 24;

/// Where one record is in the log and what its rows span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub day: i64,
    pub first_us: i64,
    pub last_us: i64,
    /// Offset of the record's Arrow IPC bytes in the file.
    offset: u64,
    len: usize,
}

/// What [`Wal::open`] cut from the log: the message for `last_error`, and the rows that were
/// in the cut part (counted in `rows_dropped`; a record that does not decode adds none, as its
/// rows cannot be counted, and the message says so).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    pub message: String,
    pub rows_dropped: u64,
}

/// One table's log, held open.
#[derive(Debug)]
pub struct Wal {
    file: File,
    /// The length of the valid records (the file is never longer after [`Wal::open`]).
    len: u64,
    records: Vec<Record>,
}

/// One batch to append: its UTC day, its first and last `ts`, the rows.
pub struct Entry<'a> {
    pub day: i64,
    pub first_us: i64,
    pub last_us: i64,
    pub batch: &'a RecordBatch,
}

impl Wal {
    /// Opens (creating) the log in `dir` without following a link, and reads its records,
    /// decoding each as `schema`. A torn or corrupt tail is cut off, an undecodable record and
    /// what follows it moved aside; the second value then says what was cut.
    pub fn open(dir: &Dir, schema: &SchemaRef) -> io::Result<(Wal, Option<Cut>)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(dir.join(WAL_FILE))?;
        let size = file.metadata()?.len();
        let mut bytes = vec![0u8; size as usize];
        file.read_exact_at(&mut bytes, 0)?;
        let (mut records, mut good, problem) = scan(&bytes);
        let payload = |r: &Record| &bytes[r.offset as usize..r.offset as usize + r.len];
        let mut note = None;
        if let Some(bad) = records.iter().position(|r| decode(payload(r), schema).is_err()) {
            let why = decode(payload(&records[bad]), schema)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let start = records[bad].offset - (HEADER + META) as u64;
            let later = &records[bad + 1..];
            let rows: u64 = later
                .iter()
                .filter_map(|r| decode(payload(r), schema).ok())
                .map(|b| b.num_rows() as u64)
                .sum();
            let aside = format!(
                "{WAL_FILE}.damaged-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros())
            );
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(dir.join(&aside))
                .and_then(|f| f.write_all_at(&bytes[start as usize..], 0).and_then(|()| f.sync_all()))?;
            file.set_len(start)?;
            file.sync_data()?;
            note = Some(Cut {
                message: format!(
                    "the write-ahead log {WAL_FILE} holds a record that does not decode ({why}): the {bad} record(s) before it are published; it and the {} after it ({} bytes; {rows} rows, not counting the damaged record's, which cannot be read) were moved to {aside} for inspection and counted in rows_dropped",
                    later.len(),
                    size - start,
                ),
                rows_dropped: rows,
            });
            records.truncate(bad);
            good = start;
        } else if let Some(problem) = problem {
            file.set_len(good)?;
            file.sync_data()?;
            note = Some(Cut {
                message: format!(
                    "the write-ahead log {WAL_FILE} had {} bytes after its last valid record ({problem}); replay stopped at the last valid record and the rest was cut off",
                    size - good
                ),
                rows_dropped: 0,
            });
        }
        Ok((
            Wal {
                file,
                len: good,
                records,
            },
            note,
        ))
    }

    /// The records, oldest first.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes of valid records.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends `entries` as records with one `pwrite`, no fsync. On failure the file is cut
    /// back to its previous length, so it never holds a partial record that a later append
    /// would bury.
    pub fn append(&mut self, entries: &[Entry<'_>]) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut added = Vec::with_capacity(entries.len());
        for e in entries {
            let start = buf.len();
            buf.extend_from_slice(MAGIC);
            buf.extend_from_slice(&[0u8; 8]);
            buf.extend_from_slice(&e.day.to_le_bytes());
            buf.extend_from_slice(&e.first_us.to_le_bytes());
            buf.extend_from_slice(&e.last_us.to_le_bytes());
            {
                let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut buf, &e.batch.schema()).map_err(arrow_err)?;
                w.write(e.batch).map_err(arrow_err)?;
                w.finish().map_err(arrow_err)?;
            }
            let payload_len = buf.len() - start - HEADER;
            let len = u32::try_from(payload_len).map_err(|_| io::Error::other("a flush is over 4 GiB"))?;
            let crc = crc32fast::hash(&buf[start + HEADER..]);
            buf[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
            buf[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
            added.push(Record {
                day: e.day,
                first_us: e.first_us,
                last_us: e.last_us,
                offset: self.len + (start + HEADER + META) as u64,
                len: payload_len - META,
            });
        }
        if let Err(e) = self.file.write_all_at(&buf, self.len) {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += buf.len() as u64;
        self.records.extend(added);
        Ok(())
    }

    /// The rows of `r`, with the columns of `schema` (columns the record lacks, written by an
    /// older schema, are NULL; columns are only ever added; a column of another type is an
    /// error).
    pub fn read(&self, r: &Record, schema: &SchemaRef) -> io::Result<RecordBatch> {
        let mut bytes = vec![0u8; r.len];
        self.file.read_exact_at(&mut bytes, r.offset)?;
        decode(&bytes, schema)
    }

    /// Empties the log and makes that durable (a publish's rows are in visible files now).
    pub fn clear(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_data()?;
        self.len = 0;
        self.records.clear();
        Ok(())
    }

    /// Keeps only the records whose `keep` is true (the others were published): they are
    /// written to `.wal.tmp` in `dir`, fsync'ed and renamed over the log, and the folder is
    /// fsync'ed. A crash before the rename leaves the whole log, whose published records the
    /// replay finds by name and skips.
    pub fn keep(&mut self, dir: &Dir, keep: &[bool]) -> io::Result<()> {
        if keep.iter().all(|&k| !k) {
            return self.clear();
        }
        let mut rest = Vec::new();
        let mut kept = Vec::new();
        for (r, _) in self.records.iter().zip(keep).filter(|(_, k)| **k) {
            let start = r.offset - (HEADER + META) as u64;
            let at = rest.len();
            rest.resize(at + HEADER + META + r.len, 0);
            self.file.read_exact_at(&mut rest[at..], start)?;
            kept.push(Record {
                offset: (at + HEADER + META) as u64,
                ..*r
            });
        }
        let temp = dir.join(WAL_TEMP);
        let _ = std::fs::remove_file(&temp);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)?;
        file.write_all_at(&rest, 0)?;
        file.sync_data()?;
        std::fs::rename(&temp, dir.join(WAL_FILE))?;
        super::layout::sync_dir(&dir.path())?;
        self.file = file;
        self.len = rest.len() as u64;
        self.records = kept;
        Ok(())
    }

    /// fsyncs the log.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// What a reader sees of the log in `host_dir` without opening it for writing: the rows of
/// each record, oldest first, up to the first record that is torn, fails its checksum or does
/// not decode (exactly what [`Wal::open`] would keep and publish). Takes no lock and changes
/// nothing, so it works on the folder of a running, stopped or killed recorder, from any
/// process. A missing log (nothing flushed, or all published) is empty; a link in its place is
/// refused, never followed.
pub fn snapshot(host_dir: &std::path::Path, schema: &SchemaRef) -> io::Result<Vec<(Record, RecordBatch)>> {
    use std::io::Read;
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(host_dir.join(WAL_FILE))
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(super::handle::link_refused(&host_dir.join(WAL_FILE)));
        }
        Err(e) => return Err(e),
    };
    // One read of the whole file: the writer only appends (a record is whole once its one
    // `pwrite` returns) or empties it, so a torn tail here is a record being written, and is
    // left out as `scan` leaves it out.
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let (records, _, _) = scan(&bytes);
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        match decode(&bytes[r.offset as usize..r.offset as usize + r.len], schema) {
            Ok(batch) => out.push((r, batch)),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// The first and last `ts` of the valid records of the log in `host_dir`, from their headers
/// (nothing decoded); `None` for an empty or missing log. As [`snapshot`], read-only.
pub fn extent(host_dir: &std::path::Path) -> io::Result<Option<(i64, i64)>> {
    let bytes = match super::handle::open_nofollow(&host_dir.join(WAL_FILE)) {
        Ok(mut f) => {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut b)?;
            b
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (records, _, _) = scan(&bytes);
    let first = records.iter().map(|r| r.first_us).min();
    let last = records.iter().map(|r| r.last_us).max();
    Ok(first.zip(last))
}

fn arrow_err(e: arrow_schema::ArrowError) -> io::Error {
    io::Error::other(e.to_string())
}

fn decode(bytes: &[u8], schema: &SchemaRef) -> io::Result<RecordBatch> {
    let mut reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes), None).map_err(arrow_err)?;
    let batch = reader
        .next()
        .ok_or_else(|| io::Error::other("a write-ahead log record holds no rows"))?
        .map_err(arrow_err)?;
    if batch.schema() == *schema {
        return Ok(batch);
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        columns.push(match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Arc::clone(c),
            // A column's type never changes between schema versions: refuse rather than
            // publish NULLs in its place.
            Some(c) => {
                return Err(io::Error::other(format!(
                    "a write-ahead log record has column {} as {}, not {}",
                    f.name(),
                    c.data_type(),
                    f.data_type()
                )));
            }
            None => new_null_array(f.data_type(), batch.num_rows()),
        });
    }
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(arrow_err)
}

/// The valid records at the front of `bytes`, their length, and what was wrong after them.
fn scan(bytes: &[u8]) -> (Vec<Record>, u64, Option<String>) {
    let mut records = Vec::new();
    let mut at = 0usize;
    let problem = loop {
        if at == bytes.len() {
            break None;
        }
        let rest = &bytes[at..];
        if rest.len() < HEADER {
            break Some("a torn record header".to_string());
        }
        if &rest[..4] != MAGIC {
            break Some("a record without the log's marker".to_string());
        }
        let len = u32::from_le_bytes(rest[4..8].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(rest[8..12].try_into().unwrap_or_default());
        if rest.len() - HEADER < len {
            break Some("a torn record".to_string());
        }
        let payload = &rest[HEADER..HEADER + len];
        if len < META || crc32fast::hash(payload) != crc {
            break Some("a record whose checksum does not match".to_string());
        }
        let num = |i: usize| i64::from_le_bytes(payload[i..i + 8].try_into().unwrap_or_default());
        records.push(Record {
            day: num(0),
            first_us: num(8),
            last_us: num(16),
            offset: (at + HEADER + META) as u64,
            len: len - META,
        });
        at += HEADER + len;
    };
    (records, at as u64, problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use std::path::PathBuf;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sysmon-wal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn schema(extra: bool) -> SchemaRef {
        let mut f = vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("v", DataType::Int64, true),
        ];
        if extra {
            f.push(Field::new("w", DataType::Int64, true));
        }
        Arc::new(Schema::new(f))
    }

    fn batch(from: i64, n: i64) -> RecordBatch {
        let ts: TimestampMicrosecondArray = (from..from + n).map(Some).collect();
        let v: Int64Array = (from..from + n).map(|x| Some(x * 10)).collect();
        RecordBatch::try_new(schema(false), vec![Arc::new(ts.with_timezone("UTC")), Arc::new(v)]).unwrap()
    }

    fn append(w: &mut Wal, from: i64, n: i64) {
        let b = batch(from, n);
        w.append(&[Entry {
            day: 0,
            first_us: from,
            last_us: from + n - 1,
            batch: &b,
        }])
        .unwrap();
    }

    fn rows(w: &Wal) -> Vec<i64> {
        let mut out = Vec::new();
        for r in w.records() {
            let b = w.read(r, &schema(false)).unwrap();
            let v = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            out.extend(v.values().iter().map(|x| x / 10));
        }
        out
    }

    #[test]
    fn records_round_trip_and_survive_reopening() {
        let d = tmp("rt");
        let dir = Dir::open(&d).unwrap();
        let (mut w, note) = Wal::open(&dir, &schema(false)).unwrap();
        assert!(note.is_none() && w.is_empty());
        append(&mut w, 0, 3);
        append(&mut w, 3, 2);
        assert_eq!(rows(&w), vec![0, 1, 2, 3, 4]);
        drop(w);
        let (w, note) = Wal::open(&dir, &schema(false)).unwrap();
        assert!(note.is_none());
        assert_eq!(w.records().len(), 2);
        assert_eq!((w.records()[1].first_us, w.records()[1].last_us), (3, 4));
        assert_eq!(rows(&w), vec![0, 1, 2, 3, 4]);
        // A newer schema reads old records with NULL in the added column.
        let b = w.read(&w.records()[0], &schema(true)).unwrap();
        assert_eq!(b.num_columns(), 3);
        assert_eq!(b.column(2).null_count(), 3);
        // A column of another type is refused, never replaced by NULLs.
        let other = Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("v", DataType::Utf8, true),
        ]));
        let e = w.read(&w.records()[0], &other).unwrap_err();
        assert!(e.to_string().contains("column v as Int64, not Utf8"), "{e}");
    }

    #[test]
    fn a_torn_or_corrupt_tail_stops_replay_at_the_last_good_record() {
        let d = tmp("torn");
        let dir = Dir::open(&d).unwrap();
        let (mut w, _) = Wal::open(&dir, &schema(false)).unwrap();
        append(&mut w, 0, 3);
        let good = w.len();
        append(&mut w, 3, 3);
        let full = w.len();
        drop(w);
        let path = d.join(WAL_FILE);
        let bytes = std::fs::read(&path).unwrap();
        // Every cut inside the second record: the first survives, the tail is cut off.
        for cut in (good + 1..full).step_by(7).chain([good + 3, full - 1]) {
            std::fs::write(&path, &bytes[..cut as usize]).unwrap();
            let (w, note) = Wal::open(&dir, &schema(false)).unwrap();
            assert_eq!(rows(&w), vec![0, 1, 2], "cut at {cut}");
            assert!(note.unwrap().message.contains("torn"), "cut at {cut}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
        }
        // A flipped bit anywhere in the second record's payload: its checksum fails.
        for at in [good + 12, good + 40, full - 3] {
            let mut b = bytes.clone();
            b[at as usize] ^= 0x10;
            std::fs::write(&path, &b).unwrap();
            let (w, note) = Wal::open(&dir, &schema(false)).unwrap();
            assert_eq!(rows(&w), vec![0, 1, 2], "flip at {at}");
            assert!(note.unwrap().message.contains("checksum"), "flip at {at}");
        }
        // A bad first record: nothing is replayed.
        let mut b = bytes.clone();
        b[0] = b'X';
        std::fs::write(&path, &b).unwrap();
        let (w, note) = Wal::open(&dir, &schema(false)).unwrap();
        assert!(w.is_empty());
        assert!(note.unwrap().message.contains("marker"));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    /// A record whose checksum is right but whose payload does not decode cannot wedge the
    /// table: what precedes it is kept, it and what follows go aside, counted.
    #[test]
    fn a_record_that_does_not_decode_is_moved_aside_with_what_follows() {
        let d = tmp("undecodable");
        let dir = Dir::open(&d).unwrap();
        let (mut w, _) = Wal::open(&dir, &schema(false)).unwrap();
        append(&mut w, 0, 3);
        let first_end = w.len() as usize;
        append(&mut w, 3, 2);
        let second_end = w.len() as usize;
        append(&mut w, 5, 4);
        drop(w);
        let path = d.join(WAL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        // The second record's Arrow bytes become junk, under a checksum that matches them.
        for b in &mut bytes[first_end + HEADER + META..second_end] {
            *b = 0x5a;
        }
        let crc = crc32fast::hash(&bytes[first_end + HEADER..second_end]);
        bytes[first_end + 8..first_end + 12].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (w, cut) = Wal::open(&dir, &schema(false)).unwrap();
        let cut = cut.expect("the damage is reported");
        assert_eq!(rows(&w), vec![0, 1, 2], "the record before the damage is kept");
        assert_eq!(cut.rows_dropped, 4, "the decodable record after it is counted");
        assert!(
            cut.message.contains("does not decode") && cut.message.contains(".wal.damaged-"),
            "{}",
            cut.message
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, first_end);
        let aside: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".wal.damaged-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(
            std::fs::read(aside[0].path()).unwrap(),
            &bytes[first_end..],
            "kept for inspection"
        );
        // Opening again finds a clean log: nothing more is cut.
        drop(w);
        let (w, cut) = Wal::open(&dir, &schema(false)).unwrap();
        assert!(cut.is_none());
        assert_eq!(rows(&w), vec![0, 1, 2]);
        // A column whose type changed between versions does not decode either.
        let other = Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("v", DataType::Utf8, true),
        ]));
        drop(w);
        let (w, cut) = Wal::open(&dir, &other).unwrap();
        assert!(w.is_empty());
        assert!(cut.unwrap().message.contains("column v as Int64, not Utf8"));
    }

    #[test]
    fn fuzzed_logs_never_panic_and_keep_a_valid_prefix() {
        let d = tmp("fuzz");
        let dir = Dir::open(&d).unwrap();
        let (mut w, _) = Wal::open(&dir, &schema(false)).unwrap();
        for i in 0..4 {
            append(&mut w, i * 5, 5);
        }
        let ends: Vec<u64> = {
            let mut e: Vec<u64> = w
                .records()
                .iter()
                .skip(1)
                .map(|r| r.offset - (HEADER + META) as u64)
                .collect();
            e.push(w.len());
            e
        };
        drop(w);
        let path = d.join(WAL_FILE);
        let bytes = std::fs::read(&path).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let mut b = bytes.clone();
            let at = (next() % b.len() as u64) as usize;
            b[at] = next() as u8;
            let cut = (next() % (b.len() as u64 + 1)) as usize;
            b.truncate(cut.max(at + 1).min(b.len()));
            std::fs::write(&path, &b).unwrap();
            let (w, _) = Wal::open(&dir, &schema(false)).unwrap();
            let n = w.records().len();
            // Whatever survives is a prefix of the records written, each decoding to its rows.
            assert_eq!(rows(&w), (0..n as i64 * 5).collect::<Vec<_>>());
            assert!(n == 0 || w.len() == ends[n - 1]);
        }
    }

    #[test]
    fn keep_drops_published_records() {
        let d = tmp("keep");
        let dir = Dir::open(&d).unwrap();
        let (mut w, _) = Wal::open(&dir, &schema(false)).unwrap();
        for i in 0..3 {
            append(&mut w, i * 2, 2);
        }
        w.keep(&dir, &[false, true, true]).unwrap();
        assert_eq!(rows(&w), vec![2, 3, 4, 5]);
        append(&mut w, 6, 1);
        drop(w);
        let (mut w, note) = Wal::open(&dir, &schema(false)).unwrap();
        assert!(note.is_none());
        assert_eq!(rows(&w), vec![2, 3, 4, 5, 6]);
        w.clear().unwrap();
        assert!(w.is_empty());
        assert_eq!(std::fs::metadata(d.join(WAL_FILE)).unwrap().len(), 0);
    }
}
