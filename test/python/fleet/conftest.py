"""Fixtures of the fleet tests (`make test-fleet`, run by .venv-fleet's Python: duckdb 1.4.4 +
httpfs from PyPI, moto, boto3, pyarrow, pyspark).

* `recording`: a real local recording made by the extension (SYSMON_EXTENSION, the release
  build) in a child process of SYSMON_RECORD_PYTHON (the main client's Python; default: this
  one): every table sysmon can record, for a few seconds, stopped cleanly. Made once per session.
* `s3`: a moto_server on 127.0.0.1 (test/python/s3_server.py), stopped at the end.
* `bucket`: the recording's tree uploaded into it under `fleet/` with boto3, as the shipper puts
  it there (`<table>/host=<h>/date=<d>/*.parquet`; no `.lock`, no temporary files).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

from s3_server import S3Server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
PREFIX = "fleet"

RECORD = textwrap.dedent(
    """
    import duckdb, json, sys, time
    ext, d = sys.argv[1], sys.argv[2]
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{ext}'")
    tables = [r[0] for r in con.execute(
        "SELECT recorded_as FROM sysmon_functions() WHERE recorded_as IS NOT NULL ORDER BY 1").fetchall()]
    # gpus only where NVML lists a GPU: naming it elsewhere records nothing, which is fine.
    rid = con.execute(
        "SELECT id FROM record_metrics(?, INTERVAL 200 MILLISECONDS, tables := ?, "
        "process_interval := INTERVAL 1 SECOND, flush_interval := INTERVAL 1 SECOND)", [d, tables]).fetchone()[0]
    # A few seconds recorded (15 ticks; longer on a loaded machine), with a deadline.
    deadline = time.monotonic() + 60
    while con.execute("SELECT samples_taken FROM recordings() WHERE id = ?", [rid]).fetchone()[0] < 15:
        assert time.monotonic() < deadline, "fewer than 15 ticks in 60 s"
        time.sleep(0.05)
    cur = con.execute("SELECT * FROM stop_recording(?)", [rid])
    names = [c[0] for c in cur.description]
    row = dict(zip(names, cur.fetchone()))
    # The declared SQL type of every column of every recorded table, as the live table has it.
    columns = {}
    for fn, col, ty in con.execute(
            "SELECT c.function_name, c.column_name, c.data_type FROM sysmon_columns() c "
            "JOIN sysmon_functions() f USING (function_name) WHERE f.recorded_as IS NOT NULL").fetchall():
        columns.setdefault(fn.removeprefix("system_"), []).append([col, ty])
    print(json.dumps({"tables": tables, "columns": columns, "rows_written": row["rows_written"], "state": row["state"],
                      "last_error": row["last_error"], "duckdb": duckdb.__version__}))
    """
)


def extension():
    path = os.path.abspath(os.environ.get("SYSMON_EXTENSION", os.path.join(ROOT, "build/release/sysmon.duckdb_extension")))
    if not os.path.exists(path):
        pytest.fail(f"extension not built: {path} (run `make release` or set SYSMON_EXTENSION)")
    return path


@pytest.fixture(scope="session")
def sysmon_extension():
    return extension()


@pytest.fixture(scope="session")
def recording(tmp_path_factory):
    d = tmp_path_factory.mktemp("fleet") / "rec"
    python = os.environ.get("SYSMON_RECORD_PYTHON", sys.executable)
    res = subprocess.run([python, "-c", RECORD, extension(), str(d)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["state"] == "stopped" and info["last_error"] is None, info
    assert info["rows_written"] > 0, info
    # Only the tables that have rows on this machine (sensors, gpus, users may have none).
    info["present"] = sorted(t for t in info["tables"] if any(
        f.endswith(".parquet") for _, _, fs in os.walk(d / t) for f in fs))
    info["dir"] = str(d)
    return info


@pytest.fixture(scope="session")
def s3():
    with S3Server(bucket="sysmon-fleet") as server:
        yield server


@pytest.fixture(scope="session")
def bucket(s3, recording):
    keys = s3.upload_tree(recording["dir"], PREFIX)
    assert keys and all(k.endswith(".parquet") for k in keys)
    return {"keys": keys, "root": f"s3://{s3.bucket}/{PREFIX}", "prefix": PREFIX}
