"""Shared fixtures: the built extension and a DuckDB connection that has loaded it.

`make test-python` sets SYSMON_EXTENSION (the built file) and SYSMON_DUCKDB_CLI (the pinned
duckdb shell) and runs this suite once per pinned Python client.
"""

import os

import duckdb
import pytest


def extension_path():
    path = os.environ.get("SYSMON_EXTENSION", "build/release/sysmon.duckdb_extension")
    path = os.path.abspath(path)
    if not os.path.exists(path):
        pytest.fail(f"extension not built: {path} (run `make release` or set SYSMON_EXTENSION)")
    return path


def connect(database=":memory:", **config):
    con = duckdb.connect(database, config={"allow_unsigned_extensions": "true", **config})
    con.execute(f"LOAD '{extension_path()}'")
    return con


@pytest.fixture
def ext():
    return extension_path()


@pytest.fixture
def con():
    c = connect()
    yield c
    c.close()


@pytest.fixture
def db(con):
    return con


def rows(con, sql, params=None):
    """Every row of `sql`, each as a dict."""
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def one(con, sql, params=None):
    """The single row of `sql` as a dict."""
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0]))


def proc_stat_cpu(line_prefix="cpu "):
    """The numbers of one cpu line of /proc/stat, in ticks."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(line_prefix):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no {line_prefix!r} line")


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, rest = line.split(":", 1)
            parts = rest.split()
            out[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out
