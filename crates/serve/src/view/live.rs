//! `/api/live`: one JSON snapshot of the host, from the same rows as the SQL tables.
//!
//! The host tables share one window ([`LiveState::window_pair`]: against the newest kept
//! sample at least 100 ms old, which is the previous poll's when the page polls every second),
//! so CPU, disks, networks and pressure cover the same interval as each other.

use std::io;

use super::json;
use sysmon_live::LiveState;
use sysmon_live::ring::Window;
use sysmon_tables::processes::{Processes, ProcessesOptions};
use sysmon_tables::schema::Row;
use sysmon_tables::{HostWindow, Input, Table, cpus, disks, metrics, networks, pressure};

/// How many processes each top list has.
pub const TOP: usize = 10;

/// Writes `rows` as an array of objects with the columns `names` (those the declaration has),
/// the rows for which `keep` holds.
fn rows_json<R: Row>(out: &mut String, rows: &[&R], names: &[&str]) {
    let cols: Vec<(usize, &str)> = names
        .iter()
        .filter_map(|n| Some((R::TABLE.column_index(n)?, *n)))
        .collect();
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        for (j, (c, n)) in cols.iter().enumerate() {
            json::key(out, j == 0, n);
            json::cell(out, r.cell(*c));
        }
        out.push('}');
    }
    out.push(']');
}

/// Every column of `row` whose name starts with one of `prefixes`, as an object.
fn object<R: Row>(out: &mut String, row: &R, prefixes: &[&str]) {
    out.push('{');
    let mut first = true;
    for (i, c) in R::TABLE.columns.iter().enumerate() {
        if prefixes.iter().any(|p| c.name.starts_with(p)) {
            json::key(out, first, c.name);
            json::cell(out, row.cell(i));
            first = false;
        }
    }
    out.push('}');
}

/// The snapshot: `{"ts_ms", "hostname", "window_seconds", "cpu": {...}, "memory": {...},
/// "load": {...}, "cpus": [...], "disks": [...], "networks": [...], "pressure": [...],
/// "top_cpu": [...], "top_mem": [...]}`.
pub fn snapshot(state: &LiveState) -> Result<String, String> {
    build(state).map_err(|e| format!("cannot read the host: {e}"))
}

fn build(state: &LiveState) -> io::Result<String> {
    let (base, now) = state.window_pair(Window::Default)?;
    let w = HostWindow { base, now };
    let m = metrics::row(&w.base, &w.now);
    let cpus = cpus::Cpus::rows(&w, state, &())?;
    let disks = disks::Disks::rows(&w, state, &disks::DisksOptions { include_virtual: false })?;
    let nets = networks::Networks::rows(&w, state, &())?;
    let psi = pressure::Pressure::rows(&w, state, &())?;
    let pw = <Processes as Table>::Input::live(
        state,
        Window::Default,
        &all_columns::<sysmon_tables::processes::ProcessesRow>(),
    )?;
    let procs = Processes::rows(&pw, state, &ProcessesOptions::default())?;

    let mut out = String::with_capacity(8192);
    out.push('{');
    json::key(&mut out, true, "ts_ms");
    json::cell(&mut out, m.cell(0));
    json::key(&mut out, false, "hostname");
    json::string(&mut out, &m.hostname);
    json::key(&mut out, false, "window_seconds");
    json::number(&mut out, m.cpu.window_seconds);
    json::key(&mut out, false, "cpu");
    object(&mut out, &m, &["cpu_"]);
    json::key(&mut out, false, "memory");
    object(&mut out, &m, &["mem_", "swap_"]);
    json::key(&mut out, false, "load");
    object(&mut out, &m, &["load_", "procs_"]);
    json::key(&mut out, false, "cpus");
    rows_json(
        &mut out,
        &cpus.iter().collect::<Vec<_>>(),
        &["cpu", "cpu_busy_pct", "freq_mhz"],
    );
    json::key(&mut out, false, "disks");
    let whole: Vec<_> = disks.iter().filter(|d| d.is_partition != Some(true)).collect();
    rows_json(
        &mut out,
        &whole,
        &["device", "read_bytes_per_sec", "write_bytes_per_sec", "util_pct"],
    );
    json::key(&mut out, false, "networks");
    let physical: Vec<_> = nets.iter().filter(|n| n.is_physical).collect();
    rows_json(
        &mut out,
        &physical,
        &["interface", "rx_bytes_per_sec", "tx_bytes_per_sec"],
    );
    json::key(&mut out, false, "pressure");
    rows_json(
        &mut out,
        &psi.iter().collect::<Vec<_>>(),
        &["resource", "kind", "avg10_pct", "stall_pct"],
    );
    let top_cols = ["pid", "name", "user", "cpu_pct", "rss_bytes", "mem_pct"];
    let mut by_cpu: Vec<_> = procs.iter().collect();
    by_cpu.sort_by(|a, b| {
        b.cpu_pct
            .unwrap_or(0.0)
            .total_cmp(&a.cpu_pct.unwrap_or(0.0))
            .then(a.pid.cmp(&b.pid))
    });
    by_cpu.truncate(TOP);
    json::key(&mut out, false, "top_cpu");
    rows_json(&mut out, &by_cpu, &top_cols);
    let mut by_mem: Vec<_> = procs.iter().collect();
    by_mem.sort_by(|a, b| b.rss_bytes.cmp(&a.rss_bytes).then(a.pid.cmp(&b.pid)));
    by_mem.truncate(TOP);
    json::key(&mut out, false, "top_mem");
    rows_json(&mut out, &by_mem, &top_cols);
    json::key(&mut out, false, "alerts");
    alerts_json(&mut out, state);
    out.push('}');
    Ok(out)
}

