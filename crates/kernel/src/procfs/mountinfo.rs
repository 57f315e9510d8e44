//! `/proc/self/mountinfo`: the mounts this process sees.
//!
//! A line is `id parent major:minor root mount_point mount_options [optional fields...] -
//! fs_type source super_options`. Paths escape space, tab, newline and backslash as octal
//! (`\040`, `\011`, `\012`, `\134`); [`unescape`] undoes it.

/// One mount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    pub major: u32,
    pub minor: u32,
    /// The path inside the filesystem that is mounted (`/` unless a bind mount of a subtree).
    pub root: String,
    pub mount_point: String,
    /// Per-mount options (`rw,relatime`).
    pub mount_options: String,
    pub fs_type: String,
    /// The source: a device path, a server share, or a name such as `proc`.
    pub source: String,
    /// Per-superblock options (`rw,memory` for a cgroup v1 mount).
    pub super_options: String,
}

impl Mount {
    /// Whether the mount is read-only (`ro` among the per-mount options).
    pub fn read_only(&self) -> bool {
        self.mount_options.split(',').any(|o| o == "ro")
    }

    /// Parses one line; `None` if it is malformed or truncated.
    pub fn parse_line(line: &str) -> Option<Mount> {
        let mut f = line.split(' ');
        let id = f.next()?.parse().ok()?;
        let parent = f.next()?.parse().ok()?;
        let (major, minor) = f.next()?.split_once(':')?;
        let (major, minor) = (major.parse().ok()?, minor.parse().ok()?);
        let root = unescape(f.next()?);
        let mount_point = unescape(f.next()?);
        let mount_options = f.next()?.to_string();
        // Optional fields up to the lone `-`.
        loop {
            if f.next()? == "-" {
                break;
            }
        }
        let fs_type = unescape(f.next()?);
        let source = unescape(f.next()?);
        let super_options = f.next().unwrap_or("").to_string();
        Some(Mount {
            id,
            parent,
            major,
            minor,
            root,
            mount_point,
            mount_options,
            fs_type,
            source,
            super_options,
        })
    }

    /// Parses the whole file, skipping bad lines.
    pub fn parse_all(text: &str) -> Vec<Mount> {
        text.lines().filter_map(Mount::parse_line).collect()
    }
}

/// Undoes the kernel's octal escapes (`\040` is a space); anything else is kept as is.
/// The escaped bytes are reassembled before UTF-8 decoding, so escaped multi-byte characters
/// survive; invalid UTF-8 is replaced.
pub fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_with_optional_fields() {
        let m = Mount::parse_line("27 1 254:0 / / rw,relatime shared:1 master:2 - ext4 /dev/vda rw,discard").unwrap();
        assert_eq!((m.major, m.minor), (254, 0));
        assert_eq!(m.mount_point, "/");
        assert_eq!(m.fs_type, "ext4");
        assert_eq!(m.source, "/dev/vda");
        assert_eq!(m.super_options, "rw,discard");
        assert!(!m.read_only());
        let m = Mount::parse_line("35 31 0:32 / /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory").unwrap();
        assert!(m.read_only());
        assert_eq!(m.super_options, "rw,memory");
    }

    #[test]
    fn octal_escapes_spaces_and_unicode() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape(r"/a\011b\012c\134d"), "/a\tb\nc\\d");
        assert_eq!(unescape("/mnt/données"), "/mnt/données");
        assert_eq!(unescape(r"/mnt/\303\251t\303\251"), "/mnt/été");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
        assert_eq!(unescape(r"/x\999"), r"/x\999");
        let m = Mount::parse_line(r"50 27 8:1 / /mnt/usb\040stick\040été rw - vfat /dev/sdb1 rw").unwrap();
        assert_eq!(m.mount_point, "/mnt/usb stick été");
    }

    #[test]
    fn malformed_and_truncated_lines_are_skipped() {
        assert_eq!(Mount::parse_line(""), None);
        assert_eq!(
            Mount::parse_line("27 1 254:0 / / rw,relatime shared:1"),
            None,
            "no separator"
        );
        assert_eq!(Mount::parse_line("27 1 254:0 / / rw -"), None, "no type");
        assert_eq!(Mount::parse_line("x 1 254:0 / / rw - ext4 /dev/vda rw"), None);
        assert_eq!(Mount::parse_line("27 1 2540 / / rw - ext4 /dev/vda rw"), None);
        let v = Mount::parse_all("garbage\n27 1 254:0 / / rw - ext4 /dev/vda rw\n28 27 0:1 / /x rw - tmpfs tmpfs");
        assert_eq!(v.len(), 2, "a missing super-options field is tolerated");
    }
}
