//! The lock that keeps two recorders from writing the same `<table>/host=<host>` partition.
//!
//! `flock(LOCK_EX | LOCK_NB)` on `<table>/host=<host>/.lock`, held for the recorder's life.
//! `flock` locks belong to the open file description, so a second recorder is refused whether
//! it runs in another process or in this one; the kernel drops the lock when the process dies,
//! however it dies, so a crash never leaves a stale lock behind.
//!
//! A lock only guards the file it is taken on: when the partition's folder is deleted while
//! recording, the held lock is on a deleted file, and a recorder of another process can take
//! a new `.lock` at the same path. So before every write the writer checks that the lock it
//! holds is still the one on disk ([`Partition::still_held`]: same device and inode, reached
//! from the recording directory without following links) and otherwise takes the lock again
//! ([`Partition::acquire`]), which fails if another recorder got there first.
//!
//! And it fails if another recorder got there *and left*: each recorder writes its own stamp
//! (pid and a number unique in the process) into the `.lock` it takes, so a recorder that takes
//! a lost partition again ([`Partition::reacquire`]) and finds another's stamp in the new
//! `.lock` knows that another writer owned the partition meanwhile, and refuses it (kind
//! `AlreadyExists`): publishing its held rows there would store rows of one `(host, ts)` twice,
//! since recorders of one host sample the same aligned ticks.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::handle::{Dir, FileId};
use super::layout::{self, LOCK_FILE};

/// One `<table>/host=<host>` folder, held open, with its lock taken.
#[derive(Debug)]
pub struct Partition {
    /// The folder, held open: everything of the partition is written through it.
    pub dir: Dir,
    /// `<dir>/<table>/host=<host>`, for messages.
    pub shown: PathBuf,
    table: String,
    host: String,
    lock: File,
    /// This writer's stamp, written into the `.lock` it holds.
    owner: String,
}

