"""sysmon_functions() and sysmon_columns() against what DuckDB itself registered and returns.

DuckDB's C API cannot attach descriptions or positional parameter names to a function, so
sysmon describes itself; these tests check that description against duckdb_functions(),
duckdb_keywords() and DESCRIBE, and run every example it gives.
"""

import os
import re
import subprocess
import sys

import duckdb

from conftest import connect, extension_path, rows

POSITIONAL = re.compile(r"col[0-9]+")


def table_functions(con):
    return {
        r[0]: (r[1], r[2])
        for r in con.execute(
            "SELECT function_name, parameters, parameter_types FROM duckdb_functions() WHERE function_type = 'table'"
        ).fetchall()
    }


def registered_by_sysmon():
    """The table functions that LOAD sysmon adds, with DuckDB's parameters and types."""
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    before = table_functions(con)
    con.execute(f"LOAD '{extension_path()}'")
    after = table_functions(con)
    con.close()
    return {name: params for name, params in after.items() if name not in before}


# A duration parameter takes an INTERVAL or a number of seconds: DuckDB registers it as ANY.
DURATION = "INTERVAL or number of seconds"


def mismatch(described, registered):
    """What differs between a sysmon_functions() row and DuckDB's (parameters, types); None if nothing."""
    names, types = registered
    described = dict(described, parameter_types=["ANY" if t == DURATION else t for t in described["parameter_types"]])
    positional = [t for n, t in zip(names, types) if POSITIONAL.fullmatch(n)]
    named = {n: t for n, t in zip(names, types) if not POSITIONAL.fullmatch(n)}
    ours = list(zip(described["parameters"], described["parameter_types"], described["parameter_kinds"]))
    our_positional = [t for _, t, k in ours if k == "positional"]
    our_named = {n: t for n, t, k in ours if k == "named"}
    if len(names) != len(ours):
        return f"{len(ours)} parameters described, {len(names)} registered"
    if our_positional != positional:
        return f"positional types {our_positional} described, {positional} registered"
    if our_named != named:
        return f"named parameters {our_named} described, {named} registered"
    return None


def test_every_registered_function_is_described_with_its_parameters(con):
    registered = registered_by_sysmon()
    described = {r["function_name"]: r for r in rows(con, "SELECT * FROM sysmon_functions()")}
    hooks = {"sysmon_test_panic"} if os.environ.get("SYSMON_TEST_HOOKS") == "1" else set()
    assert set(registered) == set(described) | hooks
    assert {"record_metrics", "system_metrics", "sysmon_functions", "sysmon_columns"} <= set(described)
    for name, row in described.items():
        assert mismatch(row, registered[name]) is None, (name, mismatch(row, registered[name]))


def test_the_comparison_catches_a_difference():
    row = {
        "parameters": ["dir", "interval", "max_bytes"],
        "parameter_types": ["VARCHAR", "INTERVAL", "BIGINT"],
        "parameter_kinds": ["positional", "positional", "named"],
    }
    assert mismatch(row, (["col0", "col1", "max_bytes"], ["VARCHAR", "INTERVAL", "BIGINT"])) is None
    duration = dict(row, parameter_types=["VARCHAR", DURATION, "BIGINT"])
    assert mismatch(duration, (["col0", "col1", "max_bytes"], ["VARCHAR", "ANY", "BIGINT"])) is None
    assert mismatch(duration, (["col0", "col1", "max_bytes"], ["VARCHAR", "INTERVAL", "BIGINT"]))
    assert mismatch(row, (["col0", "col1", "max_bytes"], ["INTERVAL", "VARCHAR", "BIGINT"]))
    assert mismatch(row, (["col0", "col1", "max_bytes"], ["VARCHAR", "INTERVAL", "VARCHAR"]))
    assert mismatch(row, (["col0", "col1", "retention"], ["VARCHAR", "INTERVAL", "BIGINT"]))
    assert mismatch(row, (["col0", "col1"], ["VARCHAR", "INTERVAL"]))


def test_signatures_quote_reserved_words(con):
    reserved = {
        r[0]
        for r in con.execute("SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'").fetchall()
    }
    seen_reserved = False
    for f in rows(con, "SELECT function_name, signature, parameters, parameter_kinds FROM sysmon_functions()"):
        for name, kind in zip(f["parameters"], f["parameter_kinds"]):
            quoted = f'"{name}"' in f["signature"]
            assert quoted == (name in reserved), (f["function_name"], name)
            seen_reserved |= name in reserved
    assert seen_reserved, "window is reserved: at least one signature quotes it"


def test_columns_match_describe(con):
    """Every function callable without arguments: sysmon_columns() lists DESCRIBE's columns, in order."""
    functions = rows(con, "SELECT function_name, parameter_kinds FROM sysmon_functions()")
    checked = 0
    for f in functions:
        if "positional" in f["parameter_kinds"]:
            continue
        name = f["function_name"]
        described = con.execute(f"DESCRIBE SELECT * FROM {name}()").fetchall()
        listed = con.execute(
            "SELECT column_name, data_type FROM sysmon_columns() WHERE function_name = ? ORDER BY column_index", [name]
        ).fetchall()
        assert listed == [(r[0], r[1]) for r in described], name
        checked += 1
    assert checked >= 13


def test_every_example_runs(tmp_path):
    """Each function's example, in catalog order, in a fresh process (so record_metrics starts recorder 1
    and stop_recording(1) stops it), from a scratch working directory (the recorder's relative dir)."""
    script = f"""
import duckdb
con = duckdb.connect(config={{"allow_unsigned_extensions": "true"}})
con.execute("LOAD '{extension_path()}'")
import time
for name, example in con.execute("SELECT function_name, example FROM sysmon_functions()").fetchall():
    result = con.execute(example).fetchall()
    print(name, len(result))
    if name == "record_metrics":
        # A few ticks recorded (a second apart; longer on a loaded machine), so that
        # report_metrics' example has rows to chart.
        deadline = time.monotonic() + 60
        while con.execute("SELECT samples_taken FROM recordings()").fetchone()[0] < 2:
            assert time.monotonic() < deadline, "the example's recorder took fewer than 2 samples in 60 s"
            time.sleep(0.05)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "SYSMON_TEST_HOOKS"},
    )
    assert done.returncode == 0, done.stderr
    counts = dict(line.split() for line in done.stdout.splitlines())
    assert counts["record_metrics"] == "1" and counts["stop_recording"] == "1" and counts["report_metrics"] == "1"
    assert counts["system_metrics"] == "1" and int(counts["system_cpus"]) >= 1
    assert int(counts["sysmon_functions"]) == len(counts)
    assert (tmp_path / "sysmon-history").is_dir()


def test_readable_under_lockdown():
    con = connect()
    con.execute("SET enable_external_access = false")
    assert con.execute("SELECT count(*) FROM sysmon_functions()").fetchone()[0] >= 16
    assert con.execute("SELECT count(*) FROM sysmon_columns() WHERE function_name = 'system_metrics'").fetchone()[0] > 40
    con.close()
