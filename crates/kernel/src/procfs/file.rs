//! A `/proc` file kept open and re-read with `pread` at offset 0.
//!
//! Re-opening a `/proc` file for every sample costs a path walk and a file-table entry; a
//! kept-open descriptor read from offset 0 makes the kernel regenerate the contents just the
//! same. Measured here (`make bench`): the ten host files cost about half as much this way.
//! The buffer is kept too, so a steady-state read allocates nothing.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct KeptFile {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
}

impl KeptFile {
    /// A reader of `path`; nothing is opened until the first [`read`](Self::read).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KeptFile {
            path: path.into(),
            file: None,
            buf: Vec::with_capacity(4096),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole current contents, as text (invalid UTF-8 is replaced, never an error).
    pub fn read(&mut self) -> io::Result<&str> {
        if self.file.is_none() {
            self.file = Some(File::open(&self.path)?);
        }
        let result = match self.file.as_ref() {
            Some(f) => read_all_at(f, &mut self.buf),
            None => Err(io::Error::other("file not open")),
        };
        if let Err(e) = result {
            if descriptor_is_stale(&e) {
                self.file = None;
            }
            return Err(e);
        }
        if std::str::from_utf8(&self.buf).is_err() {
            let fixed = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf = fixed.into_bytes();
        }
        std::str::from_utf8(&self.buf).map_err(io::Error::other)
    }
}

/// Whether a failed read means the descriptor itself is gone (a vanished device or sysfs node,
/// a remount), so the path is opened again at the next read. Any other error is the file's
/// current answer and the descriptor stays: sysfs `speed` of a virtual or down link answers
/// `EINVAL` at every read, and reopening it every tick cost the recorder a path walk per
/// interface per sample (`docs/recorder.md`, round three).
fn descriptor_is_stale(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENODEV | libc::ENOENT | libc::ESTALE | libc::EBADF | libc::ENXIO | libc::EIO)
    ) || e.raw_os_error().is_none()
}

/// Reads `f` from offset 0 to its end into `buf`, growing it as needed.
///
/// `/proc` and `/sys` files are generated whole on a read from offset 0 and copied out as far
/// as the buffer allows, so a read that leaves room in the buffer has reached the end: one
/// `pread` per file in the steady state instead of two. The buffer's spare capacity is read
/// into directly (no zero-filling of the whole buffer before every read).
fn read_all_at(f: &File, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let len = buf.len();
        let room = buf.capacity() - len;
        // SAFETY: `spare` is the uninitialized tail of `buf`'s allocation, `room` bytes long;
        // pread writes at most `room` bytes into it and reports how many, and only those are
        // made part of the vector's length. u8 has no invalid bit patterns.
        let n = loop {
            let spare = buf.spare_capacity_mut();
            // SAFETY: see above: `spare` is `room` writable bytes owned by `buf`.
            let r = unsafe {
                libc::pread(
                    f.as_raw_fd(),
                    spare.as_mut_ptr().cast::<libc::c_void>(),
                    room,
                    len as libc::off_t,
                )
            };
            if r >= 0 {
                break r as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                buf.clear();
                return Err(e);
            }
        };
        // SAFETY: the kernel initialized the first `n` (≤ room) spare bytes.
        unsafe { buf.set_len(len + n) };
        if n == 0 || n < room {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rereads_current_contents_and_grows() {
        let dir = std::env::temp_dir().join(format!("sysmon-keptfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        std::fs::write(&p, "one\n").unwrap();
        let mut k = KeptFile::new(&p);
        assert_eq!(k.read().unwrap(), "one\n");
        let big = "x".repeat(10_000);
        std::fs::write(&p, &big).unwrap();
        assert_eq!(k.read().unwrap().len(), 10_000);
        std::fs::write(&p, "two\n").unwrap();
        assert_eq!(k.read().unwrap(), "two\n");
        assert!(KeptFile::new(dir.join("missing")).read().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_a_stale_descriptor_is_reopened() {
        let e = |n| io::Error::from_raw_os_error(n);
        for stale in [
            libc::ENODEV,
            libc::ENOENT,
            libc::ESTALE,
            libc::EBADF,
            libc::ENXIO,
            libc::EIO,
        ] {
            assert!(descriptor_is_stale(&e(stale)), "{stale}");
        }
        for kept in [libc::EINVAL, libc::EOPNOTSUPP, libc::EAGAIN, libc::EPERM] {
            assert!(!descriptor_is_stale(&e(kept)), "{kept}");
        }
        assert!(descriptor_is_stale(&io::Error::other("not an OS error")));
    }

    #[test]
    fn a_file_that_answers_einval_keeps_its_descriptor() {
        // sysfs `speed` of the loopback link: EINVAL at every read (where sysfs has it).
        let p = Path::new("/sys/class/net/lo/speed");
        let mut k = KeptFile::new(p);
        match k.read() {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                assert!(k.file.is_some(), "kept after EINVAL");
                assert!(k.read().is_err());
            }
            _ => eprintln!("skipped: {} does not answer EINVAL here", p.display()),
        }
    }

    #[test]
    fn reads_real_proc_file_twice() {
        let mut k = KeptFile::new("/proc/stat");
        let a = k.read().unwrap().to_string();
        let b = k.read().unwrap();
        assert!(a.starts_with("cpu ") && b.starts_with("cpu "));
    }
}
