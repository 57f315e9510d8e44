#!/usr/bin/env python3
"""Install sysmon from an extension repository (`make repository`) for the Python `duckdb` of
the interpreter running this, as a user would: FORCE INSTALL sysmon FROM '<repository>'.

DuckDB copies the file into its own directory, ~/.duckdb/extensions/v<version>/<platform>/,
and records the repository in the .info file beside it, so `UPDATE EXTENSIONS` later fetches
newer builds from the same repository. Then `LOAD sysmon` checks that it loads.

    python scripts/install_extension.py build/repository
"""

import sys
from pathlib import Path

import duckdb


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    repository = Path(sys.argv[1]).resolve()
    if not repository.is_dir():
        sys.exit(f"error: {repository} does not exist (run `make repository`)")
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute("FORCE INSTALL sysmon FROM '" + str(repository).replace("'", "''") + "'")
    con.execute("LOAD sysmon")
    installed, version = con.execute(
        "SELECT install_path, extension_version FROM duckdb_extensions() WHERE extension_name = 'sysmon'"
    ).fetchone()
    print(f"duckdb {duckdb.__version__}: installed sysmon {version} at {installed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
