"""Dashboard history from an S3 bucket against the same files on disk, measured in one run.

Writes 7 days of a synthetic `metrics` table at 1 Hz (5 chart columns, one file per day, named as
the recorder names them), uploads them into a local moto server (test/python/s3_server.py), starts
serve_metrics(dir := <local>) and serve_metrics(dir := 's3://...'), and times /api/history over
15 minutes, 24 hours and 7 days (best of 3), printing the bucket/local ratio.

    SYSMON_EXTENSION=build/release/sysmon.duckdb_extension .venv/bin/python scripts/bench_s3_history.py
"""

import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

import duckdb

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "python"))
from s3_server import KEY_ID, SECRET, S3Server  # noqa: E402

EXT = os.environ["SYSMON_EXTENSION"]
HOST = "web-1"
DAY0 = 20400  # days since 1970-01-01
# moto checks no signature by default, but answers requests without this header as anonymous.
AUTH = {"Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"}


def write_days(root):
    g = duckdb.connect()
    for d in range(7):
        start = (DAY0 + d) * 86400
        date = g.execute(f"SELECT strftime(to_timestamp({start}) AT TIME ZONE 'UTC', '%Y-%m-%d')").fetchone()[0]
        folder = f"{root}/metrics/host={HOST}/date={date}"
        os.makedirs(folder)
        first, last = start * 10**6, (start + 86399) * 10**6
        g.execute(
            f"""COPY (SELECT to_timestamp({start} + i) AS ts, (i % 100)::DOUBLE AS cpu_user_pct,
                (i % 50)::DOUBLE AS cpu_system_pct, (i * 1000)::UBIGINT AS mem_used_bytes, (i % 7)::DOUBLE AS load_1m
                FROM range(86400) t(i))
              TO '{folder}/L1-{first}-{last}.parquet' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 3600)"""
        )


def upload(endpoint, root):
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/bench", method="PUT", headers=AUTH))
    total = 0
    headers = dict(AUTH, **{"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "Content-Type": "application/octet-stream"})
    for dp, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dp, f)
            body = open(p, "rb").read()
            total += len(body)
            key = os.path.relpath(p, root)
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/bench/fleet/{key}", data=body, method="PUT", headers=headers))
    return total


def timings(con, dirarg):
    t0 = time.monotonic()
    sid, port, url = con.execute(f"SELECT id, port, url FROM serve_metrics(port := 0, dir := {dirarg})").fetchone()
    out = {"start": time.monotonic() - t0}
    token = url.split("token=")[1]
    end_ms = (DAY0 + 7) * 86400 * 1000
    for label, span in [("15 min", 900_000), ("24 h", 86_400_000), ("7 d", 7 * 86_400_000)]:
        best = float("inf")
        for _ in range(3):
            target = f"http://127.0.0.1:{port}/api/history?table=metrics&host={HOST}&from={end_ms - span}&to={end_ms}&width=1000"
            t0 = time.monotonic()
            with urllib.request.urlopen(urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"})) as r:
                rows = json.loads(r.read())["rows_read"]
            best = min(best, time.monotonic() - t0)
        out[label] = (best, rows)
    con.execute("SELECT * FROM stop_serving(?)", [sid]).fetchall()
    return out


def main():
    os.environ.update({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"})
    root = tempfile.mkdtemp(prefix="sysmon-bench-s3-")
    s = S3Server(bucket=None).start()
    try:
        write_days(root)
        size = upload(s.endpoint, root)
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        con.execute(f"LOAD '{EXT}'")
        local = timings(con, f"'{root}'")
        bucket = timings(con, f"'s3://bench/fleet', endpoint := '{s.endpoint}'")
        print(f"== history from a bucket (moto on 127.0.0.1) vs the same 7 day files on disk ({size / 1e6:.1f} MB)")
        print(f"  start (listing the hosts): local {local['start'] * 1e3:.0f} ms, bucket {bucket['start'] * 1e3:.0f} ms")
        for label in ("15 min", "24 h", "7 d"):
            (lt, rows), (bt, _) = local[label], bucket[label]
            print(f"  /api/history {label:>6}: local {lt * 1e3:6.0f} ms, bucket {bt * 1e3:6.0f} ms ({bt / lt:4.1f}x), {rows} rows")
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
