#!/usr/bin/env python3
"""Latency of sysmon's table functions in DuckDB, against `SELECT 1` in the same connection.

Usage: bench_sql.py --extension build/release/sysmon.duckdb_extension [--runs 300]

Prints the median and p90 wall time of each query (execute + fetchall) and its ratio to the
baseline `SELECT 1` measured in the same run, same connection.
"""

import argparse
import statistics
import time

import duckdb


def measure(con, sql, runs):
    for _ in range(10):
        con.execute(sql).fetchall()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--extension", required=True)
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{args.extension}'")
    print(f"duckdb {duckdb.__version__}, {args.runs} runs each, median / p90 of execute+fetchall")
    base, base90 = measure(con, "SELECT 1", args.runs)
    print(f"  {'SELECT 1 (baseline)':<48} {base * 1e6:>9.1f} us {base90 * 1e6:>9.1f} us   1.00x")
    # count(*) measures collection and DuckDB's scan alone; SELECT * adds Python's
    # conversion of every column into Python objects (most of its cost for wide rows).
    queries = [
        "SELECT count(*) FROM system_metrics()",
        "SELECT * FROM system_metrics()",
        "SELECT count(*) FROM system_cpus()",
        "SELECT * FROM system_cpus()",
        "SELECT * FROM system_info()",
    ]
    # Every other live table the extension registers, so a new table is measured too.
    listed = {q.split("FROM ")[1].split("(")[0] for q in queries}
    for (fn,) in con.execute(
        "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_name LIKE 'system\\_%' ESCAPE '\\' "
        "ORDER BY function_name"
    ).fetchall():
        if fn not in listed:
            queries.append(f"SELECT count(*) FROM {fn}()")
    for q in queries:
        med, p90 = measure(con, q, args.runs)
        print(f"  {q:<48} {med * 1e6:>9.1f} us {p90 * 1e6:>9.1f} us {med / base:>6.2f}x")


if __name__ == "__main__":
    main()
