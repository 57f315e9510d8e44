#!/usr/bin/env python3
"""`make stress`: one recorder at 10 ms plus 8 threads, each with its own connection, querying
every live table for STRESS_SECONDS (default 60) in rounds of about 15 s (fresh threads and
connections each round). Fails on any query error, on a recorder that missed 1% or more of its
ticks (STRESS_MAX_MISSED_PCT) or reported an error, and (by its exit status) on a crash. Prints
the recorder alone first (same run, same machine load), then per round: queries, errors, the
recorder's ticks, resident memory, glibc's heap in use, threads, descriptors, and how long the
sampling thread waited for a CPU.

`--trim` calls malloc_trim(0) after each round and prints the memory after it too, which tells
allocator caching (memory that malloc_trim gives back) from a leak (heap in use that grows).
"""

import argparse
import gc
import os
import shutil
import sys
import tempfile
import threading
import time

import duckdb

import procstat

# Beside every live table (taken from the extension's own catalog in main): a short window, and
# the recorder list.
QUERIES = [
    """SELECT * FROM system_metrics("window" := INTERVAL '50 milliseconds')""",
    "SELECT * FROM recordings()",
]


class Worker(threading.Thread):
    def __init__(self, db, index, deadline):
        super().__init__(name=f"stress-{index}")
        self.db, self.index, self.deadline = db, index, deadline
        self.queries = 0
        self.errors = []

    def run(self):
        con = self.db.cursor()  # a connection of its own to the same database
        i = self.index
        try:
            while time.monotonic() < self.deadline:
                sql = QUERIES[i % len(QUERIES)]
                i += 1
                try:
                    con.execute(sql).fetchall()
                    self.queries += 1
                except Exception as e:  # a query error, or anything else that would end the thread
                    self.errors.append(f"{sql}: {type(e).__name__}: {e}")
        finally:
            con.close()


def sampler_sched(name, before, ticks):
    """The sampling thread's scheduling since `before`: a line, and the new reading."""
    now = procstat.thread_sched(name)
    if now is None or before is None:
        return "sampler thread not found", now
    run, wait, vol, invol = (a - b for a, b in zip(now, before))
    per = max(1, ticks)
    return (
        f"sampler: {1e6 * run / per:.0f} us CPU and {1e6 * wait / per:.0f} us waiting for a CPU per tick,"
        f" {invol:,} preemptions, {vol:,} sleeps"
    ), now


