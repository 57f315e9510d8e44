//! Where sysfs files each block device (whole disk or partition, physical or virtual): the
//! `is_partition` and `is_virtual` columns of `system_disks()`.

use std::collections::HashMap;
use std::path::Path;

use crate::procfs::Roots;

/// Where sysfs files a block device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskClass {
    pub is_partition: Option<bool>,
    pub is_virtual: Option<bool>,
}

/// Reads the class of `name` from `/sys/class/block/<name>`: a symlink into
/// `/sys/devices/virtual/` for virtual devices, a `partition` attribute for partitions.
pub fn classify(sys: &Path, name: &str) -> DiskClass {
    // sysfs spells a `/` in a device name (cciss/c0d0) as `!`.
    let link = sys.join("class/block").join(name.replace('/', "!"));
    match std::fs::read_link(&link) {
        Ok(target) => DiskClass {
            is_virtual: Some(target.to_string_lossy().contains("devices/virtual/")),
            is_partition: Some(link.join("partition").exists()),
        },
        Err(_) => DiskClass::default(),
    }
}

/// Remembers each device's class, so sysfs is read once per device name.
#[derive(Debug, Default)]
pub struct DiskClasses {
    known: HashMap<String, DiskClass>,
}

impl DiskClasses {
    pub fn get(&mut self, roots: &Roots, name: &str) -> DiskClass {
        if let Some(c) = self.known.get(name) {
            return *c;
        }
        let c = classify(&roots.sys, name);
        if self.known.len() > 4096 {
            self.known.clear();
        }
        self.known.insert(name.to_string(), c);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_from_sysfs_links() {
        let sys = Roots::test_fixture("modern").sys;
        let c = classify(&sys, "vda");
        assert_eq!((c.is_partition, c.is_virtual), (Some(false), Some(false)));
        let c = classify(&sys, "vda1");
        assert_eq!((c.is_partition, c.is_virtual), (Some(true), Some(false)));
        assert_eq!(classify(&sys, "loop0").is_virtual, Some(true));
        assert_eq!(classify(&sys, "ram0").is_virtual, Some(true));
        assert_eq!(classify(&sys, "my disk"), DiskClass::default(), "not in sysfs: unknown");
    }
}
