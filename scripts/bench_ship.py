#!/usr/bin/env python3
"""Shipping cost (issue 9): CPU per sample of a recorder writing to S3 (spool + shipper) next to
a local recorder, measured in the same run, plus requests and bytes uploaded.

Method as core/benches/recorder.rs: each recorder runs in a process of its own (the default
host tables at 1 Hz), both started together; after a warm-up, the `schedstat` run time of the
recorder's threads (`sysmon-rec<id>-s`, `-w`, and the shipper `-u`) is read over N samples.
The S3 side uploads to a local moto_server (127.0.0.1, free port) every --upload-interval
(default 10 s, so the window holds several uploads; the per-sample cost of an upload at the
default 5 minutes is this run's upload cost spread over 30 times more samples).

    SYSMON_EXTENSION=build/release/sysmon.duckdb_extension .venv/bin/python scripts/bench_ship.py
"""

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

CHILD = r"""
import duckdb, glob, json, os, sys, time
ext, dest, extra, warm, n = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})
con.execute(f"LOAD '{ext}'")
con.execute(f"SELECT * FROM record_metrics('{dest}', INTERVAL 1 SECOND{extra})").fetchall()
def cpu():
    total = 0
    for t in glob.glob(f"/proc/{os.getpid()}/task/*"):
        try:
            name = open(t + "/comm").read().strip()
            if name.startswith("sysmon-rec"):
                total += int(open(t + "/schedstat").read().split()[0])
        except OSError:
            pass
    return total
def row():
    cur = con.execute("SELECT samples_taken, rows_written, objects_uploaded, bytes_uploaded FROM recordings()")
    return cur.fetchall()[0]
time.sleep(warm)
c0, r0 = cpu(), row()
time.sleep(n)
c1, r1 = cpu(), row()
print(json.dumps({"cpu_ns": c1 - c0, "samples": r1[0] - r0[0], "rows": r1[1] - r0[1],
                  "objects": (r1[2] or 0) - (r0[2] or 0), "bytes": (r1[3] or 0) - (r0[3] or 0)}))
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--warm", type=float, default=12)
    ap.add_argument("--upload-interval", type=int, default=10)
    a = ap.parse_args()
    ext = os.path.abspath(os.environ.get("SYSMON_EXTENSION", "build/release/sysmon.duckdb_extension"))
    moto = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
    import boto3

    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret", AWS_REGION="us-east-1")
    srv = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    tmp = tempfile.mkdtemp(prefix="sysmon-bench-ship-")
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        ep = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=ep, aws_access_key_id="bench", aws_secret_access_key="bench-secret", region_name="us-east-1").create_bucket(Bucket="bench")
        runs = {
            "local": (os.path.join(tmp, "local"), ""),
            "s3": ("s3://bench/fleet", f", endpoint := '{ep}', spool := '{tmp}/spool', upload_interval := INTERVAL {a.upload_interval} SECONDS"),
        }
        procs = {
            k: subprocess.Popen([sys.executable, "-c", CHILD, ext, d, extra, str(a.warm), str(a.samples)], stdout=subprocess.PIPE, text=True, env=env)
            for k, (d, extra) in runs.items()
        }
        res = {k: json.loads(p.communicate()[0]) for k, p in procs.items()}
    finally:
        srv.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    loc, s3 = res["local"], res["s3"]
    us = lambda r: r["cpu_ns"] / 1e3 / max(r["samples"], 1)
    per_upload_us = (s3["cpu_ns"] - loc["cpu_ns"] * s3["samples"] / max(loc["samples"], 1)) / 1e3 / max(s3["objects"] / 8, 1)
    print(f"local recorder: {us(loc):.0f} us/sample ({loc['samples']} samples)")
    print(f"s3 recorder (spool + shipper, upload every {a.upload_interval} s): {us(s3):.0f} us/sample, {us(s3) / us(loc):.2f}x local")
    print(f"  objects uploaded {s3['objects']}, {s3['bytes']} bytes in {s3['samples']} samples ({s3['bytes'] / max(s3['samples'], 1) * 3600:.0f} bytes per host-hour as parts)")
    print(f"  extra CPU per upload of the 8 tables: {per_upload_us:.0f} us; at the default 5 min: {per_upload_us / 300:.1f} us/sample")


if __name__ == "__main__":
    main()
