//! sysmon-core: everything sysmon knows about a host, without DuckDB.
//!
//! * [`procfs`]: readers of `/proc` and `/sys` files (root injectable for fixture trees);
//! * [`sample`]: one reading of the host-wide files, and the [`Collector`](sample::Collector)
//!   that takes it with kept-open descriptors;
//! * [`ring`] and [`live`]: the process-wide ring of recent samples that windows start from;
//! * [`schema`]: the table declarations that drive SQL columns, Parquet schemas and docs;
//! * [`catalog`]: every SQL function described once (parameters, summary, example, reads);
//! * [`tables`]: one module per SQL table, turning samples into rows;
//! * [`recorder`]: the background recorder that writes the tables' history as Parquet;
//! * [`serve`]: the HTTP server of `serve_metrics` (`/metrics`; the dashboard's routes in [`view`]);
//! * [`wait`]: the bound on waits inside a query (DuckDB cannot interrupt a scan call);
//! * [`nvml`]: NVIDIA's management library, opened at run time, for the `gpus` table;
//! * [`host`], [`interval`]: static host facts, DuckDB interval text;
//! * [`view`]: the dashboard's page, JSON and history reading, and `report_metrics`' report.
//!
//! Linux only: the readers need `/proc` and `/sys`.

pub mod catalog;
pub mod process;

// Moved down to the `sysmon-kernel` crate (crates/kernel), re-exported under their old names.

pub use catalog::{Function, functions};

/// Every declaration's columns, once each, in the order of [`functions`].
pub fn reference_tables() -> Vec<&'static sysmon_tables::schema::TableDecl> {
    let mut all: Vec<&'static sysmon_tables::schema::TableDecl> = Vec::new();
    for f in functions() {
        if !all.iter().any(|d| std::ptr::eq(*d, f.decl)) {
            all.push(f.decl);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every SQL function of the registry has its SQL test file, a Python test that calls it,
    /// and its row in the index of docs/tables.md: adding a table without them fails.
    #[test]
    fn every_function_has_its_tests_and_tables_doc_row() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python: Vec<String> = std::fs::read_dir(root.join("test/python"))
            .expect("test/python")
            .filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with("test_") && n.ends_with(".py")
            })
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        let doc = std::fs::read_to_string(root.join("docs/tables.md")).expect("docs/tables.md");
        let index = doc
            .split("## Where each function lives")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("docs/tables.md has a 'Where each function lives' section");
        for f in super::functions() {
            let sql = root.join(format!("test/sql/{}.test", f.name));
            assert!(sql.exists(), "{}() has no SQL test file {}", f.name, sql.display());
            let call = format!("{}(", f.name);
            assert!(
                python.iter().any(|t| t.contains(&call)),
                "{}() is not called by any test/python/test_*.py",
                f.name
            );
            let row = index
                .lines()
                .find(|l| l.starts_with('|') && l.contains(&format!("`{}()`", f.name)));
            let row = row.unwrap_or_else(|| panic!("{}() has no row in docs/tables.md's index", f.name));
            assert!(
                row.contains(&format!("test/sql/{}.test", f.name)),
                "docs/tables.md's row of {}() does not name its SQL test",
                f.name
            );
        }
    }

    #[test]
    fn reference_doc_is_current() {
        use sysmon_tables::schema::{markdown_reference, splice_reference};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference.md");
        let doc = std::fs::read_to_string(path).expect("docs/reference.md");
        let updated =
            splice_reference(&doc, &markdown_reference(&super::reference_tables())).expect("docs/reference.md markers");
        assert!(
            updated == doc,
            "docs/reference.md's column reference differs from the table declarations: run `make docs`"
        );
    }

    #[test]
    fn column_names_follow_the_naming_rules() {
        for t in super::reference_tables() {
            for c in t.columns {
                assert!(
                    c.name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{}.{} is not snake_case",
                    t.function,
                    c.name
                );
                let units = [
                    ("_bytes", "bytes"),
                    ("_seconds", "seconds"),
                    ("_pct", "percent"),
                    ("_mhz", "MHz"),
                    ("_bytes_per_sec", "bytes/s"),
                    ("_bits_per_sec", "bits/s"),
                    ("_packets_per_sec", "packets/s"),
                    ("_segs_per_sec", "segments/s"),
                    ("_datagrams_per_sec", "datagrams/s"),
                    ("_iops", "1/s"),
                    ("_celsius", "celsius"),
                    ("_rpm", "rpm"),
                    ("_watts", "watts"),
                    ("_us", "microseconds"),
                    ("_ms", "milliseconds"),
                ];
                if c.name.ends_with("_per_sec") {
                    assert!(
                        c.unit.ends_with("/s") || c.unit == "Hz",
                        "{}.{} has unit {}",
                        t.function,
                        c.name,
                        c.unit
                    );
                }
                for (suffix, unit) in [
                    ("_us", "microseconds"),
                    ("_ms", "milliseconds"),
                    ("_celsius", "celsius"),
                ] {
                    if c.unit == unit {
                        assert!(
                            c.name.ends_with(suffix),
                            "{}.{}: unit {unit} needs suffix {suffix}",
                            t.function,
                            c.name
                        );
                    }
                }
                for (suffix, unit) in units {
                    if c.name.ends_with(suffix) {
                        assert_eq!(c.unit, unit, "{}.{}", t.function, c.name);
                    }
                }
            }
        }
    }
}
