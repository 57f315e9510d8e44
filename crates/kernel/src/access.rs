//! Which host paths a function reads, and whether DuckDB's lockdown lets it read them.
//!
//! Every table declares the paths it reads (`Table::HOST_PATHS` of sysmon-core's `tables`); under
//! `enable_external_access = false` the SQL binding refuses a function unless each of its paths
//! lies inside `allowed_directories` or (a file) is listed in `allowed_paths`. The rules follow
//! DuckDB's own check (`DBConfig::CanAccessFile`, DuckDB 1.5.6 and later): both sides are
//! resolved first (made absolute, symlinks of the existing part followed, `.` and `..` removed
//! from the rest), a path is inside a directory when the directory's components are a prefix of
//! its components, and an `allowed_paths` entry allows that one file, never what is below it.

use std::path::{Component, Path, PathBuf};

use crate::procfs::Roots;

/// A path a function reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostPath {
    /// The whole `/proc` tree ([`Roots::proc`]).
    Proc,
    /// The whole `/sys` tree ([`Roots::sys`]).
    Sys,
    /// A file relative to [`Roots::etc`] (`"os-release"`).
    EtcFile(&'static str),
    /// A directory tree at an absolute path that no [`Roots`] moves.
    Dir(&'static str),
    /// A file at an absolute path that no [`Roots`] moves (read by libc: `/etc/passwd`).
    File(&'static str),
}

impl HostPath {
    /// Where it is under `roots`, `.` and `..` removed.
    pub fn path(&self, roots: &Roots) -> PathBuf {
        let p = match self {
            HostPath::Proc => roots.proc.clone(),
            HostPath::Sys => roots.sys.clone(),
            HostPath::EtcFile(rel) => roots.etc.join(rel),
            HostPath::Dir(p) | HostPath::File(p) => PathBuf::from(p),
        };
        lexical(&p)
    }

    /// Whether everything below it is read (so only `allowed_directories` can allow it).
    pub fn is_dir(&self) -> bool {
        matches!(self, HostPath::Proc | HostPath::Sys | HostPath::Dir(_))
    }
}

/// `path` joined to the working directory when relative (to `/` where that is unknown).
fn joined_to_cwd(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    }
}

/// `path` made absolute (against the working directory) with `.` and `..` removed, no
/// symlink followed.
pub fn lexical(path: &Path) -> PathBuf {
    let abs = joined_to_cwd(path);
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// `path` as DuckDB resolves it: absolute, every existing component's symlinks followed
/// (`/var/run` → `/run` on Debian), `.` and `..` of the rest removed lexically.
pub fn resolve(path: &Path) -> PathBuf {
    let abs = joined_to_cwd(path);
    let mut out = PathBuf::from("/");
    let mut exists = true;
    for c in abs.components() {
        match c {
            Component::Normal(n) => {
                out.push(n);
                if exists {
                    match std::fs::canonicalize(&out) {
                        Ok(real) => out = real,
                        Err(_) => exists = false,
                    }
                }
            }
            // `out` holds no symlink while it exists, so its parent is its real parent.
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// DuckDB's `allowed_directories` and `allowed_paths`, resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    pub dirs: Vec<PathBuf>,
    pub paths: Vec<PathBuf>,
}

impl Allowed {
    /// From the settings' entries (empty entries ignored, as DuckDB refuses them).
    pub fn new<S: AsRef<str>>(dirs: &[S], paths: &[S]) -> Allowed {
        let res = |v: &[S]| {
            v.iter()
                .map(|s| s.as_ref())
                .filter(|s| !s.is_empty())
                .map(|s| resolve(Path::new(s)))
                .collect()
        };
        Allowed {
            dirs: res(dirs),
            paths: res(paths),
        }
    }

    /// Whether reading `path` (everything below it when `tree`) is allowed.
    pub fn allows(&self, path: &Path, tree: bool) -> bool {
        let p = resolve(path);
        (!tree && self.paths.contains(&p)) || self.dirs.iter().any(|d| p.starts_with(d))
    }
}

/// A declared path that is not allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub path: PathBuf,
    /// Where it resolves, when that differs from `path`.
    pub resolved: Option<PathBuf>,
    pub tree: bool,
}

/// The paths of `reads` (under `roots`) that `allowed` does not allow, in their order.
pub fn denied(reads: &[HostPath], roots: &Roots, allowed: &Allowed) -> Vec<Denied> {
    let mut out: Vec<Denied> = Vec::new();
    for r in reads {
        let path = r.path(roots);
        if allowed.allows(&path, r.is_dir()) {
            continue;
        }
        // One entry per place: `/etc/os-release` and `/usr/lib/os-release` are one file on Debian.
        let resolved = resolve(&path);
        if out.iter().any(|d| d.resolved.as_ref().unwrap_or(&d.path) == &resolved) {
            continue;
        }
        out.push(Denied {
            resolved: (resolved != path).then_some(resolved),
            path,
            tree: r.is_dir(),
        });
    }
    out
}

/// The refusal of `function` for `denied` (not empty) under `allowed`: what is denied, by
/// which setting, and the statements that would allow it.
pub fn refusal(function: &str, denied: &[Denied], dirs_setting: &[String], paths_setting: &[String]) -> String {
    let list = |v: &[String]| match v.is_empty() {
        true => "none".to_string(),
        false => v.join(", "),
    };
    let shown: Vec<String> = denied
        .iter()
        .map(|d| match &d.resolved {
            Some(r) => format!("{} (resolves to {})", d.path.display(), r.display()),
            None => d.path.display().to_string(),
        })
        .collect();
    let quote = |d: &Denied| format!("'{}'", d.path.display());
    let dirs: Vec<String> = denied.iter().filter(|d| d.tree).map(quote).collect();
    let files: Vec<String> = denied.iter().filter(|d| !d.tree).map(quote).collect();
    let mut how = Vec::new();
    if !dirs.is_empty() {
        how.push(format!("SET allowed_directories = [{}]", dirs.join(", ")));
    }
    if !files.is_empty() {
        how.push(format!("SET allowed_paths = [{}]", files.join(", ")));
    }
    format!(
        "{function}() reads the host, and DuckDB's configuration denies it: enable_external_access is false, and it reads {} outside allowed_directories ({}) and allowed_paths ({}). To allow it, run {} (adding to any entries you have) before SET enable_external_access = false",
        shown.join(", "),
        list(dirs_setting),
        list(paths_setting),
        how.join("; "),
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sysmon-access-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        std::fs::write(d.join("real/f"), "x").unwrap();
        symlink(d.join("real"), d.join("link")).unwrap();
        // The scratch folder itself may lie below a symlink (macOS's /tmp): compare resolved.
        std::fs::canonicalize(&d).unwrap()
    }

    #[test]
    fn resolve_follows_existing_links_and_cleans_the_rest() {
        let d = scratch("resolve");
        assert_eq!(resolve(&d.join("link/f")), d.join("real/f"));
        assert_eq!(resolve(&d.join("link/")), d.join("real"));
        assert_eq!(resolve(&d.join("link/./sub/../f")), d.join("real/f"));
        assert_eq!(resolve(&d.join("link/missing/../x")), d.join("real/x"));
        assert_eq!(resolve(&d.join("link/missing/a/./b")), d.join("real/missing/a/b"));
        assert_eq!(resolve(Path::new("/")), PathBuf::from("/"));
        assert_eq!(resolve(Path::new("/..")), PathBuf::from("/"));
        let rel = resolve(Path::new("some/relative"));
        assert!(rel.is_absolute() && rel.ends_with("some/relative"), "{rel:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn directories_match_by_component_not_by_text() {
        let d = scratch("components");
        let s = |p: PathBuf| p.display().to_string();
        let a = Allowed::new(&[s(d.join("re"))], &[]);
        assert!(
            !a.allows(&d.join("real/f"), false),
            "'re' is a text prefix of 'real' only"
        );
        let a = Allowed::new(&[s(d.join("real/"))], &[]);
        assert!(a.allows(&d.join("real/f"), false));
        assert!(a.allows(&d.join("real"), true), "the allowed directory itself");
        assert!(!a.allows(&d, true));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn symlinks_are_followed_on_both_sides() {
        let d = scratch("links");
        let s = |p: PathBuf| p.display().to_string();
        // An allowed directory given through a link allows the real tree, and the reverse.
        let a = Allowed::new(&[s(d.join("link"))], &[]);
        assert!(a.allows(&d.join("real/f"), false));
        let a = Allowed::new(&[s(d.join("real"))], &[]);
        assert!(a.allows(&d.join("link/sub"), true));
        // A link inside an allowed directory that points outside does not widen it.
        let inner = d.join("real/sub/out");
        symlink("/", &inner).unwrap();
        let a = Allowed::new(&[s(d.join("real"))], &[]);
        assert!(!a.allows(&inner.join("etc/passwd"), false));
        // Two declared paths that are one file are denied once, the link shown resolved.
        let leak = |p: PathBuf| -> &'static str { Box::leak(s(p).into_boxed_str()) };
        let reads = [
            HostPath::File(leak(d.join("link/f"))),
            HostPath::File(leak(d.join("real/f"))),
        ];
        let denied = denied(&reads, &Roots::default(), &Allowed::default());
        assert_eq!(denied.len(), 1, "{denied:?}");
        assert_eq!(denied[0].resolved.as_deref(), Some(d.join("real/f").as_path()));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn allowed_paths_allow_one_file_never_a_tree() {
        let d = scratch("paths");
        let s = |p: PathBuf| p.display().to_string();
        let a = Allowed::new(&[], &[s(d.join("link/f")), s(d.join("real"))]);
        assert!(a.allows(&d.join("real/f"), false));
        assert!(
            !a.allows(&d.join("real"), true),
            "a directory in allowed_paths is not a tree"
        );
        assert!(!a.allows(&d.join("real/sub"), true));
        assert!(
            !Allowed::new::<&str>(&[""], &[""]).allows(Path::new("/"), true),
            "empty entries"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn denied_lists_what_is_missing_and_the_error_says_how_to_allow_it() {
        let roots = Roots::default();
        let reads = [
            HostPath::Proc,
            HostPath::Sys,
            HostPath::EtcFile("os-release"),
            HostPath::File("/etc/passwd"),
        ];
        let a = Allowed::new(&["/sys"], &["/etc/passwd"]);
        let d = denied(&reads, &roots, &a);
        let paths: Vec<&Path> = d.iter().map(|d| d.path.as_path()).collect();
        assert_eq!(paths, [Path::new("/proc"), Path::new("/etc/os-release")]);
        let msg = refusal("system_info", &d, &["/sys/".into()], &["/etc/passwd".into()]);
        assert!(msg.starts_with("system_info() reads the host"), "{msg}");
        assert!(msg.contains("enable_external_access is false"), "{msg}");
        assert!(msg.contains("SET allowed_directories = ['/proc']"), "{msg}");
        assert!(msg.contains("SET allowed_paths = ['/etc/os-release']"), "{msg}");
        assert!(msg.contains("allowed_directories (/sys/)"), "{msg}");
        assert!(denied(&reads, &roots, &Allowed::new(&["/"], &[])).is_empty());
    }

    #[test]
    fn host_paths_move_with_the_roots() {
        let roots = Roots::fixture("/fx");
        assert_eq!(HostPath::Proc.path(&roots), PathBuf::from("/fx/proc"));
        assert_eq!(
            HostPath::EtcFile("../usr/lib/os-release").path(&roots),
            PathBuf::from("/fx/usr/lib/os-release")
        );
        assert_eq!(HostPath::File("/etc/passwd").path(&roots), PathBuf::from("/etc/passwd"));
        assert!(HostPath::Sys.is_dir() && !HostPath::EtcFile("x").is_dir());
    }
}
