#!/usr/bin/env python3
"""Runs a sysmon recorder as a service: records until SIGTERM or Ctrl-C, then stops cleanly.

    sysmon_record.py /var/lib/sysmon --interval '1 second' --retention '30 days'

It opens an in-memory DuckDB (no database file is held open), loads the extension, starts
`record_metrics`, and waits. On SIGTERM (systemd's stop), SIGINT (Ctrl-C) or SIGHUP it calls
`stop_recording`, which writes what is buffered into a final file, prints the recorder's final
row and exits 0. Memory stays flat: the script itself only sleeps; the recorder's buffers are
bounded. See scripts/sysmon-recorder.service for a systemd unit.
"""

import argparse
import signal
import sys
import time

import duckdb


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="directory to record into")
    ap.add_argument("--extension", default="sysmon", help="path of sysmon.duckdb_extension, or 'sysmon' if installed")
    ap.add_argument("--interval", default="1 second", help="host sampling interval (DuckDB INTERVAL text)")
    ap.add_argument("--tables", default=None, help="comma-separated tables (default: the host-level ones)")
    ap.add_argument("--process-interval", default=None)
    ap.add_argument("--flush-interval", default=None)
    ap.add_argument("--retention", default=None, help="delete files older than this, e.g. '30 days'")
    ap.add_argument("--max-bytes", type=int, default=None, help="keep at most this many bytes of this host's files")
    ap.add_argument("--status-every", type=float, default=0, help="print recordings() every N seconds (0: never)")
    args = ap.parse_args()

    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    ext = args.extension
    con.execute(f"LOAD '{ext}'" if "/" in ext or ext.endswith(".duckdb_extension") else f"LOAD {ext}")

    named, params = [], [args.dir, args.interval]
    if args.tables:
        named.append("tables := ?")
        params.append([t.strip() for t in args.tables.split(",") if t.strip()])
    for name, value in (("process_interval", args.process_interval), ("flush_interval", args.flush_interval),
                        ("retention", args.retention)):
        if value:
            named.append(f"{name} := CAST(? AS INTERVAL)")
            params.append(value)
    if args.max_bytes is not None:
        named.append("max_bytes := ?")
        params.append(args.max_bytes)
    sql = "SELECT id, dir, tables FROM record_metrics(?, CAST(? AS INTERVAL)" + "".join(", " + n for n in named) + ")"

    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: stopping.append(s))

    rid, d, tables = con.execute(sql, params).fetchone()
    print(f"sysmon: recording {', '.join(tables)} into {d} (recorder {rid}); stop with SIGTERM or Ctrl-C", flush=True)
    last_status = time.monotonic()
    while not stopping:
        time.sleep(1.0)  # a signal interrupts the sleep; its handler runs at once
        if args.status_every and time.monotonic() - last_status >= args.status_every:
            last_status = time.monotonic()
            print(con.execute("SELECT * FROM recordings() WHERE id = ?", [rid]).fetchone(), flush=True)
        state = con.execute("SELECT state, last_error FROM recordings() WHERE id = ?", [rid]).fetchone()
        if state[0] != "running":
            print(f"sysmon: recorder {rid} is {state[0]}: {state[1]}", file=sys.stderr, flush=True)
            return 1

    cur = con.execute("SELECT * FROM stop_recording(?)", [rid])
    cols = [c[0] for c in cur.description]
    final = dict(zip(cols, cur.fetchone()))
    print(f"sysmon: stopped on {signal.Signals(stopping[0]).name}: "
          + ", ".join(f"{k}={final[k]}" for k in ("samples_taken", "samples_missed", "rows_written",
                                                      "rows_dropped", "files_written", "last_error")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
