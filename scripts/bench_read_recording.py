#!/usr/bin/env python3
"""read_recording against read_parquet over the same recorded day (`make bench`, issue 20).

The day is the fleet simulation's generator's (`cargo run --release -p sysmon-testkit --example
fleet_day -- DIR --hosts 1 --history 0`): one host's day of `metrics` at 1 Hz, written by the
recorder's own writer in the recorder's layout. Each query runs through both readers in
interleaved rounds (A B A B ...), and the medians are compared; the baseline is
`read_parquet('<dir>/metrics/**/*.parquet', hive_partitioning := true)` in the same DuckDB:

* a per-minute aggregate of one column over the day;
* `SELECT *` of one hour: read_parquet with a WHERE on `ts` (its filter pushdown prunes row
  groups), read_recording with `since :=`/`until :=` (its pruning; the C API has no filter
  pushdown), and read_recording with the same WHERE alone (DuckDB filters above the scan).
"""

import argparse
import glob
import os
import statistics
import time

import duckdb


def median_ms(samples):
    return statistics.median(samples) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--extension", required=True)
    ap.add_argument("--dir", required=True, help="a recording folder holding one recorded day of metrics")
    ap.add_argument("--rounds", type=int, default=15)
    a = ap.parse_args()
    files = glob.glob(os.path.join(a.dir, "metrics", "**", "*.parquet"), recursive=True)
    if not files:
        raise SystemExit(f"no recorded metrics under {a.dir}")
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{os.path.abspath(a.extension)}'")
    pq = f"read_parquet('{a.dir}/metrics/**/*.parquet', hive_partitioning := true)"
    rr = f"read_recording('{a.dir}', 'metrics')"
    rows, first, last = con.execute(f"SELECT count(*), min(ts), max(ts) FROM {pq}").fetchone()
    hour_from = con.execute(f"SELECT min(ts) + INTERVAL 12 HOUR FROM {pq}").fetchone()[0]
    lo = f"TIMESTAMPTZ '{hour_from.isoformat()}'"
    hi = f"TIMESTAMPTZ '{hour_from.isoformat()}' + INTERVAL 1 HOUR"
    minute = "SELECT time_bucket(INTERVAL 1 MINUTE, ts) AS minute, avg(cpu_busy_pct) FROM {src} GROUP BY ALL ORDER BY minute"
    hour = "SELECT * FROM {src}{where}"
    where = f" WHERE ts >= {lo} AND ts < {hi}"
    rr_hour = f"read_recording('{a.dir}', 'metrics', since := {lo}, until := {hi})"
    cases = [
        ("per-minute avg of one column, the day", minute.format(src=pq), minute.format(src=rr)),
        ("SELECT * of one hour (since/until)", hour.format(src=pq, where=where), hour.format(src=rr_hour, where="")),
        ("SELECT * of one hour (WHERE only)", hour.format(src=pq, where=where), hour.format(src=rr, where=where)),
    ]
    print(f"== read_recording against read_parquet (baseline), one recorded day: {rows} rows of metrics, "
          f"{len(files)} file(s), {first} .. {last}; DuckDB {duckdb.__version__}, {a.rounds} interleaved rounds, medians")
    for name, base_sql, cand_sql in cases:
        b_rows = con.execute(base_sql).fetchall()
        c_rows = con.execute(cand_sql).fetchall()
        # The same answer (host and date are columns of both; the row order of SELECT * may differ).
        assert len(b_rows) == len(c_rows), (name, len(b_rows), len(c_rows))
        base, cand = [], []
        for _ in range(a.rounds):
            for sql, out in ((base_sql, base), (cand_sql, cand)):
                t = time.perf_counter()
                con.execute(sql).fetchall()
                out.append(time.perf_counter() - t)
        b, c = median_ms(base), median_ms(cand)
        print(f"  {name:<42} read_parquet {b:7.2f} ms   read_recording {c:7.2f} ms   {c / b:.2f}x  ({len(c_rows)} rows)")


if __name__ == "__main__":
    main()
