//! The lock that keeps two recorders from writing the same `<table>/host=<host>` partition.
//!
//! `flock(LOCK_EX | LOCK_NB)` on `<table>/host=<host>/.lock`, held for the recorder's life.
//! `flock` locks belong to the open file description, so a second recorder is refused whether
//! it runs in another process or in this one; the kernel drops the lock when the process dies,
//! however it dies, so a crash never leaves a stale lock behind.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::layout::LOCK_FILE;

#[derive(Debug)]
pub struct PartitionLock {
    _file: File,
    pub path: PathBuf,
}

impl PartitionLock {
    /// Creates `host_dir` if needed and locks it; an error if another recorder holds it.
    pub fn acquire(host_dir: &Path) -> io::Result<PartitionLock> {
        fs::create_dir_all(host_dir)?;
        let path = host_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "another recorder (in this process or another) is writing {} (it holds {})",
                        host_dir.display(),
                        path.display()
                    ),
                ));
            }
            return Err(e);
        }
        Ok(PartitionLock { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("sysmon-lock-{}", std::process::id()));
        let a = PartitionLock::acquire(&dir).unwrap();
        let e = PartitionLock::acquire(&dir).unwrap_err();
        assert!(e.to_string().contains("another recorder"), "{e}");
        drop(a);
        let _b = PartitionLock::acquire(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
