"""`/metrics` against the real tools: promtool, a Prometheus server, and node_exporter.

Debian's `prometheus` (with `promtool`) and `prometheus-node-exporter` packages (`.ci/run`
installs them). Every server here listens on 127.0.0.1 on a free port and is stopped by the
test. The node_exporter comparison writes the node_exporter names sysmon does not expose to
`build/serve/node_exporter_missing.txt` (docs/prometheus.md lists them).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import connect, one
from recorder_helpers import wait_for

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
# The node_exporter collectors whose metrics sysmon covers (see docs/prometheus.md's mapping).
COLLECTORS = ["cpu", "cpufreq", "diskstats", "filesystem", "loadavg", "meminfo", "netclass", "netdev",
              "netstat", "pressure", "stat", "time"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, headers=None, timeout=30):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as r:
        return r.read().decode()


def wait_listening(port, proc, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"nothing listens on {port} after {seconds} s")


def wait_ready(web, proc, seconds=60):
    """Prometheus listens before it is ready: until its TSDB is open, the API answers 503.
    Waits for `/-/ready` to answer 200."""
    wait_listening(web, proc)
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"prometheus exited with {proc.returncode}"
        try:
            get(f"http://127.0.0.1:{web}/-/ready", timeout=5)
            return
        except OSError as e:  # urllib's HTTPError (503) and URLError are OSErrors
            last = e
            time.sleep(0.1)
    pytest.fail(f"prometheus not ready after {seconds} s: {last}")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def parse(text):
    """{name: {frozenset(labels.items()): value}} of the text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        if "{" in series:
            name, labels = series.split("{", 1)
            pairs = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels[:-1])
        else:
            name, pairs = series, []
        out.setdefault(name, {})[frozenset(pairs)] = float(value)
    return out


@pytest.fixture
def sysmon():
    con = connect()
    row = one(con, "SELECT * FROM serve_metrics(port := 0)")
    token = row["url"].split("token=", 1)[1]
    yield con, row["port"], token
    con.execute("SELECT * FROM stop_serving(?)", [row["id"]]).fetchall()
    con.close()


def scrape(port, token, query=""):
    return get(f"http://127.0.0.1:{port}/metrics{query}", {"Authorization": f"Bearer {token}"})


@pytest.mark.skipif(not PROMTOOL, reason="promtool not installed (.ci/run installs Debian's prometheus)")
@pytest.mark.parametrize("query", ["", "?collect[]=processes&collect[]=cgroups"])
def test_promtool_accepts_the_exposition(sysmon, query):
    _, port, token = sysmon
    text = scrape(port, token, query)
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    # Exit 1 is a format error; 3 is lint only. The one lint promtool has is its camelCase
    # rule, which node_exporter's own meminfo and netstat names break (node_exporter's output
    # gets the same lines): keeping those names is the point, so exactly those lines are allowed.
    assert done.returncode in (0, 3), done.stdout + done.stderr
    camel = re.compile(r"^node_(memory|netstat)_\w+ metric names should be written in 'snake_case' not 'camelCase'$")
    problems = [l for l in (done.stdout + done.stderr).splitlines() if l.strip() and not camel.match(l)]
    assert not problems, problems
    assert all(l.startswith(("node_memory_", "node_netstat_")) for l in done.stderr.splitlines())


@pytest.mark.skipif(not PROMETHEUS, reason="prometheus not installed (.ci/run installs it)")
def test_prometheus_scrapes_with_a_bearer_token_and_agrees_with_system_metrics(sysmon, tmp_path):
    con, port, token = sysmon
    web = free_port()
    (tmp_path / "token").write_text(token)
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sysmon
    authorization:
      type: Bearer
      credentials_file: {tmp_path}/token
    static_configs:
      - targets: ["127.0.0.1:{port}"]
""")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path}/prometheus.yml", f"--storage.tsdb.path={tmp_path}/data",
         f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"),
    )
    try:
        wait_ready(web, proc)
        api = f"http://127.0.0.1:{web}/api/v1"

        def query(q):
            r = json.loads(get(f"{api}/query?query={urllib.parse.quote(q)}"))
            assert r["status"] == "success", r
            return r["data"]["result"]

        def twenty_seconds_scraped():
            samples = query("count_over_time(node_load1[20s])")
            return bool(samples) and int(samples[0]["value"][1]) >= 10

        # 1 s scrapes: 10 samples in the last 20 s once it has scraped for 10 s or more.
        assert wait_for(twenty_seconds_scraped, timeout=120), query("count_over_time(node_load1[20s])")
        targets = json.loads(get(f"{api}/targets"))["data"]["activeTargets"]
        assert [t["health"] for t in targets] == ["up"], targets

        rates = query("rate(node_cpu_seconds_total[10s])")
        cpus = con.execute("SELECT count(*) FROM system_cpus()").fetchone()[0]
        assert {r["metric"]["cpu"] for r in rates} == {str(i) for i in range(cpus)}
        # Each CPU spends one second per second across its modes (ticks are 10 ms: a little slack).
        for cpu in range(cpus):
            total = sum(float(r["value"][1]) for r in rates if r["metric"]["cpu"] == str(cpu))
            assert 0.85 <= total <= 1.15, (cpu, total)
        prom_busy = 100 * (1 - sum(float(r["value"][1]) for r in rates if r["metric"]["mode"] in ("idle", "iowait"))
                           / sum(float(r["value"][1]) for r in rates))
        ours = one(con, "SELECT cpu_busy_pct, mem_available_bytes FROM system_metrics(\"window\" := INTERVAL 10 SECOND)")
        # Both cover about the last 10 s of a shared, busy 2-core machine: a generous bound.
        assert abs(prom_busy - ours["cpu_busy_pct"]) <= 25, (prom_busy, ours)
        avail = float(query("node_memory_MemAvailable_bytes")[0]["value"][1])
        assert abs(avail - ours["mem_available_bytes"]) <= 0.1 * ours["mem_available_bytes"], (avail, ours)
        samples = query("count_over_time(node_load1[20s])")
        assert int(samples[0]["value"][1]) >= 10, samples
    finally:
        stop(proc)


def targets(web):
    return json.loads(get(f"http://127.0.0.1:{web}/api/v1/targets"))["data"]["activeTargets"]


def scraped_up_since(web, since):
    """Whether Prometheus's one target was scraped successfully after `since` (epoch seconds)."""
    from datetime import datetime

    t = targets(web)
    if len(t) != 1 or t[0]["health"] != "up" or t[0]["lastScrape"].startswith("0001"):
        return False
    return datetime.fromisoformat(t[0]["lastScrape"].replace("Z", "+00:00")).timestamp() > since


