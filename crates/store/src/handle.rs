//! Directories held open, so that a symbolic link swapped in cannot redirect the recorder.
//!
//! A path is looked up again at every use: if a folder of a recording is replaced by a link
//! while the recorder runs, a write addressed by path would follow it anywhere. So the
//! recorder holds each folder it writes as an open descriptor ([`Dir`]), opened with
//! `O_NOFOLLOW` (a link in its place is refused, never followed), and addresses everything
//! inside through `/proc/self/fd/<n>/<name>`: the kernel resolves that prefix to the very
//! folder the descriptor holds, wherever it has moved, and only the last name is looked up.
//! Files are created with `O_EXCL` and opened with `O_NOFOLLOW`, and `rename`/`unlink` never
//! follow their last component, so no name inside a held folder leads out of it either. A
//! folder deleted while held takes no new entries (the kernel refuses with `ENOENT`), so a
//! write never lands in a deleted tree; the writer notices and opens the path again
//! (see [`super::lock::Partition::still_held`]).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What identifies a file: its device and inode numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(m: &fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// A directory held open (`O_PATH`, so it needs no read permission).
#[derive(Debug)]
pub struct Dir {
    file: File,
}

/// The error for a symbolic link found where a folder was expected.
pub fn link_refused(shown: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "'{}' is a symbolic link; the recorder does not follow links inside its directory (remove the link)",
            shown.display()
        ),
    )
}

impl Dir {
    /// Opens the directory at `path` without following a link at its last component (a link
    /// there is an error; links in earlier components, such as `/proc/self/fd/<n>`, are
    /// followed).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path);
        match opened {
            Ok(file) => Ok(Dir { file }),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) || e.raw_os_error() == Some(libc::ELOOP) => {
                match fs::symlink_metadata(path) {
                    Ok(m) if m.file_type().is_symlink() => Err(link_refused(path)),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The folder `name` inside this one, created first when `create` and missing. A link
    /// named `name` is refused (the error names `shown`, the folder's path for messages).
    pub fn child(&self, name: &str, create: bool, shown: &Path) -> io::Result<Dir> {
        open_child(&self.path(), name, create, shown)
    }

    /// The path that leads to this very folder wherever it is: `/proc/self/fd/<n>`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }

    /// `name` inside this folder, as a path that resolves through the held descriptor.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The folder's device and inode.
    pub fn id(&self) -> io::Result<FileId> {
        Ok(FileId::of(&self.file.metadata()?))
    }
}

/// The folder `name` inside the folder at `parent`, created first when `create` and missing;
/// a link named `name` is refused (the error names `shown`).
pub fn open_child(parent: &Path, name: &str, create: bool, shown: &Path) -> io::Result<Dir> {
    let path = parent.join(name);
    if create {
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Dir::open(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidInput {
            link_refused(shown)
        } else {
            e
        }
    })
}

/// Opens the recording directory `dir` (absolute and resolved, see
/// [`super::config::resolve`]), creating what is missing of it, and holds it. Nothing is
/// created through a link: the deepest existing part of the path must still resolve to itself
/// (no link was swapped into it since it was checked), and each missing folder is made inside
/// the one held before it, refusing links.
pub fn open_root(dir: &Path) -> io::Result<Dir> {
    let mut existing = dir;
    let mut missing = Vec::new();
    loop {
        match fs::symlink_metadata(existing) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    missing.push(name);
                    existing = parent;
                }
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    let real = fs::canonicalize(existing)?;
    if real != existing {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "'{}' now leads to '{}' through a symbolic link (swapped in after the directory was checked); not writing there",
                existing.display(),
                real.display()
            ),
        ));
    }
    let mut held = Dir::open(existing)?;
    let mut shown = existing.to_path_buf();
    for name in missing.into_iter().rev() {
        shown.push(name);
        let name = name
            .to_str()
            .ok_or_else(|| io::Error::other("a folder name is not UTF-8"))?;
        held = held.child(name, true, &shown)?;
    }
    Ok(held)
}

/// Opens a file for reading without following a link at its last component.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sysmon-handle-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_held_folder_is_written_where_it_is_not_where_its_old_path_leads() {
        let t = tmp("moved");
        let outside = t.join("outside");
        fs::create_dir(&outside).unwrap();
        let root = t.join("rec");
        fs::create_dir(&root).unwrap();
        let held = Dir::open(&root).unwrap();
        let id = held.id().unwrap();
        // The folder is moved away and a link to elsewhere takes its name.
        fs::rename(&root, t.join("moved")).unwrap();
        symlink(&outside, &root).unwrap();
        fs::write(held.join("f"), b"x").unwrap();
        assert!(t.join("moved/f").exists() && !outside.join("f").exists());
        assert_eq!(held.id().unwrap(), id);
        // Opening the path again refuses the link.
        let e = Dir::open(&root).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = held.child("sub", true, Path::new("/shown/sub")).unwrap();
        drop(e);
        symlink(&outside, t.join("moved/link")).unwrap();
        let e = held.child("link", true, Path::new("/shown/link")).unwrap_err();
        assert!(e.to_string().contains("'/shown/link' is a symbolic link"), "{e}");
        assert!(open_nofollow(&held.join("link")).is_err());
        fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn a_deleted_held_folder_takes_no_new_files() {
        let t = tmp("deleted");
        let root = t.join("rec");
        fs::create_dir(&root).unwrap();
        let held = Dir::open(&root).unwrap();
        fs::remove_dir(&root).unwrap();
        fs::create_dir(&root).unwrap();
        let e = fs::write(held.join("f"), b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(!root.join("f").exists());
        assert_ne!(Dir::open(&root).unwrap().id().unwrap(), held.id().unwrap());
        fs::remove_dir_all(&t).unwrap();
    }
}