def recorder_row(db, rid):
    return procstat.row(db.execute("SELECT * FROM recordings() WHERE id = ?", [rid]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extension", required=True)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("STRESS_SECONDS", "60")))
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--round-seconds", type=float, default=15.0)
    ap.add_argument("--interval-ms", type=int, default=10)
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument(
        "--max-missed-pct",
        type=float,
        default=float(os.environ.get("STRESS_MAX_MISSED_PCT", "1")),
        help="fail when the recorder misses this share of its ticks or more (default 1)",
    )
    ap.add_argument("--trim", action="store_true", help="malloc_trim(0) after each round")
    ap.add_argument("--only", help="comma-separated words: run only the queries that contain one (investigation)")
    args = ap.parse_args()

    rounds = max(1, round(args.seconds / args.round_seconds))
    per_round = args.seconds / rounds
    print(
        f"== stress: DuckDB {duckdb.__version__}, {args.threads} threads x {rounds} round(s) of {per_round:.0f} s,"
        f" recorder at {args.interval_ms} ms, {os.cpu_count()} CPUs, MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}"
        f"{', malloc_trim after each round' if args.trim else ''}"
    )
    db = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    db.execute(f"LOAD '{os.path.abspath(args.extension)}'")
    QUERIES[:0] = [f"SELECT * FROM {t}()" for t in procstat.live_tables(db)]
    if args.only:
        QUERIES[:] = [q for q in QUERIES if any(w in q for w in args.only.split(","))]
    out = tempfile.mkdtemp(prefix="sysmon-stress-")
    failures = []
    try:
        rid = db.execute(
            f"SELECT id FROM record_metrics(?, INTERVAL '{args.interval_ms} milliseconds')", [out]
        ).fetchone()[0]
        gc.collect()
        print(
            f"start:    RSS {procstat.mb(procstat.rss_bytes())}, heap in use {procstat.mb(procstat.heap_in_use())},"
            f" threads {procstat.threads()}, fds {procstat.fds()}"
        )
        # The same recorder with no query running, measured in the same run: what the machine
        # alone (other load included) costs in missed ticks.
        sampler = f"sysmon-rec{rid}-s"
        before = recorder_row(db, rid)
        sched = procstat.thread_sched(sampler)
        time.sleep(args.baseline_seconds)
        rec = recorder_row(db, rid)
        taken = rec["samples_taken"] - before["samples_taken"]
        missed = rec["samples_missed"] - before["samples_missed"]
        sched_line, sched = sampler_sched(sampler, sched, taken)
        print(
            f"alone:    {args.baseline_seconds:4.1f} s, recorder only: ticks {taken:,} taken / {missed:,} missed"
            f" ({missed / max(1, taken + missed):.2%}); {sched_line}; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        total_q = 0
        total_err = []
        before = rec
        base_taken, base_missed = rec["samples_taken"], rec["samples_missed"]
        for r in range(1, rounds + 1):
            t0 = time.monotonic()
            workers = [Worker(db, i, t0 + per_round) for i in range(args.threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            took = time.monotonic() - t0
            q = sum(w.queries for w in workers)
            errs = [e for w in workers for e in w.errors]
            total_q += q
            total_err += errs
            rec = recorder_row(db, rid)
            taken = rec["samples_taken"] - before["samples_taken"]
            missed = rec["samples_missed"] - before["samples_missed"]
            before = rec
            sched_line, sched = sampler_sched(sampler, sched, taken)
            gc.collect()
            line = (
                f"round {r}: {took:5.1f} s, {q:7,} queries ({q / took:6.0f}/s), {len(errs)} errors,"
                f" ticks {taken:,} taken / {missed:,} missed, RSS {procstat.mb(procstat.rss_bytes())},"
                f" heap in use {procstat.mb(procstat.heap_in_use())}, threads {procstat.threads()}, fds {procstat.fds()};"
                f" {sched_line}"
            )
            if args.trim:
                procstat.malloc_trim()
                line += f"; after malloc_trim RSS {procstat.mb(procstat.rss_bytes())}"
            print(line, flush=True)
        final = db.execute("SELECT * FROM stop_recording(?)", [rid])
        names = [d[0] for d in final.description]
        final = dict(zip(names, final.fetchone()))
        # The rounds only: the ticks of the baseline are not the stress's.
        taken = final["samples_taken"] - base_taken
        missed = final["samples_missed"] - base_missed
        ratio = missed / max(1, taken + missed)
        print(
            f"total:    {total_q:,} queries, {len(total_err)} errors; recorder during the rounds {taken:,} ticks taken,"
            f" {missed:,} missed ({ratio:.2%}), {final['rows_written']:,} rows in {final['files_written']:,} files,"
            f" {final['cpu_seconds']:.1f} s CPU, state {final['state']}, last_error {final['last_error']!r}"
        )
        if total_err:
            failures.append(f"{len(total_err)} query errors, the first: {total_err[0]}")
        if 100 * ratio >= args.max_missed_pct:
            failures.append(f"the recorder missed {ratio:.2%} of its ticks (limit {args.max_missed_pct:g}%)")
        if final["last_error"] is not None or final["state"] != "stopped":
            failures.append(f"the recorder ended {final['state']} with last_error {final['last_error']!r}")
        if total_q == 0:
            failures.append("no query ran")
    finally:
        db.close()
        shutil.rmtree(out, ignore_errors=True)
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
