"""The one binary loads in every pinned DuckDB: this Python client, the pinned shell, and the
footer says what DuckDB expects."""

import os
import subprocess
import sys

import duckdb
import pytest

from conftest import connect, extension_path


def test_loads_in_this_python_client(con):
    assert con.execute("SELECT count(*) FROM system_info()").fetchone()[0] == 1
    rows = con.execute(
        "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'sysmon'"
    ).fetchall()
    assert rows == [(True,)]


def test_refused_without_allow_unsigned(ext):
    con = duckdb.connect()
    with pytest.raises(duckdb.Error, match="(?i)signature|unsigned"):
        con.execute(f"LOAD '{ext}'")


def test_footer_matches_duckdb_expectations(ext):
    with open(ext, "rb") as f:
        f.seek(-512, os.SEEK_END)
        footer = f.read(512)
    fields = [footer[i * 32:(i + 1) * 32].rstrip(b"\0").decode() for i in range(8)][::-1]
    platform = duckdb.execute("PRAGMA platform").fetchone()[0]
    assert fields[0] == "4"
    assert fields[1] == platform
    assert fields[2] == "v1.2.0"
    assert fields[4] == "C_STRUCT"
    assert footer[256:] == b"\0" * 256


def test_loads_in_pinned_cli(ext):
    cli = os.environ.get("SYSMON_DUCKDB_CLI")
    if not cli:
        pytest.skip("SYSMON_DUCKDB_CLI not set (make test-python sets it)")
    out = subprocess.run(
        [cli, "-unsigned", "-csv", "-noheader", "-c",
         f"LOAD '{ext}'; SELECT count(*) FROM system_cpus(); SELECT version();"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()
    assert int(out[0]) == os.cpu_count()
    assert out[1].startswith("v1.5"), out


def test_two_databases_in_one_process(ext):
    a = connect()
    b = connect()
    assert a.execute("SELECT hostname FROM system_info()").fetchone() == b.execute(
        "SELECT hostname FROM system_info()").fetchone()
    a.close()
    assert b.execute("SELECT count(*) FROM system_metrics()").fetchone()[0] == 1


def test_read_only_database_loads_and_creates_nothing(ext, tmp_path):
    db = str(tmp_path / "x.duckdb")
    duckdb.connect(db).close()
    con = duckdb.connect(db, read_only=True, config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{ext}'")
    assert con.execute("SELECT count(*) FROM system_metrics()").fetchone()[0] == 1
    con.close()
    # Nothing persisted into the database file (no macros, no tables).
    con = duckdb.connect(db)
    assert con.execute("SELECT count(*) FROM duckdb_functions() WHERE NOT internal").fetchone()[0] == 0
    con.close()


def test_panics_become_query_errors(tmp_path):
    """A callback that panics fails its query; the process and the connection live on."""
    code = f"""
import duckdb
con = duckdb.connect(config={{'allow_unsigned_extensions': 'true'}})
con.execute("LOAD '{extension_path()}'")
for where in ['bind', 'scan']:
    try:
        con.execute(f"SELECT * FROM sysmon_test_panic('{{where}}')").fetchall()
        raise SystemExit('no error for ' + where)
    except duckdb.Error as e:
        assert 'panicked' in str(e) and where in str(e), e
print(con.execute('SELECT count(*) FROM system_cpus()').fetchone()[0])
"""
    env = dict(os.environ, SYSMON_TEST_HOOKS="1", RUST_BACKTRACE="0")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) == os.cpu_count()


def test_test_hook_absent_by_default(con):
    with pytest.raises(duckdb.Error, match="sysmon_test_panic"):
        con.execute("SELECT * FROM sysmon_test_panic('scan')")
