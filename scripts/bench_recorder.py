#!/usr/bin/env python3
"""Recorder benchmark, DuckDB side (`make bench`): the synthetic day of `metrics` at 1 Hz that
`cargo bench --bench recorder` wrote with sysmon's writer, against DuckDB's own
`COPY ... (FORMAT parquet, COMPRESSION zstd)` of the same rows (and with PARQUET_VERSION v2),
and pyarrow's defaults when pyarrow is installed: bytes per value, and the time of a
per-minute aggregate query over the day on each file.
"""

import argparse
import os
import time

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY = os.path.join(ROOT, "target", "sysmon-bench", "metrics-day.parquet")
QUERY = """
SELECT time_bucket(INTERVAL 1 MINUTE, ts) AS minute,
       avg(cpu_busy_pct) AS cpu_busy_pct, max(mem_used_bytes) AS mem_used_bytes,
       max(load_1m) AS load_1m
FROM read_parquet('{f}') GROUP BY ALL ORDER BY minute
"""


def timed(con, f, runs=5):
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        con.execute(QUERY.format(f=f)).fetchall()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--extension", help="unused; accepted for symmetry with bench_sql.py")
    ap.parse_args()
    if not os.path.exists(DAY):
        raise SystemExit(f"{DAY} is missing: run `cargo bench -p sysmon-core --bench recorder -- --day-only` first")
    con = duckdb.connect()
    rows, cols = con.execute(f"SELECT count(*), (SELECT count(*) FROM (DESCRIBE SELECT * FROM read_parquet('{DAY}'))) FROM read_parquet('{DAY}')").fetchone()
    values = rows * cols
    out = os.path.dirname(DAY)
    files = {"sysmon writer": DAY}
    copy = os.path.join(out, "duckdb-zstd.parquet")
    con.execute(f"COPY (SELECT * FROM read_parquet('{DAY}')) TO '{copy}' (FORMAT parquet, COMPRESSION zstd)")
    files["DuckDB COPY zstd (baseline)"] = copy
    copy2 = os.path.join(out, "duckdb-zstd-v2.parquet")
    try:
        con.execute(f"COPY (SELECT * FROM read_parquet('{DAY}')) TO '{copy2}' (FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION v2)")
        files["DuckDB COPY zstd, PARQUET_VERSION v2"] = copy2
    except duckdb.Error as e:
        print(f"  (PARQUET_VERSION v2 not supported by DuckDB {duckdb.__version__}: {e})")
    try:
        import pyarrow.parquet as pq

        pa_file = os.path.join(out, "pyarrow-default.parquet")
        pq.write_table(pq.read_table(DAY), pa_file)
        files["pyarrow defaults"] = pa_file
    except ImportError:
        pass
    base = os.path.getsize(copy)
    for f in files.values():
        timed(con, f, runs=1)  # warm the OS cache for every file alike
    # Each query is timed once here; the baseline's own ratio is exactly 1.00x.
    query_ms = {name: timed(con, f) for name, f in files.items()}
    base_q = query_ms["DuckDB COPY zstd (baseline)"]
    print(f"== synthetic day of metrics at 1 Hz: {rows} rows x {cols} columns = {values} values (DuckDB {duckdb.__version__})")
    for name, f in files.items():
        size = os.path.getsize(f)
        q = query_ms[name]
        print(f"  {name:<40} {size:>9} bytes  {size / values:.3f} bytes/value  ({size / base:.2f}x baseline)"
              f"   per-minute query {q * 1e3:6.1f} ms ({q / base_q:.2f}x baseline)")


if __name__ == "__main__":
    main()
