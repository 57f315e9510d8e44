//! The recording's format, on disk and in a bucket: what the recorder writes and everything else
//! reads. One crate serves both sides, so the writer and the readers (the dashboard, the
//! report, the coming `read_recording`) cannot disagree on a name or a footer key.
//!
//! * [`layout`]: `<table>/host=<h>/date=<d>/` folders and the file names (`L<level>-<first>-<last>`);
//! * [`handle`]: folders held open by descriptor, so a link swapped in cannot redirect a write;
//! * [`lock`]: the `flock` that keeps one writer per `(table, host)` partition;
//! * [`store`]: writing a Parquet file atomically, and the footer keys every file carries;
//! * [`wal`]: the write-ahead log of flushed, not yet published rows;
//! * [`merge`]: compaction of a day's files, crash-safe, and its recovery;
//! * [`retention`]: deleting by age and by size;
//! * [`destination`], [`s3`], [`aws_profile`], [`objects`]: where a recording goes (a folder or
//!   `s3://`), the S3 client and its checks, the `~/.aws` profile it reads, and the bucket's
//!   object names;
//! * [`read_recording`]: a recorded table as its rows, published files and the log together,
//!   every row once (`read_recording()`, and the dashboard's and report's history);
//! * [`faults`]: the test hooks a recorder injects into its own writes.

pub mod aws_profile;
pub mod destination;
pub mod faults;
pub mod handle;
pub mod layout;
pub mod lock;
pub mod merge;
pub mod objects;
pub mod read_recording;
pub mod retention;
pub mod s3;
pub mod store;
pub mod wal;
