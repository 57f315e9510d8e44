#!/usr/bin/env python3
"""Fleet simulation (`make fleet-sim`): the recordings of many hosts in a local S3 server,
queried by DuckDB over S3, for the shipped layout and alternatives.

1. `fleet_day` (crates/testkit/examples/fleet_day.rs) writes, with the recorder's own writer, N hosts x one
   finished day of `metrics` at 1 Hz (86,400 rows each, the recorder benchmark's synthetic day:
   a real sample of this machine evolved second by second, one seed per host) plus K earlier days
   of one hour each per host (there so that listing costs what it costs after a week).
2. moto_server (test/python/s3_server.py) on 127.0.0.1; the same files are uploaded under one
   prefix per layout: `host/date` (what the recorder and its shipper write:
   `<table>/host=<h>/date=<d>/`), `date/host` (`<table>/date=<d>/host=<h>/`), and `host/date, 1 h
   row groups` (the shipped layout, every file written with row groups of 3,600 rows instead of
   the recorder's 128 Ki rows, which make a whole day one row group).
3. Three fleet queries, each on a fresh DuckDB 1.4.4 + httpfs connection (nothing cached), with
   DuckDB's HTTP log on: the per-host average of the last hour of the day, the ten busiest hosts
   of the day, one host's whole day. Each query in two forms: a generic glob
   (`metrics/*/*/*.parquet` + WHERE on the partition columns) and the partition written into the
   path where the layout allows it. Reported: best wall time of --runs runs, LIST requests,
   objects listed, GET requests, objects read and bytes fetched (object bodies).
The results of every form and layout must agree (checked); the table is printed as Markdown and
written to target/fleet-sim/results.json.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "test", "python"), os.path.join(ROOT, "test", "python", "fleet")]

import duckdb  # noqa: E402

import s3_duckdb  # noqa: E402
from s3_server import S3Server  # noqa: E402

LAYOUTS = {
    "host/date": lambda host, date: f"host={host}/date={date}",
    "date/host": lambda host, date: f"date={date}/host={host}",
    "host/date, 1 h row groups": lambda host, date: f"host={host}/date={date}",
}
VARIANT = "host/date, 1 h row groups"
VARIANT_ROWS = 3600


def generate(binary, out, hosts, history):
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary} is missing: run `cargo build --release -p sysmon-testkit --example fleet_day` (or `make fleet-sim`)")
    t = time.perf_counter()
    res = subprocess.run([binary, out, "--hosts", str(hosts), "--history", str(history),
                          "--variant", os.path.join(out, "variant"), str(VARIANT_ROWS)],
                         check=True, capture_output=True, text=True)
    day = next(line.split()[1] for line in res.stdout.splitlines() if line.startswith("DAY "))
    print(res.stdout.splitlines()[-1], f"(wall {time.perf_counter() - t:.1f} s)", flush=True)
    return day


def local_files(out):
    """(host, date, name, path) of every generated file."""
    files = []
    base = os.path.join(out, "metrics")
    for h in sorted(os.listdir(base)):
        for d in sorted(os.listdir(os.path.join(base, h))):
            for name in sorted(os.listdir(os.path.join(base, h, d))):
                files.append((h.removeprefix("host="), d.removeprefix("date="), name, os.path.join(base, h, d, name)))
    return files


def prefix_of(layout):
    return {"host/date": "host-date", "date/host": "date-host", VARIANT: "host-date-rg"}[layout]


def upload(s3, files, layout):
    client = s3.client()
    keys = [f"{prefix_of(layout)}/metrics/{LAYOUTS[layout](h, d)}/{name}" for h, d, name, _ in files]
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kp: client.upload_file(kp[1], s3.bucket, kp[0]), zip(keys, (f[3] for f in files))))
    return keys, time.perf_counter() - t


def delete(s3, keys):
    client = s3.client()
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=s3.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})


def queries(bucket, layout, day, host):
    """name -> [(form, sql)] for one layout."""
    root = f"s3://{bucket}/{prefix_of(layout)}/metrics"
    layout = "date/host" if layout == "date/host" else "host/date"
    src = f"read_parquet('{root}/{{glob}}', hive_partitioning := true)"
    generic = src.format(glob="*/*/*.parquet")
    by_day = src.format(glob=("*/date=" + day + "/*.parquet") if layout == "host/date" else f"date={day}/*/*.parquet")
    by_host = src.format(glob=f"host={host}/*/*.parquet" if layout == "host/date" else f"*/host={host}/*.parquet")
    one = src.format(glob=f"host={host}/date={day}/*.parquet" if layout == "host/date" else f"date={day}/host={host}/*.parquet")
    last_hour = (f"SELECT host, avg(cpu_busy_pct) AS cpu_busy_pct, avg(mem_used_bytes) AS mem_used_bytes "
                 f"FROM {{src}} WHERE date = DATE '{day}' AND ts >= TIMESTAMPTZ '{day} 23:00:00+00' "
                 f"GROUP BY host ORDER BY host")
    busiest = (f"SELECT host, avg(cpu_busy_pct) AS cpu_busy_pct FROM {{src}} WHERE date = DATE '{day}' "
               f"GROUP BY host ORDER BY cpu_busy_pct DESC, host LIMIT 10")
    whole = (f"SELECT * FROM {{src}} WHERE host = '{host}' AND date = DATE '{day}' ORDER BY ts")
    return {
        "per-host avg, last hour": [("glob", last_hour.format(src=generic)), ("path", last_hour.format(src=by_day))],
        "ten busiest hosts, day": [("glob", busiest.format(src=generic)), ("path", busiest.format(src=by_day))],
        "one host, whole day": [("glob", whole.format(src=generic)), ("path", whole.format(src=one)),
                                ("path host only", whole.format(src=by_host))],
    }


def run(s3, sql, keys, runs):
    best, stats, result = float("inf"), None, None
    for _ in range(runs):
        con = s3_duckdb.connect(s3, log_http=True)
        t = time.perf_counter()
        tbl = con.execute(sql).fetch_arrow_table()
        took = time.perf_counter() - t
        if took < best:
            best = took
            stats = s3_duckdb.summarize(s3_duckdb.http_requests(con), s3.bucket, keys)
        result = tbl
        con.close()
    return best, stats, result


def fingerprint(tbl):
    """A comparable digest of a result (every value of every row)."""
    return (tbl.num_rows, tuple(tbl.column_names), hash(tuple(map(tuple, (c.to_pylist() for c in tbl.columns)))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", default=os.path.join(ROOT, "target", "release", "examples", "fleet_day"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "fleet-sim"))
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--history", type=int, default=6)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    started = time.perf_counter()
    print(f"== fleet simulation: {args.hosts} hosts x 1 day at 1 Hz (+{args.history} one-hour days each), "
          f"DuckDB {duckdb.__version__} + httpfs over moto_server", flush=True)
    day = generate(args.generator, args.out, args.hosts, args.history)
    trees = {layout: local_files(os.path.join(args.out, "variant") if layout == VARIANT else args.out) for layout in LAYOUTS}
    files = trees["host/date"]
    host = f"host-{args.hosts // 2:03d}"
    results = {"hosts": args.hosts, "history_days": args.history, "day": day, "objects": len(files),
               "bytes": {layout: sum(os.path.getsize(f[3]) for f in tree) for layout, tree in trees.items()},
               "duckdb": duckdb.__version__, "rows": []}
    answers = {}
    with S3Server(bucket="fleet") as s3:
        for layout in LAYOUTS:
            keys, took = upload(s3, trees[layout], layout)
            size = sum(os.path.getsize(f[3]) for f in trees[layout])
            print(f"-- layout {layout}: {len(keys)} objects, {size / 1e6:.1f} MB uploaded in {took:.1f} s", flush=True)
            for name, forms in queries(s3.bucket, layout, day, host).items():
                for form, sql in forms:
                    best, stats, tbl = run(s3, sql, keys, args.runs)
                    answers.setdefault(name, set()).add(fingerprint(tbl))
                    row = {"layout": layout, "query": name, "form": form, "seconds": best, "rows": tbl.num_rows, **stats}
                    results["rows"].append(row)
                    print(f"   {name:<26} {form:<15} {best * 1e3:8.0f} ms  LIST {stats['list_requests']:>3} "
                          f"listed {stats['objects_listed']:>4}  GET {stats['get_requests']:>4} "
                          f"read {stats['objects_read']:>3}  {stats['bytes_fetched'] / 1e6:8.2f} MB", flush=True)
            delete(s3, keys)
    bad = [name for name, fps in answers.items() if len(fps) != 1]
    if bad:
        raise SystemExit(f"fleet-sim: the layouts or forms disagree on: {', '.join(bad)}")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nEvery query gave the same answer in every layout and form. {len(files)} objects per layout, "
          + ", ".join(f"{k}: {v / 1e6:.0f} MB" for k, v in results["bytes"].items()) + f"; day {day}; one host = {host}.\n")
    print("| query | layout | form | time (best of %d) | LIST requests | objects listed | GET requests | objects read | bytes fetched |" % args.runs)
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results["rows"]:
        print(f"| {r['query']} | `{r['layout']}` | {r['form']} | {r['seconds'] * 1e3:.0f} ms | {r['list_requests']} | "
              f"{r['objects_listed']} | {r['get_requests']} | {r['objects_read']} | {r['bytes_fetched'] / 1e6:.2f} MB |")
    print(f"\nfleet-sim took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