@pytest.mark.skipif(not PROMETHEUS, reason="prometheus not installed (.ci/run installs it)")
def test_a_scrape_config_with_the_token_file_survives_a_restart(tmp_path):
    """The config of README.md's 'A scrape config that survives restarts': Prometheus reads the
    file serve_metrics created; the server is stopped and started again (a new process would
    read the file the same way: test_serve.py) and Prometheus keeps scraping unchanged."""
    con = connect()
    token_file = tmp_path / "sysmon.token"
    row = one(con, f"SELECT * FROM serve_metrics(port := 0, token_file := '{token_file}')")
    port, web = row["port"], free_port()
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sysmon
    authorization:
      credentials_file: {token_file}
    static_configs:
      - targets: ["127.0.0.1:{port}"]
""")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path}/prometheus.yml", f"--storage.tsdb.path={tmp_path}/data",
         f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"),
    )
    try:
        wait_ready(web, proc)
        started = time.time()
        assert wait_for(lambda: scraped_up_since(web, started), timeout=60), targets(web)
        con.execute("SELECT * FROM stop_serving(?)", [row["id"]]).fetchall()
        # While it is down, the target goes down (the restart is real) ...
        assert wait_for(lambda: targets(web)[0]["health"] == "down", timeout=60), targets(web)
        again = one(con, f"SELECT * FROM serve_metrics(port := {port}, token_file := '{token_file}')")
        assert again["url"] == row["url"], "the same token"
        restarted = time.time()
        # ... and up again with the same config and file, nothing rewritten.
        assert wait_for(lambda: scraped_up_since(web, restarted), timeout=60), targets(web)
        served = one(con, "SELECT requests_served, requests_refused FROM servers() WHERE id = ?", [again["id"]])
        assert served["requests_served"] >= 1 and served["requests_refused"] == 0, served
        con.execute("SELECT * FROM stop_serving(?)", [again["id"]]).fetchall()
    finally:
        stop(proc)
        con.close()


# Absolute slack per name where values move between two scrapes a few ms apart (else 5 %).
SLACK = {
    "node_procs_running": 20, "node_procs_blocked": 20, "node_disk_io_now": 20,
    "node_netstat_Tcp_CurrEstab": 50, "node_load1": 2, "node_load5": 1, "node_load15": 1,
    "node_memory_Dirty_bytes": 64 << 20, "node_memory_MemFree_bytes": 256 << 20,
    "node_memory_MemAvailable_bytes": 256 << 20, "node_memory_Shmem_bytes": 64 << 20,
    "node_memory_Buffers_bytes": 64 << 20, "node_filesystem_free_bytes": 1 << 30,
    "node_filesystem_avail_bytes": 1 << 30, "node_filesystem_files_free": 100000,
    "node_cpu_scaling_frequency_hertz": 2e9,
}


def close(name, a, b):
    slack = SLACK.get(name, 0)
    if name.endswith("_total") or name.startswith("node_netstat_"):
        slack = max(slack, 1000)  # counters move between the two scrapes
    return abs(a - b) <= max(slack, 0.05 * max(abs(a), abs(b)))


@pytest.mark.skipif(not NODE_EXPORTER, reason="prometheus-node-exporter not installed (.ci/run installs it)")
def test_same_names_as_node_exporter_have_the_same_labels_and_values(sysmon):
    _, port, token = sysmon
    ne_port = free_port()
    flags = ["--collector.disable-defaults"] + [f"--collector.{c}" for c in COLLECTORS]
    proc = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{ne_port}", *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(ne_port, proc)
        theirs = parse(get(f"http://127.0.0.1:{ne_port}/metrics"))
        ours = parse(scrape(port, token))
    finally:
        stop(proc)
    node_names = {n for n in theirs if n.startswith("node_") and not n.startswith(("node_scrape_", "node_exporter_"))}
    common = sorted(node_names & set(ours))
    assert len(common) >= 60, common
    compared = 0
    mismatches = []
    for name in common:
        their_labels = {frozenset(k for k, _ in s) for s in theirs[name]}
        our_labels = {frozenset(k for k, _ in s) for s in ours[name]}
        assert our_labels == their_labels, (name, our_labels, their_labels)
        for series, value in ours[name].items():
            if series in theirs[name]:
                compared += 1
                if not close(name, value, theirs[name][series]):
                    mismatches.append((name, dict(series), value, theirs[name][series]))
    assert not mismatches, mismatches
    assert compared >= 100, compared
    ours_only = sorted(n for n in ours if n.startswith("node_") and n not in theirs)
    missing = sorted(node_names - set(ours))
    out = os.path.join(ROOT, "build", "serve")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "node_exporter_missing.txt"), "w") as f:
        f.write("\n".join(missing) + "\n")
    with open(os.path.join(out, "node_exporter_only_sysmon.txt"), "w") as f:
        f.write("\n".join(ours_only) + "\n")