/// The running alerts' pending and firing instances.
fn alerts_json(out: &mut String, state: &LiveState) {
    out.push('[');
    let mut first = true;
    for (_, series) in state.alerts().series() {
        for a in series.iter() {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('{');
            json::key(out, true, "alertname");
            json::string(out, &a.alertname);
            json::key(out, false, "state");
            json::string(out, a.state);
            json::key(out, false, "severity");
            match &a.severity {
                Some(s) => json::string(out, s),
                None => out.push_str("null"),
            }
            json::key(out, false, "labels");
            out.push('{');
            for (i, (k, v)) in a.labels.iter().enumerate() {
                json::key(out, i == 0, k);
                json::string(out, v);
            }
            out.push('}');
            json::key(out, false, "value");
            json::number(out, a.value.unwrap_or(f64::NAN));
            json::key(out, false, "active_since_ms");
            json::number(out, (a.active_since_us / 1000) as f64);
            json::key(out, false, "summary");
            match &a.summary {
                Some(s) => json::string(out, s),
                None => out.push_str("null"),
            }
            out.push('}');
        }
    }
    out.push(']');
}

fn all_columns<R: Row>() -> Vec<usize> {
    (0..R::TABLE.columns.len()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysmon_kernel::procfs::Roots;

    #[test]
    fn snapshot_of_a_fixture_host() {
        let state = LiveState::new(Roots::test_fixture("modern"));
        let s = snapshot(&state).unwrap();
        for k in [
            "\"ts_ms\":",
            "\"cpu\":{\"cpu_user_seconds\":",
            "\"cpu_busy_pct\":",
            "\"memory\":{\"mem_total_bytes\":",
            "\"swap_used_bytes\":",
            "\"load\":{\"load_1m\":",
            "\"cpus\":[{\"cpu\":0,",
            "\"disks\":[",
            "\"networks\":[",
            "\"pressure\":[{\"resource\":\"cpu\",\"kind\":\"some\"",
            "\"top_cpu\":[{\"pid\":",
            "\"top_mem\":[{\"pid\":",
        ] {
            assert!(s.contains(k), "{k} missing in {s}");
        }
        assert!(!s.contains("\"is_partition\""));
        assert!(s.ends_with(",\"alerts\":[]}"), "{s}");
        state.alerts().set_series(
            "disk_full",
            vec![sysmon_live::alerts::Series {
                alertname: "disk_full".into(),
                state: "firing",
                severity: None,
                labels: vec![("mount_point".into(), "/<x>".into())],
                value: Some(93.5),
                active_since_us: 1_000_000,
                summary: Some("/ is full".into()),
            }],
        );
        let s = snapshot(&state).unwrap();
        assert!(
            s.contains(r#""alerts":[{"alertname":"disk_full","state":"firing","severity":null,"labels":{"mount_point":"/\u003cx>"},"value":93.5,"active_since_ms":1000,"summary":"/ is full"}]"#),
            "{s}"
        );
    }
}
