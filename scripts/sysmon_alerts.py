#!/usr/bin/env python3
"""Runs sysmon alerts as a service: the `alert_metrics(...)` statements of a file, until SIGTERM.

    sysmon_alerts.py /etc/sysmon/alerts.sql [--extension PATH] [--status-every 60]

The `sysmon record` binary has no DuckDB in it (an alert's condition is a SQL query, and
embedding a second DuckDB build would double the binary and the build time, docs/alerts.md),
so alerts run in a DuckDB client: this script. It opens an in-memory DuckDB, loads the
extension and runs every statement of the file in order (`SELECT * FROM alert_metrics(...)`,
and anything else the alerts need first: `SET` statements, a `serve_metrics(token_file := ...)`
so /metrics shows `ALERTS`). A statement that fails stops the start: its error is printed with
the statement's line and the script exits 2 (systemd shows it), having stopped what it started.

While running it prints each change of an alert's state (pending, firing, resolved) and each
new evaluation or delivery error, one line each, to stdout (the journal). On SIGTERM, SIGINT
or SIGHUP it stops every alert (`stop_alert`, whose final rows it prints) and exits 0; the
extension's exit hook then stops servers and recorders with their final flush.
"""

import argparse
import signal
import sys
import time

import duckdb


def load(con, ext):
    con.execute(f"LOAD '{ext}'" if "/" in ext or ext.endswith(".duckdb_extension") else f"LOAD {ext}")


def statements(con, text):
    """The file's statements with the line each starts on."""
    out, line, pos = [], 1, 0
    for stmt in con.extract_statements(text):
        q = stmt.query.strip()
        if not q:
            continue
        at = text.find(q[:40], pos)
        if at >= 0:
            line = text.count("\n", 0, at) + 1
            pos = at + len(q)
        out.append((line, stmt))
    return out


def snapshot(con):
    cur = con.execute(
        "SELECT name, coalesce(labels, '') AS labels, state, last_error, last_delivery_error FROM alerts()"
    )
    return {(r[0], r[1]): r[2:] for r in cur.fetchall()}


def stop_all(con):
    names = [r[0] for r in con.execute("SELECT DISTINCT name FROM alerts()").fetchall()]
    for name in names:
        cur = con.execute("SELECT name, state, evaluations, evaluations_failed, notifications_sent, "
                          "notifications_dropped FROM stop_alert(?)", [name])
        for r in cur.fetchall():
            print(f"sysmon: stopped {r[0]}: state={r[1]} evaluations={r[2]} failed={r[3]} "
                  f"sent={r[4]} dropped={r[5]}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rules", help="a SQL file of alert_metrics(...) statements")
    ap.add_argument("--extension", default="sysmon", help="path of sysmon.duckdb_extension, or 'sysmon' if installed")
    ap.add_argument("--status-every", type=float, default=0, help="print alerts() every N seconds (0: never)")
    args = ap.parse_args()

    try:
        with open(args.rules, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print(f"sysmon: cannot read the rules file: {e}", file=sys.stderr)
        return 2

    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: stopping.append(s))

    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    load(con, args.extension)
    try:
        stmts = statements(con, text)
    except duckdb.Error as e:
        print(f"sysmon: {args.rules} does not parse: {e}", file=sys.stderr)
        return 2
    for line, stmt in stmts:
        try:
            cur = con.execute(stmt)
            if cur.description:
                cur.fetchall()
        except duckdb.Error as e:
            print(f"sysmon: {args.rules}:{line}: {e}", file=sys.stderr, flush=True)
            stop_all(con)
            return 2
    names = sorted({k[0] for k in snapshot(con)})
    if not names:
        print(f"sysmon: {args.rules} starts no alert (it needs SELECT * FROM alert_metrics(...) statements)",
              file=sys.stderr)
        return 2
    print(f"sysmon: {len(names)} alerts running ({', '.join(names)}); stop with SIGTERM or Ctrl-C", flush=True)

    seen = snapshot(con)
    last_status = time.monotonic()
    while not stopping:
        time.sleep(1.0)  # a signal interrupts the sleep; its handler runs at once
        now = snapshot(con)
        for key, (state, error, delivery) in sorted(now.items()):
            old = seen.get(key)
            name, labels = key
            if old is None or old[0] != state:
                print(f"sysmon: {name} {labels} {state}".replace("  ", " "), flush=True)
            if error and (old is None or old[1] != error):
                print(f"sysmon: {name}: evaluation failed: {error}", flush=True)
            if delivery and (old is None or old[2] != delivery):
                print(f"sysmon: {name}: delivery failed: {delivery}", flush=True)
        for key in seen.keys() - now.keys():
            if key[1]:
                print(f"sysmon: {key[0]} {key[1]} resolved", flush=True)
        seen = now
        if args.status_every and time.monotonic() - last_status >= args.status_every:
            last_status = time.monotonic()
            for r in con.execute("SELECT name, state, labels, value, evaluations, last_error FROM alerts()").fetchall():
                print("sysmon: status", r, flush=True)

    print(f"sysmon: stopping on {signal.Signals(stopping[0]).name}", flush=True)
    stop_all(con)
    return 0


if __name__ == "__main__":
    sys.exit(main())
