"""CPU per /metrics scrape: sysmon's server against node_exporter, in the same run.

Both exporters run as their own processes on 127.0.0.1: sysmon in a Python process that loads
the extension, calls serve_metrics(port := 0) and then only waits; node_exporter
(`prometheus-node-exporter`) with only the collectors sysmon covers, and a second one without
netclass, netstat and cpufreq (which sysmon covers only in part). The client scrapes each
over one kept-alive connection, as Prometheus does, without `Accept-Encoding: gzip` (sysmon
does not compress; node_exporter would spend CPU on it), in alternating rounds so both see the
same machine. A process's CPU is the sum over its threads of the time on CPU that
`/proc/<pid>/task/<tid>/schedstat` counts in nanoseconds (threads that end meanwhile are read
from `/proc/<pid>/stat` in clock ticks instead; the script says when that happened).

Also: the sysmon process's resident memory before serve_metrics, with the server idle, and
after the scrapes (VmRSS; VmHWM is the peak). Prints a table and writes build/serve/bench.json.

    .venv/bin/python scripts/bench_serve.py --extension build/release/sysmon.duckdb_extension
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

COLLECTORS = ["cpu", "cpufreq", "diskstats", "filesystem", "loadavg", "meminfo", "netclass", "netdev",
              "netstat", "pressure", "stat"]
# The same without the collectors sysmon covers only in part (netclass, netstat, cpufreq).
COLLECTORS_MIN = ["cpu", "diskstats", "filesystem", "loadavg", "meminfo", "netdev", "pressure", "stat"]
TICK = os.sysconf("SC_CLK_TCK")

SERVER = """
import sys, duckdb
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute("LOAD '%s'")
print("loaded", flush=True)
sys.stdin.readline()
print(con.execute("SELECT url FROM serve_metrics(port := 0)").fetchone()[0], flush=True)
sys.stdin.readline()
"""


def cpu_ns(pid):
    """(ns on CPU summed over live threads, ticks of the whole process from /proc/pid/stat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return total, int(fields[11]) + int(fields[12])


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on {port}")


class Scraper:
    def __init__(self, port, headers):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = headers
        self.bytes = 0

    def scrape(self):
        self.conn.request("GET", "/metrics", headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"scrape answered {r.status}: {body[:200]!r}")
        self.bytes = len(body)


def measure(pid, scraper, n):
    """CPU ns per scrape of process `pid` over `n` scrapes, and whether the two counters agree."""
    ns0, t0 = cpu_ns(pid)
    for _ in range(n):
        scraper.scrape()
    ns1, t1 = cpu_ns(pid)
    by_ticks = (t1 - t0) * 1e9 / TICK
    return (ns1 - ns0) / n, by_ticks / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--extension", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--scrapes", type=int, default=100, help="scrapes per exporter per round")
    ap.add_argument("--out", default="build/serve/bench.json")
    args = ap.parse_args()
    exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if not exporter:
        sys.exit("prometheus-node-exporter is not installed (.ci/run installs it)")

    server = subprocess.Popen([sys.executable, "-c", SERVER % os.path.abspath(args.extension)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ne_port, ne_min_port = free_port(), free_port()
    ne = subprocess.Popen([exporter, f"--web.listen-address=127.0.0.1:{ne_port}", "--collector.disable-defaults",
                           *[f"--collector.{c}" for c in COLLECTORS]],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ne_min = subprocess.Popen([exporter, f"--web.listen-address=127.0.0.1:{ne_min_port}", "--collector.disable-defaults",
                               *[f"--collector.{c}" for c in COLLECTORS_MIN]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert server.stdout.readline().strip() == "loaded"
        time.sleep(1)
        rss_loaded = status(server.pid, "VmRSS")
        server.stdin.write("\n")
        server.stdin.flush()
        url = server.stdout.readline().strip()
        port = int(url.split(":")[2].split("/")[0])
        token = url.split("token=", 1)[1]
        time.sleep(2)
        rss_idle = status(server.pid, "VmRSS")
        wait_listening(ne_port)
        wait_listening(ne_min_port)
        ours = Scraper(port, {"Authorization": f"Bearer {token}"})
        theirs = Scraper(ne_port, {})
        theirs_min = Scraper(ne_min_port, {})
        targets = (("sysmon", server.pid, ours), ("node_exporter", ne.pid, theirs),
                   ("node_exporter_min", ne_min.pid, theirs_min))
        for _ in range(20):  # warm up: first samples, page faults, Go's GC sizing
            for _, _, s in targets:
                s.scrape()
        per = {name: [] for name, _, _ in targets}
        ticks = {name: [] for name, _, _ in targets}
        for _ in range(args.rounds):
            for name, pid, s in targets:
                ns, t = measure(pid, s, args.scrapes)
                per[name].append(ns)
                ticks[name].append(t)
        rss_served = status(server.pid, "VmRSS")
        hwm = status(server.pid, "VmHWM")
        ne_rss = status(ne.pid, "VmRSS")
    finally:
        for p in (ne, ne_min):
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=15)
        try:
            server.stdin.write("\n")
            server.stdin.flush()
        except BrokenPipeError:
            pass
        server.wait(timeout=30)

    def median(v):
        v = sorted(v)
        return v[len(v) // 2]

    result = {
        "scrapes": args.rounds * args.scrapes,
        "sysmon_cpu_ms_per_scrape": median(per["sysmon"]) / 1e6,
        "node_exporter_cpu_ms_per_scrape": median(per["node_exporter"]) / 1e6,
        "sysmon_cpu_ms_per_scrape_by_ticks": sum(ticks["sysmon"]) / len(ticks["sysmon"]) / 1e6,
        "node_exporter_cpu_ms_per_scrape_by_ticks": sum(ticks["node_exporter"]) / len(ticks["node_exporter"]) / 1e6,
        "node_exporter_min_cpu_ms_per_scrape": median(per["node_exporter_min"]) / 1e6,
        "sysmon_bytes_per_scrape": ours.bytes,
        "node_exporter_min_bytes_per_scrape": theirs_min.bytes,
        "node_exporter_bytes_per_scrape": theirs.bytes,
        "sysmon_process_rss_loaded_bytes": rss_loaded,
        "sysmon_process_rss_serving_idle_bytes": rss_idle,
        "sysmon_process_rss_after_scrapes_bytes": rss_served,
        "sysmon_process_rss_peak_bytes": hwm,
        "node_exporter_rss_bytes": ne_rss,
    }
    result["ratio"] = result["sysmon_cpu_ms_per_scrape"] / result["node_exporter_cpu_ms_per_scrape"]
    result["ratio_min"] = result["sysmon_cpu_ms_per_scrape"] / result["node_exporter_min_cpu_ms_per_scrape"]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    mib = 1 << 20
    print(f"/metrics CPU per scrape, median of {args.rounds} rounds of {args.scrapes} (schedstat ns; ticks in brackets):")
    print(f"  sysmon         {result['sysmon_cpu_ms_per_scrape']:.3f} ms ({result['sysmon_cpu_ms_per_scrape_by_ticks']:.3f})"
          f"  {ours.bytes} bytes")
    print(f"  node_exporter  {result['node_exporter_cpu_ms_per_scrape']:.3f} ms ({result['node_exporter_cpu_ms_per_scrape_by_ticks']:.3f})"
          f"  {theirs.bytes} bytes")
    print(f"  node_exporter, without netclass, netstat, cpufreq  {result['node_exporter_min_cpu_ms_per_scrape']:.3f} ms"
          f"  {theirs_min.bytes} bytes")
    print(f"  ratio sysmon / node_exporter: {result['ratio']:.2f}; / the smaller set: {result['ratio_min']:.2f}"
          " (aim: 0.33 or less)")
    print(f"sysmon process RSS: loaded {rss_loaded / mib:.1f} MiB, serving idle {rss_idle / mib:.1f} MiB "
          f"(+{(rss_idle - rss_loaded) / mib:.1f}), after scrapes {rss_served / mib:.1f} MiB "
          f"(+{(rss_served - rss_loaded) / mib:.1f}), peak {hwm / mib:.1f} MiB; node_exporter RSS {ne_rss / mib:.1f} MiB")


if __name__ == "__main__":
    main()
