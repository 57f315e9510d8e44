#!/usr/bin/env python3
"""Two builds of the extension side by side: the latency of each query with each, interleaved.

Usage: bench_compare.py --baseline OLD.duckdb_extension --candidate NEW.duckdb_extension
       [--rounds 7] [--runs 200]

Each round runs every query once per build, in a fresh Python process per build (the order of
the two alternates between rounds), `--runs` times each after a warm-up, and keeps the median;
the table shows, per query, the median over rounds for each build and the ratio candidate /
baseline, with `SELECT 1` and DuckDB's own `range(1)` measured the same way as yardsticks. A
refactor that should change nothing shows ratios near 1.00x; compare only figures of one run.
"""

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time
import duckdb
ext, runs, queries = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute(f"LOAD '{ext}'")
out = {}
for q in queries:
    for _ in range(10):
        con.execute(q).fetchall()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        con.execute(q).fetchall()
        times.append(time.perf_counter() - t)
    out[q] = statistics.median(times)
print(json.dumps(out))
"""

QUERIES = [
    "SELECT 1",
    "SELECT * FROM range(1)",
    "SELECT hostname FROM system_info()",
    "SELECT cpu_busy_pct, mem_used_bytes FROM system_metrics()",
    "SELECT * FROM system_metrics()",
    "SELECT * FROM system_cpus()",
    "SELECT count(*) FROM system_disks()",
    "SELECT count(*) FROM system_networks()",
    "SELECT count(*) FROM system_filesystems()",
    "SELECT count(*) FROM system_processes()",
    "SELECT count(*) FROM system_sockets()",
    "SELECT count(*) FROM system_cgroups()",
    "SELECT * FROM sysmon_functions()",
]


def run(ext, runs, queries):
    p = subprocess.run(
        [sys.executable, "-c", CHILD, ext, str(runs), json.dumps(queries)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if p.returncode != 0:
        raise SystemExit(f"bench_compare: {ext}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--candidate", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    got = {"baseline": [], "candidate": []}
    for r in range(args.rounds):
        order = ["baseline", "candidate"] if r % 2 == 0 else ["candidate", "baseline"]
        for which in order:
            got[which].append(run(getattr(args, which), args.runs, QUERIES))
    print(f"{args.rounds} interleaved rounds, {args.runs} runs per query per round; median of the rounds' medians")
    print(f"  {'query':<58} {'baseline':>10} {'candidate':>10}  ratio")
    for q in QUERIES:
        a = statistics.median(x[q] for x in got["baseline"])
        b = statistics.median(x[q] for x in got["candidate"])
        print(f"  {q:<58} {a * 1e6:>8.1f}us {b * 1e6:>8.1f}us  {b / a:5.2f}x")


if __name__ == "__main__":
    main()
