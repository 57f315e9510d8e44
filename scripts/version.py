#!/usr/bin/env python3
"""Print sysmon's extension version: the one string the Makefile writes into the extension's
metadata footer (what `duckdb_extensions()` and `UPDATE EXTENSIONS` show) and compiles into
`system_info().extension_version`.

    v<workspace.package.version of Cargo.toml>              HEAD is the tag v<version>, tree clean
    v<version>-<short commit hash>[-dirty]                  any other git checkout
    v<version>                                              not a git checkout

DuckDB's UPDATE EXTENSIONS reports an extension as updated when the version string differs
from the installed one (it compares strings, not semantic versions), so every commit gets its own.
"""

import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cargo_version() -> str:
    with open(REPO_ROOT / "Cargo.toml", "rb") as f:
        return "v" + tomllib.load(f)["workspace"]["package"]["version"]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()


def extension_version() -> str:
    base = cargo_version()
    try:
        commit = git("rev-parse", "--short=7", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no") != ""
        tags = git("tag", "--points-at", "HEAD").split()
    except (OSError, subprocess.CalledProcessError):
        return base  # not a git checkout, or no commits yet
    if base in tags and not dirty:
        return base
    return f"{base}-{commit}" + ("-dirty" if dirty else "")


if __name__ == "__main__":
    print(extension_version())
    sys.exit(0)
