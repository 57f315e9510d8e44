//! The raw system calls sysmon makes besides reading files, each behind a safe function with
//! the narrowest `unsafe` block.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// What `statvfs` says, in its units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsStat {
    /// Fragment size (`f_frsize`): the unit of the block counts.
    pub fragment_size: u64,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)
}

/// `statvfs(3)`.
#[allow(clippy::unnecessary_cast)] // the field types differ between platforms (u32 or u64)
pub fn statvfs(path: &Path) -> io::Result<FsStat> {
    let c = c_path(path)?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path; `st` is writable memory of the struct's size.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `st` (and zeroed is a valid statvfs anyway).
    let st = unsafe { st.assume_init() };
    Ok(FsStat {
        fragment_size: st.f_frsize as u64,
        blocks: st.f_blocks as u64,
        blocks_free: st.f_bfree as u64,
        blocks_available: st.f_bavail as u64,
        files: st.f_files as u64,
        files_free: st.f_ffree as u64,
    })
}

/// Whether this process may create entries in the directory `path` (`access(W_OK | X_OK)`).
pub fn writable(path: &Path) -> bool {
    let Ok(c) = c_path(path) else {
        return false;
    };
    // SAFETY: access reads a NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// What kind of file system holds `path`: `statfs(2)`'s type number (`f_type`) and whether
/// it is mounted read-only (`statvfs`'s `ST_RDONLY`).
#[allow(clippy::unnecessary_cast)] // the field types differ between platforms
pub fn fs_kind(path: &Path) -> io::Result<(u64, bool)> {
    let c = c_path(path)?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path; `st` is writable memory of the struct's size.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statfs returned 0, so it filled `st`.
    let magic = unsafe { st.assume_init() }.f_type as u64 & 0xffff_ffff;
    let mut vst = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: as above, for statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), vst.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `vst`.
    let read_only = unsafe { vst.assume_init() }.f_flag as u64 & libc::ST_RDONLY as u64 != 0;
    Ok((magic, read_only))
}

/// CPU time of the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// The user name of `uid` from the system's user database (NSS, `getpwuid_r`), `None` if it
/// has none.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: passwd is plain data; all-zero is a valid value for it.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `pwd` and `buf` outlive the call; getpwuid_r writes strings into `buf`
        // (of the length given) and points `pwd`'s fields there; `result` is null or `&pwd`.
        let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            let len = buf.len() * 2;
            buf.resize(len, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success `pw_name` points to a NUL-terminated string inside `buf`, alive here.
        return Some(unsafe { CStr::from_ptr(pwd.pw_name) }.to_string_lossy().into_owned());
    }
}

/// Maps uids to user names; the default asks the system ([`user_name`]).
pub type UserLookup = fn(u32) -> Option<String>;

/// How long user names are cached (a user renamed or added shows up after this).
const USER_CACHE_TTL: Duration = Duration::from_secs(60);

/// The uid → user name cache: one lookup per uid per [`USER_CACHE_TTL`]. The process's live
/// state keeps one, shared by every table that names users.
#[derive(Debug)]
pub struct UserNames {
    lookup: UserLookup,
    names: HashMap<u32, Option<String>>,
    since: Instant,
}

impl Default for UserNames {
    fn default() -> Self {
        UserNames::new(user_name)
    }
}

impl UserNames {
    pub fn new(lookup: UserLookup) -> UserNames {
        UserNames {
            lookup,
            names: HashMap::new(),
            since: Instant::now(),
        }
    }

    /// The name of `uid`; `None` if it has none.
    pub fn name(&mut self, uid: u32) -> Option<String> {
        if self.since.elapsed() > USER_CACHE_TTL {
            self.names.clear();
            self.since = Instant::now();
        }
        let lookup = self.lookup;
        self.names.entry(uid).or_insert_with(|| lookup(uid)).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statvfs_of_root_and_errors() {
        let s = statvfs(Path::new("/")).unwrap();
        assert!(s.blocks > 0 && s.fragment_size > 0);
        let e = statvfs(Path::new("/nonexistent-sysmon-path")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert!(
            statvfs(Path::new("a\0b")).is_err(),
            "a NUL in the path is an error, not a panic"
        );
    }

    #[test]
    fn user_names_and_cpu_time() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(u32::MAX - 7), None);
        let a = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns() > a);
        assert!(writable(&std::env::temp_dir()));
        assert!(!writable(Path::new("/nonexistent-sysmon-path")));
    }

    #[test]
    fn user_names_are_looked_up_once_per_uid() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        fn counted(uid: u32) -> Option<String> {
            CALLS.fetch_add(1, Ordering::Relaxed);
            (uid == 7).then(|| "seven".to_string())
        }
        let mut names = UserNames::new(counted);
        for _ in 0..3 {
            assert_eq!(names.name(7).as_deref(), Some("seven"));
            assert_eq!(names.name(8), None);
        }
        assert_eq!(CALLS.load(Ordering::Relaxed), 2, "a name or its absence is kept");
    }
}
