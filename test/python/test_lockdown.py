"""Every sysmon function under DuckDB's lockdown (`enable_external_access = false`).

On DuckDB 1.5.6 and later a function that reads the host is refused in bind unless every path
it reads lies inside `allowed_directories` or is listed in `allowed_paths`; the refusal names
the setting and the statements that would allow it, and running those statements before the
lockdown lets the function run. DuckDB 1.4 and 1.5.0-1.5.5 cannot tell an extension its settings:
there every function still runs (as docs/security.md says). The functions are taken from the
extension itself (what LOAD adds), so a new table is tested here without editing this file.
"""

import re

import duckdb
import pytest

from conftest import connect

VERSION = tuple(int(x) for x in duckdb.__version__.split(".")[:3] if x.isdigit())
SEES_LOCKDOWN = VERSION >= (1, 5, 6)
# Functions that read no host file (see docs/security.md): allowed under any lockdown.
READS_NOTHING = {"recordings", "sysmon_functions", "sysmon_columns", "alerts", "alert_transitions", "stop_alert"}
TEST_HOOKS = {"sysmon_test_panic"}
# The HTTP server's functions: test_serve.py checks them under lockdown (serving is refused outright).
SERVING = {"serve_metrics", "servers", "stop_serving"}


def sysmon_functions():
    """The table functions LOAD sysmon adds."""
    plain = duckdb.connect()
    before = {r[0] for r in plain.execute("SELECT function_name FROM duckdb_functions()").fetchall()}
    plain.close()
    con = connect()
    after = {
        r[0]
        for r in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type = 'table'"
        ).fetchall()
    }
    con.close()
    return sorted(after - before - TEST_HOOKS - SERVING)


FUNCTIONS = sysmon_functions()


def test_the_listing_finds_every_kind_of_function():
    for f in ["system_info", "system_metrics", "system_processes", "system_cgroups",
              "record_metrics", "recordings", "stop_recording"]:
        assert f in FUNCTIONS, FUNCTIONS


def call(con, function, tmp_path):
    """Runs `function` once; returns nothing, raises what DuckDB raises."""
    if function.startswith("system_"):
        con.execute(f"SELECT count(*) FROM {function}()").fetchall()
    elif function == "record_metrics":
        rid = con.execute(
            f"SELECT id FROM record_metrics('{tmp_path}/rec', INTERVAL 1 SECOND)"
        ).fetchone()[0]
        con.execute("SELECT * FROM stop_recording(?)", [rid]).fetchall()
    elif function == "alert_metrics":
        # The query is bound in the alerts' own database under the caller's lockdown: a query
        # that reads the host is refused as that function itself would be (test_alerts.py
        # checks the webhook and dir).
        con.execute(
            "SELECT * FROM alert_metrics('lockdown_probe', 'SELECT load_1m FROM system_metrics()', every := 60)"
        ).fetchall()
        con.execute("SELECT * FROM stop_alert('lockdown_probe')").fetchall()
    elif function == "stop_alert":
        con.execute("SELECT * FROM alert_metrics('lockdown_stop', 'SELECT 1 AS one', every := 60)").fetchall()
        con.execute("SELECT * FROM stop_alert('lockdown_stop')").fetchall()
    elif function in ("recordings", "sysmon_functions", "sysmon_columns", "alerts", "alert_transitions"):
        con.execute(f"SELECT count(*) FROM {function}()").fetchall()
    elif function == "stop_recording":
        # The recorder is started before the lockdown, in a directory the test allows or not.
        rid = con.execute("SELECT max(id) FROM recordings() WHERE state = 'running'").fetchone()[0]
        con.execute("SELECT * FROM stop_recording(?)", [rid]).fetchall()
    elif function == "read_recording":
        pytest.skip("read_recording reads a recording, not the host: test_read_recording.py checks it under lockdown")
    elif function == "report_metrics":
        pytest.skip("report_metrics reads a recording and writes a file, not the host: test_report_metrics.py checks it under lockdown")
    else:
        pytest.fail(f"{function}(): say here how to call it, and what it does under lockdown")


def locked(function, tmp_path, dirs=(), paths=()):
    """A connection locked down with `dirs` and `paths` allowed; stop_recording gets a
    recorder started before the lockdown, in `tmp_path/rec`."""
    con = connect()
    if function == "stop_recording":
        con.execute(f"SELECT * FROM record_metrics('{tmp_path}/rec', INTERVAL 1 SECOND)").fetchall()
    if dirs:
        con.execute(f"SET allowed_directories = {list(dirs)}")
    if paths:
        con.execute(f"SET allowed_paths = {list(paths)}")
    con.execute("SET enable_external_access = false")
    # The lockdown is in force for DuckDB's own functions, on every client.
    probe = tmp_path.parent / f"{tmp_path.name}-probe"
    probe.write_text("x")
    with pytest.raises(duckdb.Error, match="disabled by configuration"):
        con.execute(f"SELECT content FROM read_text('{probe}')").fetchall()
    if not (dirs or paths):
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            con.execute("SELECT content FROM read_text('/proc/1/cmdline')").fetchall()
    return con


