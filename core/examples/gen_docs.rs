//! Regenerates the docs' generated parts from the declarations: the README's function list,
//! docs/reference.md's column reference and docs/prometheus.md's `/metrics` mapping
//! (`sysmon_core::catalog::GENERATED_DOCS`).
//!
//! `cargo run -p sysmon-core --example gen_docs -- --write .` rewrites the text between the
//! markers of each file under the repository root `.`; `-- --check .` exits 1 if one is stale
//! (the unit tests `catalog::tests::generated_docs_are_current`,
//! `sysmon_core`'s `tests::reference_doc_is_current` and
//! `sysmon_serve`'s `metrics::tests::prometheus_doc_mapping_is_current` check the same on every `make test`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a developer tool: a failure may abort it

use std::path::Path;

use sysmon_core::catalog::GENERATED_DOCS;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, root) = match args.as_slice() {
        [mode, root] if mode == "--write" || mode == "--check" => (mode.as_str(), Path::new(root)),
        _ => {
            eprintln!("usage: gen_docs (--write | --check) REPOSITORY_ROOT");
            std::process::exit(2);
        }
    };
    let mut stale = false;
    for (file, update) in GENERATED_DOCS {
        let path = root.join(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("gen_docs: cannot read {}: {e}", path.display());
                std::process::exit(2);
            }
        };
        let Some(updated) = update(&text) else {
            eprintln!("gen_docs: {} lacks its generated-part markers", path.display());
            std::process::exit(2);
        };
        if updated == text {
            continue;
        }
        if mode == "--check" {
            eprintln!(
                "gen_docs: {}'s generated part is stale: run `make docs`",
                path.display()
            );
            stale = true;
        } else if let Err(e) = std::fs::write(&path, updated) {
            eprintln!("gen_docs: cannot write {}: {e}", path.display());
            std::process::exit(2);
        }
    }
    if stale {
        std::process::exit(1);
    }
}
