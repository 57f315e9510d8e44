"""Helpers for the recorder's end-to-end tests (kept out of conftest.py on purpose)."""

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb

EXT = os.environ.get("SYSMON_EXTENSION", "")
VERSION = tuple(int(x) for x in duckdb.__version__.split(".")[:3] if x.isdigit())
# DuckDB versions whose C API lets sysmon read enable_external_access (see src/lockdown.rs).
SEES_LOCKDOWN = VERSION >= (1, 5, 6)


def connect(database=":memory:"):
    if not EXT:
        raise RuntimeError("set SYSMON_EXTENSION to the built extension")
    con = duckdb.connect(database, config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXT}'")
    return con


def start(con, d, interval="50 milliseconds", **named):
    args = "".join(f", {k} := {v}" for k, v in named.items())
    row = con.execute(
        f"SELECT id, dir FROM record_metrics(?, INTERVAL '{interval}'{args})", [str(d)]
    ).fetchall()[0]
    return row[0]


def stop(con, rid):
    cur = con.execute("SELECT * FROM stop_recording(?)", [rid])
    cols = [c[0] for c in cur.description]
    cur.fetchall()
    row = con.execute("SELECT * FROM recordings() WHERE id = ?", [rid]).fetchall()[0]
    return dict(zip(cols, row))


def status(con, rid):
    cur = con.execute("SELECT * FROM recordings() WHERE id = ?", [rid])
    cols = [c[0] for c in cur.description]
    rows = cur.fetchall()
    return dict(zip(cols, rows[0])) if rows else None


def parquet_files(d, table="metrics"):
    return sorted(glob.glob(os.path.join(str(d), table, "**", "*.parquet"), recursive=True))


def read_ts(con, d, table="metrics"):
    """All `ts` of a table's files, as microseconds, sorted."""
    if not parquet_files(d, table):
        return []
    rows = con.execute(
        f"SELECT epoch_us(ts) FROM read_parquet('{d}/{table}/**/*.parquet', hive_partitioning := true) ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def wait_for(pred, timeout=15.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def child(code, env=None, **kw):
    """Starts a Python child that has `con` (extension loaded), `d` and `time` in scope."""
    prelude = textwrap.dedent(
        f"""
        import duckdb, os, sys, time
        con = duckdb.connect(config={{'allow_unsigned_extensions': 'true'}})
        con.execute("LOAD '{EXT}'")
        """
    )
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def missing_slots(ts, interval_us):
    """The interval slots between the first and the last of the sorted `ts` that hold no row.
    A recorder that skips a slot (a tick served late, on a loaded machine) counts it in
    `samples_missed`, so on continuous data this is at most the missed ticks counted."""
    return sum(b // interval_us - a // interval_us - 1 for a, b in zip(ts, ts[1:]) if b // interval_us > a // interval_us)


# Child code (see `reporting_child`) that reports its recorder's counters instead of sleeping: one line
# "<time before the query> <samples_taken> <samples_missed>" every 20 ms.
REPORTING = """
while True:
    at = time.time()
    print(at, *con.execute("SELECT samples_taken, samples_missed FROM recordings()").fetchone(), flush=True)
    time.sleep(0.02)
"""


def reporting_child(code, env=None, **kw):
    """`child` running `code` (which starts a recorder), then REPORTING."""
    return child(textwrap.dedent(code) + REPORTING, env=env, **kw)


def parse_report(line):
    """(time, samples_taken, samples_missed) of a REPORTING line, None for anything else."""
    parts = line.split()
    if len(parts) != 3:
        return None
    return float(parts[0]), int(parts[1]), int(parts[2])


def await_samples(p, n, timeout=60.0):
    """Reads a REPORTING child's lines until its recorder has taken `n` samples."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            raise AssertionError(f"the child ended: {p.stderr.read()}")
        r = parse_report(line)
        if r and r[1] >= n:
            return r
    raise AssertionError(f"the child's recorder took fewer than {n} samples in {timeout} s")


def kill_reporting(p, last):
    """SIGKILLs a REPORTING child: (the time of the kill, its last report). The report is the
    last line it wrote before it died, read from the pipe after the kill (`last`, the latest
    one read before, when it wrote none since)."""
    os.kill(p.pid, signal.SIGKILL)
    killed_at = time.time()
    out, _ = p.communicate()
    reports = [r for r in map(parse_report, out.splitlines()) if r]
    return killed_at, reports[-1] if reports else last