def cleanup(con):
    for (name,) in connect().execute("SELECT DISTINCT name FROM alerts()").fetchall():
        connect().execute("SELECT * FROM stop_alert(?)", [name]).fetchall()
    for (rid,) in con.execute("SELECT id FROM recordings() WHERE state = 'running'").fetchall():
        try:
            con.execute("SELECT * FROM stop_recording(?)", [rid]).fetchall()
        except duckdb.Error:
            # Refused by the lockdown: stop it from an unlocked connection of the process.
            connect().execute("SELECT * FROM stop_recording(?)", [rid]).fetchall()


def advice(message):
    """The allowed_directories and allowed_paths entries a refusal says to set."""
    out = {"allowed_directories": [], "allowed_paths": []}
    for setting, items in re.findall(r"SET (allowed_directories|allowed_paths) = \[([^\]]*)\]", message):
        out[setting] += re.findall(r"'([^']*)'", items)
    return out


@pytest.mark.parametrize("function", FUNCTIONS)
def test_refused_under_lockdown_then_allowed_as_the_error_says(function, tmp_path):
    # record_metrics's directory is allowed: what is refused is reading the host.
    con = locked(function, tmp_path, [str(tmp_path)] if function == "record_metrics" else [])
    try:
        if function in READS_NOTHING or not SEES_LOCKDOWN:
            # recordings() reads no host file; before 1.5.6 sysmon cannot see the lockdown.
            call(con, function, tmp_path)
            return
        with pytest.raises(duckdb.Error) as e:
            call(con, function, tmp_path)
        message = str(e.value)
        assert "enable_external_access is false" in message, message
        assert f"{function}(" in message, message
        if function != "stop_recording":
            assert "reads the host" in message, message
        if function == "record_metrics":
            assert not (tmp_path / "rec").exists(), "a refused recorder creates nothing"
    finally:
        cleanup(con)
    if function == "stop_recording":
        allow = {"allowed_directories": [str(tmp_path)], "allowed_paths": []}
    else:
        allow = advice(message)
        assert allow["allowed_directories"] or allow["allowed_paths"], message
        if function == "record_metrics":
            allow["allowed_directories"].append(str(tmp_path))
    con = locked(function, tmp_path, allow["allowed_directories"], allow["allowed_paths"])
    try:
        call(con, function, tmp_path)
    finally:
        cleanup(con)


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f.startswith("system_")])
def test_a_directory_that_is_only_a_text_prefix_allows_nothing(function, tmp_path):
    if not SEES_LOCKDOWN:
        pytest.skip("DuckDB before 1.5.6 cannot tell an extension its settings (documented)")
    # '/pro' and '/sy' are text prefixes of '/proc' and '/sys', not directories above them.
    con = locked(function, tmp_path, ["/pro", "/sy", "/et"])
    with pytest.raises(duckdb.Error, match="enable_external_access is false"):
        call(con, function, tmp_path)


def test_a_symlinked_allowed_directory_allows_what_it_points_to(tmp_path):
    if not SEES_LOCKDOWN:
        pytest.skip("DuckDB before 1.5.6 cannot tell an extension its settings (documented)")
    (tmp_path / "proc").symlink_to("/proc")
    (tmp_path / "sys").symlink_to("/sys")
    con = locked("system_metrics", tmp_path, [str(tmp_path / "proc"), str(tmp_path / "sys")])
    assert con.execute("SELECT count(*) FROM system_metrics()").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM system_pressure()").fetchone()[0] >= 0
    # The link allows what it points to, nothing else: /etc stays denied.
    with pytest.raises(duckdb.Error, match="/etc/passwd"):
        con.execute("SELECT count(*) FROM system_processes()").fetchall()


def test_lockdown_is_invisible_before_1_5_6(tmp_path):
    if SEES_LOCKDOWN:
        pytest.skip("DuckDB 1.5.6 and later tell sysmon its settings")
    # Documented: on DuckDB 1.4 and 1.5.0-1.5.5 sysmon cannot see the lockdown and reads the
    # host anyway. This test fails, and docs/security.md must change, the day that is no longer so.
    con = locked("system_processes", tmp_path)
    assert con.execute("SELECT count(*) FROM system_processes()").fetchone()[0] > 0
