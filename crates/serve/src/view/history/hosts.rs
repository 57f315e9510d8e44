//! The hosts of a recording and the time their files cover, from folder and file names alone
//! (`/api/hosts`).

use std::io;
use std::path::Path;

use super::*;

/// A recorded host: the tables it has and the time its files cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub host: String,
    pub tables: Vec<&'static str>,
    /// The smallest first and largest last `ts` of its files (microseconds), from their names.
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
}

/// The hosts recorded under `dir` (in any recordable table), by name.
pub fn hosts(dir: &Path) -> io::Result<Vec<Host>> {
    let mut out: Vec<Host> = Vec::new();
    for t in sysmon_tables::recorded::all() {
        let rd = match std::fs::read_dir(dir.join(t.name)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => continue,
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let name = entry.file_name();
            let Some(h) = name.to_str().and_then(|n| n.strip_prefix("host=")) else {
                continue;
            };
            let (mut first, mut last) = (None::<i64>, None::<i64>);
            for (_, day) in layout::list_days(&entry.path())? {
                for f in layout::list_names(&day)? {
                    first = Some(first.map_or(f.name.first_us, |v| v.min(f.name.first_us)));
                    last = Some(last.map_or(f.name.last_us, |v| v.max(f.name.last_us)));
                }
            }
            // Rows flushed and not yet published count too: they are drawn (the history reads
            // the log), so a recording a minute old has a minute to show.
            if let Ok(Some((f, l))) = sysmon_store::wal::extent(&entry.path()) {
                first = Some(first.map_or(f, |v| v.min(f)));
                last = Some(last.map_or(l, |v| v.max(l)));
            }
            add_host(&mut out, h, t.name, first, last);
        }
    }
    out.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(out)
}

/// Notes that `host` has table `table` with files from `first` to `last` (µs).
pub(crate) fn add_host(out: &mut Vec<Host>, host: &str, table: &'static str, first: Option<i64>, last: Option<i64>) {
    let i = match out.iter().position(|x| x.host == host) {
        Some(i) => i,
        None => {
            out.push(Host {
                host: host.to_string(),
                tables: Vec::new(),
                first_us: None,
                last_us: None,
            });
            out.len() - 1
        }
    };
    let x = &mut out[i];
    x.tables.push(table);
    x.first_us = match (x.first_us, first) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    x.last_us = match (x.last_us, last) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
}

/// `/api/hosts`: `{"dir": ..., "hosts": [{"host", "tables", "first_ms", "last_ms"}]}`.
pub fn hosts_json(dir: Option<&Path>) -> Result<String, String> {
    let mut out = String::from("{\"dir\":");
    let Some(dir) = dir else {
        out.push_str("null,\"hosts\":[]}");
        return Ok(out);
    };
    let list = hosts(dir).map_err(|e| format!("cannot list the hosts under '{}': {e}", dir.display()))?;
    Ok(hosts_json_of(&dir.to_string_lossy(), &list))
}

/// `/api/hosts` of the recording shown as `shown`, holding `list`.
pub fn hosts_json_of(shown: &str, list: &[Host]) -> String {
    let mut out = String::from("{\"dir\":");
    json::string(&mut out, shown);
    out.push_str(",\"hosts\":[");
    for (i, h) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        json::key(&mut out, true, "host");
        json::string(&mut out, &h.host);
        json::key(&mut out, false, "tables");
        out.push('[');
        for (j, t) in h.tables.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            json::string(&mut out, t);
        }
        out.push(']');
        json::key(&mut out, false, "first_ms");
        json::opt(&mut out, h.first_us.map(|u| (u / 1000) as f64));
        json::key(&mut out, false, "last_ms");
        json::opt(&mut out, h.last_us.map(|u| (u / 1000) as f64));
        out.push('}');
    }
    out.push_str("]}");
    out
}
