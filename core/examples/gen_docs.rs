//! Regenerates the README's column reference from the table declarations.
//!
//! `cargo run -p sysmon-core --example gen_docs -- --write README.md` rewrites the text between
//! the markers; `-- --check README.md` exits 1 if it is stale (the unit test
//! `tables::tests::readme_reference_is_current` checks the same on every `make test`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool: a failure may abort it

use sysmon_core::reference_tables;
use sysmon_core::schema::{markdown_reference, splice_reference};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, path) = match args.as_slice() {
        [mode, path] if mode == "--write" || mode == "--check" => (mode.as_str(), path.as_str()),
        _ => {
            eprintln!("usage: gen_docs (--write | --check) README.md");
            std::process::exit(2);
        }
    };
    let readme = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gen_docs: cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let Some(updated) = splice_reference(&readme, &markdown_reference(&reference_tables())) else {
        eprintln!("gen_docs: {path} lacks the generated-reference markers");
        std::process::exit(2);
    };
    if mode == "--check" {
        if updated != readme {
            eprintln!("gen_docs: {path}'s column reference is stale: run `make docs`");
            std::process::exit(1);
        }
        return;
    }
    if updated != readme
        && let Err(e) = std::fs::write(path, updated)
    {
        eprintln!("gen_docs: cannot write {path}: {e}");
        std::process::exit(2);
    }
}