/// A stamp no other partition writer has: this process's id and a number it never reuses.
fn new_owner() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "sysmon {} {}\n",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Partition {
    /// Creates `<table>/host=<host>` below `root` if needed (refusing links), and locks it;
    /// an error of kind `WouldBlock` if another recorder holds it. `root_shown` is the
    /// recording directory's path, for messages.
    pub fn acquire(root: &Dir, root_shown: &Path, table: &str, host: &str) -> io::Result<Partition> {
        let (p, _) = Partition::take(root, root_shown, table, host, new_owner())?;
        Ok(p)
    }

    /// Locks the partition for `owner`, writes its stamp, and returns the stamp that was in
    /// the `.lock` before (empty for a new one).
    fn take(root: &Dir, root_shown: &Path, table: &str, host: &str, owner: String) -> io::Result<(Partition, String)> {
        let shown = layout::host_dir(root_shown, table, host);
        let table_dir = root.child(table, true, &root_shown.join(table))?;
        let dir = table_dir.child(&format!("host={host}"), true, &shown)?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(dir.join(LOCK_FILE))?;
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "another recorder (in this process or another) is writing {} (it holds {})",
                        shown.display(),
                        shown.join(LOCK_FILE).display()
                    ),
                ));
            }
            return Err(e);
        }
        let mut before = Vec::new();
        std::io::Read::read_to_end(&mut &lock, &mut before)?;
        lock.set_len(0)?;
        lock.write_all_at(owner.as_bytes(), 0)?;
        let p = Partition {
            dir,
            shown,
            table: table.to_string(),
            host: host.to_string(),
            lock,
            owner,
        };
        Ok((p, String::from_utf8_lossy(&before).into_owned()))
    }

    /// Gives the partition up after a refused start: when its folder holds nothing but the
    /// `.lock` this holds (nothing was ever recorded there), the `.lock`, the folder and the
    /// table's folder (when that is empty too) are removed, so that a start that failed leaves
    /// nothing behind; a partition with files is left as it is. The lock is released last.
    pub fn abandon(self, root: &Dir) {
        let only_lock = std::fs::read_dir(self.dir.path())
            .map(|entries| entries.filter_map(Result::ok).all(|e| e.file_name() == LOCK_FILE))
            .unwrap_or(false);
        if only_lock && self.still_held(root) {
            let table = root.join(&self.table);
            let _ = std::fs::remove_file(self.dir.join(LOCK_FILE));
            // rmdir refuses a folder that is not empty (another host's, or one a recorder
            // just began) and a link: both are left alone.
            let _ = std::fs::remove_dir(table.join(format!("host={}", self.host)));
            let _ = std::fs::remove_dir(&table);
        }
    }

    /// Whether the lock this holds is the `.lock` reached from `root` now (and the folder
    /// held is the one at the path): false when the folder was deleted, moved or replaced.
    pub fn still_held(&self, root: &Dir) -> bool {
        let here = (|| -> io::Result<(FileId, FileId)> {
            let table_dir = Dir::open(&root.join(&self.table))?;
            let dir = Dir::open(&table_dir.join(&format!("host={}", self.host)))?;
            let lock = super::handle::open_nofollow(&dir.join(LOCK_FILE))?;
            Ok((dir.id()?, FileId::of(&lock.metadata()?)))
        })();
        let held = (|| -> io::Result<(FileId, FileId)> { Ok((self.dir.id()?, FileId::of(&self.lock.metadata()?))) })();
        matches!((here, held), (Ok(a), Ok(b)) if a == b)
    }

    /// Takes the partition again below `root` (after [`Self::still_held`] said no): kind
    /// `WouldBlock` when another recorder holds it now, `AlreadyExists` when another held it
    /// since this one lost it (its stamp is in the `.lock`), so that this one never writes a
    /// partition another writer took over.
    pub fn reacquire(&self, root: &Dir, root_shown: &Path) -> io::Result<Partition> {
        let (p, before) = Partition::take(root, root_shown, &self.table, &self.host, self.owner.clone())?;
        if !before.is_empty() && before != self.owner {
            // Give the stamp back: the other writer's, as it was (it may start again).
            let _ = p
                .lock
                .set_len(0)
                .and_then(|()| p.lock.write_all_at(before.as_bytes(), 0));
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "another recorder wrote {} after its folder was deleted or replaced (its stamp is in {})",
                    p.shown.display(),
                    p.shown.join(LOCK_FILE).display()
                ),
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn second_lock_is_refused_until_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("sysmon-lock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let root = Dir::open(&dir).unwrap();
        let a = Partition::acquire(&root, &dir, "metrics", "h").unwrap();
        let e = Partition::acquire(&root, &dir, "metrics", "h").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(e.to_string().contains("another recorder"), "{e}");
        assert!(a.still_held(&root));
        drop(a);
        let _b = Partition::acquire(&root, &dir, "metrics", "h").unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_abandoned_partition_leaves_nothing_unless_it_holds_files() {
        let dir = std::env::temp_dir().join(format!("sysmon-lock-abandon-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let root = Dir::open(&dir).unwrap();
        let a = Partition::acquire(&root, &dir, "metrics", "h").unwrap();
        assert!(dir.join("metrics/host=h/.lock").exists());
        a.abandon(&root);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "no folder and no .lock left");
        // Another host's folder keeps the table's; a partition with a file keeps everything.
        let other = Partition::acquire(&root, &dir, "metrics", "other").unwrap();
        let b = Partition::acquire(&root, &dir, "metrics", "h").unwrap();
        b.abandon(&root);
        assert!(!dir.join("metrics/host=h").exists() && dir.join("metrics/host=other/.lock").exists());
        fs::write(dir.join("metrics/host=other/data_0.parquet"), b"x").unwrap();
        other.abandon(&root);
        assert!(
            dir.join("metrics/host=other/.lock").exists(),
            "a recorded partition is kept"
        );
        // And the lock is released: the partition can be taken again.
        let _c = Partition::acquire(&root, &dir, "metrics", "other").unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_deleted_partition_is_noticed_and_another_recorder_can_take_it() {
        let dir = std::env::temp_dir().join(format!("sysmon-lock-del-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let root = Dir::open(&dir).unwrap();
        let a = Partition::acquire(&root, &dir, "cpus", "h").unwrap();
        fs::remove_dir_all(dir.join("cpus")).unwrap();
        assert!(!a.still_held(&root), "the lock on disk is gone");
        // Another recorder takes the new lock: the first cannot take it back.
        let b = Partition::acquire(&root, &dir, "cpus", "h").unwrap();
        assert!(!a.still_held(&root) && b.still_held(&root));
        let e = a.reacquire(&root, &dir).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
        // Once the other recorder is gone, its stamp says it wrote here: still refused.
        drop(b);
        let e = a.reacquire(&root, &dir).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
        assert!(e.to_string().contains("another recorder wrote"), "{e}");
        // A folder deleted with nobody else around: taken again (the new .lock is empty).
        let c = Partition::acquire(&root, &dir, "disks", "h").unwrap();
        fs::remove_dir_all(dir.join("disks")).unwrap();
        let c2 = c.reacquire(&root, &dir).unwrap();
        assert!(c2.still_held(&root));
        // And its own stamp does not stop it either.
        drop(c2);
        let c3 = c.reacquire(&root, &dir).unwrap();
        assert!(c3.still_held(&root));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_link_in_place_of_a_partition_folder_is_refused() {
        let dir = std::env::temp_dir().join(format!("sysmon-lock-link-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let outside = dir.join("outside");
        fs::create_dir_all(&outside).unwrap();
        let rec = dir.join("rec");
        fs::create_dir_all(&rec).unwrap();
        std::os::unix::fs::symlink(&outside, rec.join("metrics")).unwrap();
        let root = Dir::open(&rec).unwrap();
        let e = Partition::acquire(&root, &rec, "metrics", "h").unwrap_err();
        assert!(e.to_string().contains("rec/metrics' is a symbolic link"), "{e}");
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing written through the link"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
