//! The bucket's side of the format: how a recording's objects are named (`P-` parts and `D-`
//! day objects, [`ObjName`]), where they go ([`object_key`]), and what a day object's footer
//! says it replaces ([`COVERS`]). The shipper writes these; the bucket readers (dashboard,
//! report) read them.

use super::layout;

/// Footer key of a day object: the names of the objects (same date folder) it covers.
pub const COVERS: &str = "sysmon.covers";

/// An object's name: `P-<first_us>-<last_us>-<nonce>.parquet` (a part) or `D-...` (a day).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjName {
    pub day_object: bool,
    pub first_us: i64,
    pub last_us: i64,
    pub nonce: u64,
}

impl ObjName {
    pub fn render(&self) -> String {
        let k = if self.day_object { 'D' } else { 'P' };
        format!(
            "{k}-{}-{}-{}{}",
            self.first_us,
            self.last_us,
            self.nonce,
            layout::PARQUET_SUFFIX
        )
    }

    pub fn parse(name: &str) -> Option<ObjName> {
        let stem = name.strip_suffix(layout::PARQUET_SUFFIX)?;
        let (kind, rest) = stem.split_once('-')?;
        let day_object = match kind {
            "P" => false,
            "D" => true,
            _ => return None,
        };
        let mut it = rest.splitn(3, '-');
        Some(ObjName {
            day_object,
            first_us: it.next()?.parse().ok()?,
            last_us: it.next()?.parse().ok()?,
            nonce: it.next()?.parse().ok()?,
        })
    }
}

/// The object key of `name` in table `table`'s date folder of `day`.
pub fn object_key(prefix: &str, table: &str, host: &str, day: i64, name: &str) -> String {
    let rel = format!("{table}/host={host}/date={}/{name}", layout::date_string(day));
    if prefix.is_empty() {
        rel
    } else {
        format!("{prefix}/{rel}")
    }
}
