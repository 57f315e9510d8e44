#!/usr/bin/env python3
"""How fast `sysmon top --replay` moves its cursor over a recorded day (issue 22: <= 100 ms).

Usage: bench_replay.py --bin build/release/sysmon --dir target/sysmon-bench/recorded-day

Runs the replay in a 120x40 tmux pane (its own tmux server, killed at the end) and, for `←`,
`PgUp` and `→` 30 times each, the time from the key sent to the screen's replay time changing,
polled with `capture-pane` (one poll, about 2 ms, is inside every figure); then `g` with a time.
Prints medians and maxima; exits 1 when a median is over 100 ms.
"""

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time

AIM_MS = 100.0
PAT = re.compile(r"replay (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    if not shutil.which("tmux"):
        sys.exit("bench_replay: tmux is not installed")
    sock = ["tmux", "-L", f"sysmon-bench-replay-{time.monotonic_ns()}"]

    def tmux(*a):
        return subprocess.run(sock + list(a), capture_output=True, text=True).stdout

    def shown():
        m = PAT.search(tmux("capture-pane", "-p", "-t", "b"))
        return m.group(1) if m else None

    def wait(cond, what, timeout=30):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                print(tmux("capture-pane", "-p", "-t", "b"))
                sys.exit(f"bench_replay: timed out waiting for {what}")

    worst = 0.0
    try:
        tmux("new-session", "-d", "-s", "b", "-x", "120", "-y", "40")
        start = time.monotonic()
        tmux("send-keys", "-t", "b", f"TZ=UTC0 {args.bin} top --replay {args.dir}", "Enter")
        wait(lambda: shown() is not None, "the replay screen", timeout=120)
        print(f"`sysmon top --replay` over {args.dir}: first screen after {time.monotonic() - start:.2f} s, at {shown()}")
        print("| key | median (ms) | max (ms) |\n|---|---:|---:|")
        for key in ("Left", "PgUp", "Right"):
            times = []
            for _ in range(30):
                before = shown()
                t = time.monotonic()
                tmux("send-keys", "-t", "b", key)
                wait(lambda: shown() != before, f"{key} to move the cursor", timeout=10)
                times.append((time.monotonic() - t) * 1000)
            med = statistics.median(times)
            worst = max(worst, med)
            print(f"| {key} | {med:.1f} | {max(times):.1f} |")
        tmux("send-keys", "-t", "b", "g")
        target = "03:12:00"
        day = (shown() or "")[:10]
        t = time.monotonic()
        tmux("send-keys", "-t", "b", f"{day} 03:12", "Enter")
        wait(lambda: target in (shown() or ""), "g to go to 03:12", timeout=10)
        print(f"| g {day} 03:12 (typing included) | {(time.monotonic() - t) * 1000:.1f} | |")
        tmux("send-keys", "-t", "b", "q")
    finally:
        tmux("kill-server")
    if worst > AIM_MS:
        print(f"bench_replay: a median over {AIM_MS:.0f} ms")
        return 1
    print(f"every median within {AIM_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
