"""system_metrics() against independent reads of /proc, and the window semantics."""

import os
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from conftest import connect, meminfo, one, proc_stat_cpu

HZ = os.sysconf("SC_CLK_TCK")


def test_cpu_seconds_match_proc_stat(con):
    before = proc_stat_cpu()
    r = one(con, "SELECT * FROM system_metrics()")
    after = proc_stat_cpu()
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"]
    for i, name in enumerate(names):
        got = r[f"cpu_{name}_seconds"]
        assert before[i] / HZ <= got <= after[i] / HZ, (name, before[i], got, after[i])
        # Ticks divided, not rounded: the fraction is kept.
        assert abs(got * HZ - round(got * HZ)) < 1e-6


def test_cumulative_counters_grow(con):
    a = one(con, "SELECT * FROM system_metrics()")
    time.sleep(0.05)
    b = one(con, "SELECT * FROM system_metrics()")
    for col in ["cpu_user_seconds", "cpu_system_seconds", "cpu_idle_seconds", "context_switches",
                "interrupts", "forks", "uptime_seconds", "disk_read_bytes", "net_rx_bytes"]:
        assert b[col] >= a[col], col
    assert b["ts"] > a["ts"]


def test_memory_matches_meminfo(con):
    r = one(con, "SELECT * FROM system_metrics()")
    m = meminfo()
    assert r["mem_total_bytes"] == m["MemTotal"]
    assert r["swap_total_bytes"] == m["SwapTotal"]
    assert r["mem_used_bytes"] == r["mem_total_bytes"] - r["mem_available_bytes"]
    # Gauges move between the two reads; allow 5% of memory.
    slack = m["MemTotal"] * 0.05
    assert abs(r["mem_available_bytes"] - m["MemAvailable"]) < slack
    assert abs(r["mem_cached_bytes"] - (m["Cached"] + m.get("SReclaimable", 0))) < slack


def physical_disk_bytes():
    total_read = total_written = 0
    with open("/proc/diskstats") as f:
        for line in f:
            p = line.split()
            if os.path.exists(f"/sys/block/{p[2]}/device"):
                total_read += int(p[5]) * 512
                total_written += int(p[9]) * 512
    return total_read, total_written


def device_net_bytes():
    rx = tx = 0
    with open("/proc/net/dev") as f:
        for line in f.readlines()[2:]:
            name, rest = line.split(":", 1)
            if os.path.exists(f"/sys/class/net/{name.strip()}/device"):
                rx += int(rest.split()[0])
                tx += int(rest.split()[8])
    return rx, tx


def test_disk_and_network_totals(con):
    r0, w0 = physical_disk_bytes()
    rx0, tx0 = device_net_bytes()
    r = one(con, "SELECT * FROM system_metrics()")
    r1, w1 = physical_disk_bytes()
    rx1, tx1 = device_net_bytes()
    assert r0 <= r["disk_read_bytes"] <= r1
    assert w0 <= r["disk_written_bytes"] <= w1
    assert rx0 <= r["net_rx_bytes"] <= rx1
    assert tx0 <= r["net_tx_bytes"] <= tx1


def test_load_and_tasks(con):
    r = one(con, "SELECT * FROM system_metrics()")
    with open("/proc/loadavg") as f:
        parts = f.read().split()
    assert abs(r["load_15m"] - float(parts[2])) < 1.0
    assert r["procs_total"] > 0 and r["procs_running"] >= 1


def test_first_call_has_a_window_and_later_calls_reuse_kept_samples(ext):
    con = connect()
    rows = [one(con, "SELECT cpu_busy_pct, window_seconds FROM system_metrics()") for _ in range(20)]
    for r in rows:
        assert r["window_seconds"] >= 0.1
        assert r["cpu_busy_pct"] is not None and 0 <= r["cpu_busy_pct"] <= 100


def test_explicit_window(con):
    r = one(con, """SELECT window_seconds FROM system_metrics("window" := INTERVAL '300 milliseconds')""")
    assert 0.3 <= r["window_seconds"] <= 0.6 + 0.05


def test_busy_percentage_sees_load(con):
    # One busy process (a process, not a thread: the GIL) keeps one CPU busy: over a window that
    # lies inside its run, the host is at least ~1/ncpu busy (~50% on a 2-core machine; when other
    # work takes the spinner's CPU, that work counts as busy instead). The spinner's own cpu_pct
    # is above zero and at most one CPU (100): it has one thread.
    ncpu = os.cpu_count()
    spinner = subprocess.Popen([sys.executable, "-c", "print('spinning', flush=True)\nwhile True: pass"],
                               stdout=subprocess.PIPE, text=True)
    try:
        # The line comes once the interpreter has started (however long that takes on a loaded
        # machine). A 500 ms window's base sample is at most two windows (1 s) old: after 1.2 s of
        # spinning the whole window lies inside the spin.
        assert spinner.stdout.readline() == "spinning\n"
        time.sleep(1.2)
        host = one(con, """SELECT cpu_busy_pct FROM system_metrics("window" := INTERVAL '500 milliseconds')""")
        proc = one(con, f"""SELECT cpu_pct FROM system_processes("window" := INTERVAL '500 milliseconds')
                            WHERE pid = {spinner.pid}""")
    finally:
        spinner.kill()
        spinner.wait()
    assert host["cpu_busy_pct"] >= 0.8 * 100 / ncpu, (ncpu, host)
    assert proc["cpu_pct"] is not None and 5 <= proc["cpu_pct"] <= 105, proc


def test_concurrent_queries_from_threads(ext):
    db = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    db.execute(f"LOAD '{ext}'")
    errors, results = [], []

    def worker():
        try:
            cur = db.cursor()
            for _ in range(10):
                results.append(cur.execute("SELECT cpu_busy_pct FROM system_metrics()").fetchone()[0])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 40 and all(r is not None for r in results)


def free_bytes():
    """`free -b -w` (procps): the Mem: and Swap: rows by column name."""
    import subprocess

    out = subprocess.run(["free", "-b", "-w"], capture_output=True, text=True, check=True).stdout.splitlines()
    names = out[0].split()
    mem = dict(zip(names, map(int, out[1].split()[1:])))
    swap = dict(zip(names, map(int, out[2].split()[1:])))
    return mem, swap


def test_memory_columns_are_what_free_shows(con):
    """The derived columns use free's (procps 4) definitions: used = total − available, cache =
    Cached + SReclaimable. Gauges move, so each must lie between two readings of free."""
    import shutil

    if not shutil.which("free"):
        pytest.skip("procps free not installed")
    before = free_bytes()
    r = one(con, "SELECT * FROM system_metrics()")
    after = free_bytes()
    slack = 16 << 20

    def between(value, key, table=0):
        lo = min(before[table][key], after[table][key]) - slack
        hi = max(before[table][key], after[table][key]) + slack
        assert lo <= value <= hi, (key, value, before[table][key], after[table][key])

    assert r["mem_total_bytes"] == before[0]["total"]
    between(r["mem_used_bytes"], "used")
    between(r["mem_free_bytes"], "free")
    between(r["mem_available_bytes"], "available")
    between(r["mem_buffers_bytes"], "buffers")
    between(r["mem_cached_bytes"], "cache")
    between(r["mem_shared_bytes"], "shared")
    assert r["swap_total_bytes"] == before[1]["total"]
    between(r["swap_used_bytes"], "used", 1)
    between(r["swap_free_bytes"], "free", 1)
