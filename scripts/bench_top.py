#!/usr/bin/env python3
"""`sysmon top` against procps `top -d 1` (and `htop -d 10` where htop is installed), side by
side in one run (issue 22's budget).

All run at a 1 s refresh in tmux sessions of the same size (120x40 unless told), started
together; after a warm-up their CPU time (utime + stime of /proc/<pid>/stat, in clock ticks, and
the nanoseconds on CPU of /proc/<pid>/task/*/schedstat) is read at the start and the end of the
same `--seconds` window, and their resident memory (VmRSS, and the peak
VmHWM) at the end. Prints a markdown table; exits 1 where sysmon top spent more nanoseconds on
CPU than top (or htop), or more than 20 MiB of RSS (`--no-check` only reports). The check is on
schedstat's nanoseconds, not on the ticks: a few dozen milliseconds are a handful of ticks, and
a tick is charged to whoever happens to run when the timer fires.

    python3 scripts/bench_top.py --bin build/release/sysmon [--seconds 30] [--width 120 --height 40]
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
RSS_BUDGET_KIB = 20 * 1024


def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, *args], check=True, capture_output=True, text=True).stdout


def leaf(pid):
    """The pane's process, or its only child where the pane runs a shell first."""
    for _ in range(3):
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
            children = open(f"/proc/{pid}/task/{pid}/children").read().split()
        except OSError:
            return pid
        if comm in ("sh", "dash", "bash") and len(children) == 1:
            pid = int(children[0])
        else:
            return pid
    return pid


def cpu_ns(pid):
    """Nanoseconds on CPU of all the process's threads (schedstat's first field): no tick noise."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def status_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/release/sysmon")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--height", type=int, default=40)
    ap.add_argument("--no-check", action="store_true")
    a = ap.parse_args()
    for tool in ("tmux", "top"):
        if shutil.which(tool) is None:
            sys.exit(f"bench_top: {tool} not found (Debian: apt-get install tmux procps)")
    if not os.path.isfile(a.bin):
        sys.exit(f"bench_top: {a.bin} not found (make release builds it)")
    sock = f"bench-top-{os.getpid()}"
    runs = {
        "sysmon top": f"{os.path.abspath(a.bin)} top --interval 1s",
        "top -d 1 (procps)": "top -d 1",
    }
    if shutil.which("htop"):
        runs["htop -d 10"] = "htop -d 10"
    else:
        print("bench_top: htop is not installed (Debian: apt-get install htop): measured against top alone")
    try:
        for i, (name, cmd) in enumerate(runs.items()):
            tmux(sock, "new-session", "-d", "-s", f"s{i}", "-x", str(a.width), "-y", str(a.height), f"exec {cmd}")
        pids = {
            name: leaf(int(tmux(sock, "display-message", "-p", "-t", f"s{i}", "#{pane_pid}").strip()))
            for i, name in enumerate(runs)
        }
        time.sleep(a.warmup)
        t0 = time.monotonic()
        start = {n: cpu_ticks(p) for n, p in pids.items()}
        start_ns = {n: cpu_ns(p) for n, p in pids.items()}
        time.sleep(a.seconds)
        elapsed = time.monotonic() - t0
        end = {n: cpu_ticks(p) for n, p in pids.items()}
        end_ns = {n: cpu_ns(p) for n, p in pids.items()}
        rows = []
        for n, p in pids.items():
            cpu_s = (end[n] - start[n]) / HZ
            ns = end_ns[n] - start_ns[n]
            rows.append((n, cpu_s, cpu_s / elapsed * 100, status_kib(p, "VmRSS"), status_kib(p, "VmHWM"), ns))
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        # Both end with their terminal; make sure (by pid) before reporting.
        deadline = time.monotonic() + 5
        for pid in locals().get("pids", {}).values():
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
            if os.path.exists(f"/proc/{pid}"):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
    print(f"\n`sysmon top` vs procps `top`, 1 s refresh, {a.width}x{a.height} tmux panes, {elapsed:.0f} s, {os.cpu_count()} CPUs\n")
    print("| program | CPU time (s) | CPU % of one core | on CPU (ms, schedstat) | RSS (MiB) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for n, cpu_s, pct, rss, hwm, ns in rows:
        print(f"| {n} | {cpu_s:.2f} | {pct:.2f} | {ns / 1e6:.1f} | {rss / 1024:.1f} | {hwm / 1024:.1f} |")
    ours = rows[0]
    problems = []
    print()
    for theirs in rows[1:]:
        ratio = ours[5] / theirs[5] if theirs[5] else float("inf")
        print(f"sysmon top / {theirs[0]}: {ratio:.2f}x the CPU (schedstat)")
        if ours[5] > theirs[5]:
            problems.append(f"sysmon top spent more time on CPU ({ours[5] / 1e6:.1f} ms) than {theirs[0]} ({theirs[5] / 1e6:.1f} ms)")
    if (ours[4] or 0) > RSS_BUDGET_KIB:
        problems.append(f"sysmon top's peak RSS {ours[4] / 1024:.1f} MiB is over 20 MiB")
    for p in problems:
        print(f"bench_top: {p}", file=sys.stderr)
    if problems and not a.no_check:
        sys.exit(1)


if __name__ == "__main__":
    main()
