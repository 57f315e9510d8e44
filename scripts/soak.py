#!/usr/bin/env python3
"""`make soak MINUTES=N`: a recorder of the default tables plus `processes` at 10 ms (processes
and filesystems at `--process-interval-ms`, default 100), and one thread that queries every
live table once a second, for N minutes. Every 10 s it prints resident memory, glibc's heap in
use, the process's CPU use over those 10 s and the recorder's state.

It fails when, after the warm-up (the first third of the run, at least 20 s and at most
2 minutes), resident memory rises more than `--bound-mb` (default 16 MB) above the highest
value seen during the warm-up, or when the recorder stops or reports an error, or a live query
fails. Missed ticks are printed, not judged: a process snapshot (several ms) runs on the
sampling thread, so at a 10 ms interval the tick after each one is late (`make stress` judges
ticks, with the recorder's default tables).
"""

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

import duckdb

import procstat

REPORT_EVERY = 10.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extension", required=True)
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("MINUTES", "10")))
    ap.add_argument("--interval-ms", type=int, default=10)
    ap.add_argument("--process-interval-ms", type=int, default=100)
    ap.add_argument("--bound-mb", type=float, default=16.0)
    args = ap.parse_args()

    seconds = args.minutes * 60
    warmup = min(120.0, max(20.0, seconds / 3))
    db = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    db.execute(f"LOAD '{os.path.abspath(args.extension)}'")
    tables = procstat.default_recorded_tables(db) + ["processes"]
    live_tables = procstat.live_tables(db)
    print(
        f"== soak: DuckDB {duckdb.__version__}, {args.minutes:g} min, recorder at {args.interval_ms} ms"
        f" (processes/filesystems at {args.process_interval_ms} ms) of {', '.join(tables)},"
        f" live queries once a second; warm-up {warmup:.0f} s, bound +{args.bound_mb:g} MB RSS after it"
    )
    out = tempfile.mkdtemp(prefix="sysmon-soak-")
    failures = []
    stop = threading.Event()
    live_errors = []
    live_queries = [0]

    def live():
        con = db.cursor()
        try:
            while not stop.is_set():
                for t in live_tables:
                    try:
                        con.execute(f"SELECT * FROM {t}()").fetchall()
                        live_queries[0] += 1
                    except duckdb.Error as e:
                        live_errors.append(f"{t}: {e}")
                stop.wait(1.0)
        finally:
            con.close()

    try:
        rid = db.execute(
            f"SELECT id FROM record_metrics(?, INTERVAL '{args.interval_ms} milliseconds', tables := {tables!r},"
            f" process_interval := INTERVAL '{args.process_interval_ms} milliseconds')",
            [out],
        ).fetchone()[0]
        querier = threading.Thread(target=live, name="soak-live")
        querier.start()
        t0 = time.monotonic()
        cpu0, last_t, last_cpu = procstat.cpu_seconds(), t0, procstat.cpu_seconds()
        warm_peak = 0
        after_peak = 0
        next_report = t0 + REPORT_EVERY
        while True:
            now = time.monotonic()
            if now < next_report:
                time.sleep(min(next_report - now, 1.0))
                continue
            next_report += REPORT_EVERY
            rss, cpu = procstat.rss_bytes(), procstat.cpu_seconds()
            rec = procstat.row(db.execute("SELECT * FROM recordings() WHERE id = ?", [rid]))
            elapsed = now - t0
            warming = elapsed < warmup + REPORT_EVERY / 2
            phase = "warm-up" if warming else "steady"
            if warming:
                warm_peak = max(warm_peak, rss)
            else:
                after_peak = max(after_peak, rss)
            cpu_pct = 100 * (cpu - last_cpu) / (now - last_t)
            last_t, last_cpu = now, cpu
            print(
                f"{elapsed:6.0f} s {phase:7}  RSS {procstat.mb(rss):>9}  heap in use {procstat.mb(procstat.heap_in_use()):>9}"
                f"  CPU {cpu_pct:5.1f}% of a core  recorder: {rec['samples_taken']:,} ticks,"
                f" {rec['samples_missed']:,} missed, {rec['files_written']:,} files, {rec['cpu_seconds']:.1f} s CPU"
                f"  live queries {live_queries[0]:,}",
                flush=True,
            )
            if rec["state"] != "running":
                failures.append(f"the recorder is {rec['state']}: {rec['last_error']}")
                break
            if elapsed >= seconds:
                break
        stop.set()
        querier.join()
        final = procstat.row(db.execute("SELECT * FROM stop_recording(?)", [rid]))
        total = time.monotonic() - t0
        taken, missed = final["samples_taken"], final["samples_missed"]
        ratio = missed / max(1, taken + missed)
        growth = (after_peak - warm_peak) / 1e6 if after_peak else 0.0
        print(
            f"total: {total:.0f} s, process CPU {100 * (procstat.cpu_seconds() - cpu0) / total:.1f}% of a core,"
            f" recorder {final['cpu_seconds']:.1f} s CPU ({100 * final['cpu_seconds'] / total:.1f}%),"
            f" {taken:,} ticks, {missed:,} missed ({ratio:.2%}), {final['rows_written']:,} rows,"
            f" {final['files_written']:,} files, {final['bytes_written'] / 1e6:.1f} MB written;"
            f" RSS warm-up peak {procstat.mb(warm_peak)}, later peak {procstat.mb(after_peak or None)}"
            f" ({growth:+.1f} MB, bound +{args.bound_mb:g} MB); {live_queries[0]:,} live queries, {len(live_errors)} errors"
        )
        if growth > args.bound_mb:
            failures.append(f"resident memory grew {growth:.1f} MB after the warm-up (bound {args.bound_mb:g} MB)")
        if final["last_error"] is not None:
            failures.append(f"the recorder reported: {final['last_error']}")
        if live_errors:
            failures.append(f"{len(live_errors)} live query errors, the first: {live_errors[0]}")
    finally:
        stop.set()
        db.close()
        shutil.rmtree(out, ignore_errors=True)
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
