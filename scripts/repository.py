#!/usr/bin/env python3
"""Publish sysmon.duckdb_extension into an extension repository, laid out as DuckDB's
`INSTALL sysmon FROM '<repository>'` expects:

    <repository>/<duckdb version>/<platform>/sysmon.duckdb_extension      (a local folder reads this or the .gz)
    <repository>/<duckdb version>/<platform>/sysmon.duckdb_extension.gz   (an http:// repository reads only this)

The DuckDB version and platform default to those of the Python `duckdb` running this script,
so `make repository` runs it once per pinned client. Then it checks the result as a user
would: INSTALL from the repository into a throw-away extension directory, and LOAD.

    python scripts/repository.py build/release/sysmon.duckdb_extension build/repository
"""

import argparse
import gzip
import os
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb

NAME = "sysmon"


def client_target(con) -> tuple[str, str]:
    """(DuckDB version as its extension folders spell it, e.g. v1.5.6; platform, e.g. linux_amd64)."""
    version = con.execute("SELECT library_version FROM pragma_version()").fetchone()[0]
    platform = con.execute("SELECT platform FROM pragma_platform()").fetchone()[0]
    return version, platform


def gzip_open(path, mode):
    return gzip.open(path, mode, compresslevel=6)


def publish(extension: Path, repository: Path, version: str, platform: str) -> Path:
    """Write the plain file and the .gz for one DuckDB version and platform; return their folder."""
    folder = repository / version / platform
    folder.mkdir(parents=True, exist_ok=True)
    for name, opener in ((f"{NAME}.duckdb_extension", open), (f"{NAME}.duckdb_extension.gz", gzip_open)):
        # Write beside the destination, then rename: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        try:
            with open(extension, "rb") as src, opener(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from a web server's user
            os.replace(tmp, folder / name)
        except BaseException:
            os.unlink(tmp)
            raise
    return folder


def sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def check(repository: Path) -> str:
    """INSTALL and LOAD from the repository in a fresh extension directory; the loaded version."""
    with tempfile.TemporaryDirectory() as ext_dir:
        con = duckdb.connect(config={"allow_unsigned_extensions": "true", "extension_directory": ext_dir})
        con.execute(f"INSTALL {NAME} FROM {sql_text(str(repository))}")
        con.execute(f"LOAD {NAME}")
        return con.execute(
            "SELECT extension_version FROM duckdb_extensions() WHERE extension_name = ? AND loaded", [NAME]
        ).fetchone()[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("extension", type=Path, help="the built sysmon.duckdb_extension")
    p.add_argument("repository", type=Path, help="the repository folder, e.g. build/repository")
    args = p.parse_args()
    if not args.extension.is_file():
        sys.exit(f"error: {args.extension} does not exist (run `make release`)")
    con = duckdb.connect()
    version, platform = client_target(con)
    folder = publish(args.extension, args.repository.resolve(), version, platform)
    loaded = check(args.repository.resolve())
    print(f"{folder}: sysmon {loaded} installs and loads in duckdb {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
