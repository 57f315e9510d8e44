//! Regenerates the README's function list and column reference from the declarations.
//!
//! `cargo run -p sysmon-core --example gen_docs -- --write README.md` rewrites the text between
//! the markers; `-- --check README.md` exits 1 if it is stale (the unit tests
//! `tables::tests::readme_reference_is_current` and `catalog::tests::readme_function_list_is_current`
//! check the same on every `make test`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a developer tool: a failure may abort it

use sysmon_core::catalog::update_readme;

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
    let Some(updated) = update_readme(&readme) else {
        eprintln!("gen_docs: {path} lacks the generated function list or column reference markers");
        std::process::exit(2);
    };
    if mode == "--check" {
        if updated != readme {
            eprintln!("gen_docs: {path}'s function list or column reference is stale: run `make docs`");
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
