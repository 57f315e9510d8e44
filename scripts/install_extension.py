#!/usr/bin/env python3
"""Install sysmon.duckdb_extension for the Python `duckdb` of the interpreter running this.

DuckDB itself copies the file (FORCE INSTALL '<path>'), so it lands where that version
looks for it, ~/.duckdb/extensions/v<duckdb version>/<platform>/, next to the .info file
DuckDB writes. Then `LOAD sysmon` (with allow_unsigned_extensions) checks that it loads.

    python scripts/install_extension.py build/release/sysmon.duckdb_extension
"""

import sys
from pathlib import Path

import duckdb


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = Path(sys.argv[1]).resolve()
    if not path.is_file():
        sys.exit(f"error: {path} does not exist (run `make release`)")
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute("FORCE INSTALL '" + str(path).replace("'", "''") + "'")
    con.execute("LOAD sysmon")
    installed, version = con.execute(
        "SELECT install_path, extension_version FROM duckdb_extensions() WHERE extension_name = 'sysmon'"
    ).fetchone()
    print(f"duckdb {duckdb.__version__}: installed sysmon {version} at {installed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
