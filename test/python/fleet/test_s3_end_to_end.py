"""End to end: the extension records straight into the local S3 server
(`record_metrics('s3://bucket/prefix', ..., endpoint := ...)`, credentials from the AWS
environment variables), and DuckDB 1.4.4 + httpfs and pyarrow read the bucket back: every row
the recorder wrote, the recorder's layout, the same types as a local recording.

Runs once the extension has S3 destinations (issue 9, part A): it is skipped, saying so, by a
build whose record_metrics has no `endpoint` parameter.
"""

import json
import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import s3_duckdb

RECORD = textwrap.dedent(
    """
    import duckdb, json, sys, time
    ext, dest, endpoint, spool = sys.argv[1:5]
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{ext}'")
    params = con.execute(
        "SELECT parameters FROM sysmon_functions() WHERE function_name = 'record_metrics'").fetchone()[0]
    if "endpoint" not in params:
        print(json.dumps({"no_s3": True}))
        sys.exit(0)
    rid = con.execute(
        "SELECT id FROM record_metrics(?, INTERVAL 200 MILLISECONDS, tables := ['metrics', 'cpus', 'networks'], "
        "flush_interval := INTERVAL 1 SECOND, endpoint := ?, region := 'us-east-1', spool := ?, "
        "upload_interval := INTERVAL 1 SECOND)", [dest, endpoint, spool]).fetchone()[0]
    # A few seconds recorded (15 ticks; longer on a loaded machine), with a deadline.
    deadline = time.monotonic() + 60
    while con.execute("SELECT samples_taken FROM recordings() WHERE id = ?", [rid]).fetchone()[0] < 15:
        assert time.monotonic() < deadline, "fewer than 15 ticks in 60 s"
        time.sleep(0.05)
    cur = con.execute("SELECT * FROM stop_recording(?)", [rid])
    names = [c[0] for c in cur.description]
    row = dict(zip(names, cur.fetchone()))
    print(json.dumps({k: (v if isinstance(v, (int, float, str, type(None), list)) else str(v)) for k, v in row.items()}))
    """
)


@pytest.fixture(scope="module")
def shipped(s3, sysmon_extension, tmp_path_factory):
    spool = tmp_path_factory.mktemp("spool")
    python = os.environ.get("SYSMON_RECORD_PYTHON", sys.executable)
    env = dict(os.environ, **s3.env())
    dest = f"s3://{s3.bucket}/e2e"
    res = subprocess.run([python, "-c", RECORD, sysmon_extension, dest, s3.endpoint, str(spool)],
                         capture_output=True, text=True, timeout=180, env=env)
    assert res.returncode == 0, res.stderr
    row = json.loads(res.stdout.strip().splitlines()[-1])
    if row.get("no_s3"):
        pytest.skip("this build's record_metrics has no S3 destination (issue 9 part A not merged)")
    assert row["state"] == "stopped" and row["last_error"] is None, row
    assert SECRET_NOT_IN(row, s3)
    return {"row": row, "root": dest, "spool": str(spool)}


def SECRET_NOT_IN(row, s3):  # noqa: N802 (reads as a condition)
    return s3.client_secret not in json.dumps(row)


def test_bucket_holds_every_row_after_stop(s3, shipped):
    keys = s3.keys("e2e/")
    assert keys, "nothing uploaded"
    for k in keys:
        _, table, host, date, name = k.split("/")
        assert table in ("metrics", "cpus", "networks") and host.startswith("host=") and date.startswith("date="), k
        assert name.endswith(".parquet") and not name.startswith("."), k
    con = s3_duckdb.connect(s3)
    total = 0
    for table in ("metrics", "cpus", "networks"):
        total += con.execute(
            f"SELECT count(*) FROM read_parquet('{shipped['root']}/{table}/*/*/*.parquet', hive_partitioning := true)"
        ).fetchone()[0]
    assert total == shipped["row"]["rows_written"] > 0
    # No row twice: one metrics row per tick.
    dup = con.execute(
        f"SELECT count(*) - count(DISTINCT ts) FROM read_parquet('{shipped['root']}/metrics/*/*/*.parquet')"
    ).fetchone()[0]
    assert dup == 0


def test_types_and_pyarrow_read(s3, shipped):
    con = s3_duckdb.connect(s3)
    types = dict(con.execute(
        f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('{shipped['root']}/metrics/*/*/*.parquet', hive_partitioning := true))"
    ).fetchall())
    assert types["ts"] == "TIMESTAMP WITH TIME ZONE" and types["mem_total_bytes"] == "UBIGINT"
    assert types["host"] == "VARCHAR" and types["date"] == "DATE"
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(access_key=s3.client_key_id, secret_key=s3.client_secret, region=s3.region,
                           endpoint_override=s3.host_port, scheme="http")
    part = ds.partitioning(pa.schema([("host", pa.string()), ("date", pa.date32())]), flavor="hive")
    t = ds.dataset(f"{s3.bucket}/e2e/metrics", filesystem=fs, format="parquet", partitioning=part).to_table()
    want = con.execute(f"SELECT count(*), epoch_us(min(ts)), epoch_us(max(ts)) FROM read_parquet('{shipped['root']}/metrics/*/*/*.parquet')").fetchone()
    ts = t.column("ts").cast(pa.int64()).to_pylist()
    assert (t.num_rows, min(ts), max(ts)) == want
    assert t.schema.field("mem_total_bytes").type == pa.uint64()
