"""system_processes() against the live kernel: own and child processes, permissions, cpu_pct."""

import subprocess
import sys
import textwrap
import time
import os

import duckdb
import pytest

from conftest import extension_path, rows


def proc_stat(pid):
    text = open(f"/proc/{pid}/stat").read()
    return text[text.rindex(")") + 2:].split()


def test_own_process(db):
    me = os.getpid()
    (r,) = rows(db, "SELECT * FROM system_processes() WHERE pid = ?", [me])
    assert r["ppid"] == os.getppid()
    cmdline = open("/proc/self/cmdline", "rb").read().rstrip(b"\0").split(b"\0")
    assert r["cmdline"] == [a.decode() for a in cmdline]
    assert r["exe"] == os.path.realpath("/proc/self/exe")
    assert r["uid"] == os.geteuid()
    assert r["user"] == ("root" if os.geteuid() == 0 else r["user"])
    assert r["threads"] >= 1
    assert r["is_kernel_thread"] is False
    assert r["state"] in ("R", "S")
    assert r["open_fds"] > 0
    assert r["read_bytes"] is not None
    # start time: btime + starttime ticks, to the tick.
    btime = next(int(l.split()[1]) for l in open("/proc/stat") if l.startswith("btime"))
    start = btime + int(proc_stat(me)[19]) / os.sysconf("SC_CLK_TCK")
    assert abs(r["start_time"].timestamp() - start) < 0.02
    assert r["cgroup"] is not None and r["cgroup"].startswith("/")


def test_child_with_odd_arguments(db):
    args = ["sleep", "30", "an argument with spaces", "ünïcödé"]
    # sleep rejects the extra operands only after parsing them all; use a shell-free child
    # that ignores them: python's -c with extra argv.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", *args[2:]])
    try:
        time.sleep(0.2)
        (r,) = rows(db, "SELECT * FROM system_processes() WHERE pid = ?", [child.pid])
        assert r["ppid"] == os.getpid()
        assert r["cmdline"] == [sys.executable, "-c", "import time; time.sleep(30)", *args[2:]]
        assert r["exe"] == os.path.realpath(sys.executable)
        assert r["threads"] == 1
    finally:
        child.kill()
        child.wait()


def test_busy_child_has_cpu_pct(db):
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.1)
        # The base of the window must already know the child: a process that started inside
        # the window has no cpu_pct (NULL, not a guess).
        db.execute("SELECT count(*) FROM system_processes()").fetchall()
        time.sleep(0.35)
        (r,) = rows(
            db, "SELECT cpu_pct, window_seconds FROM system_processes(\"window\" := INTERVAL '300 milliseconds') WHERE pid = ?",
            [child.pid],
        )
        assert r["window_seconds"] >= 0.3
        # A spinning process on a shared machine gets some CPU; 200 % is the ceiling on 2 CPUs.
        assert 5 < r["cpu_pct"] <= 100 * os.cpu_count() + 1, r
    finally:
        child.kill()
        child.wait()


def test_threads_are_not_rows(db):
    before = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    got = [r["pid"] for r in rows(db, "SELECT pid FROM system_processes()")]
    after = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    assert len(got) == len(set(got))
    # Every process alive throughout the query is a row.
    assert (before & after) <= set(got)
    # No row is a thread of another process: its Tgid is itself.
    for pid in got:
        try:
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            continue  # exited since
        tgid = int(next(l.split()[1] for l in status.splitlines() if l.startswith("Tgid:")))
        assert tgid == pid


def test_kernel_thread_filter(db):
    all_ = rows(db, "SELECT pid, is_kernel_thread FROM system_processes()")
    user = rows(db, "SELECT pid, is_kernel_thread FROM system_processes(include_kernel_threads := false)")
    assert not any(r["is_kernel_thread"] for r in user)
    kthreads = [r for r in all_ if r["is_kernel_thread"]]
    if os.path.exists("/proc/2/stat") and "kthreadd" in open("/proc/2/stat").read():
        assert any(r["pid"] == 2 for r in kthreads)


UNPRIVILEGED = textwrap.dedent("""
    import json, os, subprocess, sys
    import duckdb
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{sys.argv[1]}'")
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    # A process nobody started (exec makes it dumpable again): nobody may read its io and fds.
    own = subprocess.Popen(["sleep", "30"])
    try:
        q = "SELECT pid, read_bytes, written_bytes, open_fds, exe, uid FROM system_processes() WHERE pid IN (?, ?)"
        rows = con.execute(q, [int(sys.argv[2]), own.pid]).fetchall()
    finally:
        own.kill()
    print(json.dumps({"own": own.pid, "rows": rows}))
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_other_users_io_and_fds_are_null_not_zero():
    import json

    out = subprocess.run(
        [sys.executable, "-c", UNPRIVILEGED, extension_path(), str(os.getpid())],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    result = json.loads(out)
    by_pid = {r[0]: r for r in result["rows"]}
    # pids wrap around: the child's pid may be lower than ours.
    assert set(by_pid) == {os.getpid(), result["own"]}, by_pid
    root_row = by_pid[os.getpid()]
    assert root_row[1:5] == [None, None, None, None], root_row
    assert root_row[5] == 0
    own = by_pid[result["own"]]
    assert own[1] is not None and own[3] is not None, own
    assert own[5] == 65534


NAMED_CHILD = textwrap.dedent("""
    import ctypes, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NAME = 15
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(bytes.fromhex(sys.argv[1])), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")
    print("ready", flush=True)
    time.sleep(60)
""")


def start_named(name):
    """A child whose comm is `name` (the kernel keeps its first 15 bytes)."""
    child = subprocess.Popen([sys.executable, "-c", NAMED_CHILD, name.hex()], stdout=subprocess.PIPE)
    assert child.stdout.readline() == b"ready\n"
    return child


# Names a process may have that are not UTF-8: anyone can set the first; the kernel makes the
# second from an ordinary name by cutting "é" (2 bytes) after its first byte at 15 bytes.
ODD_NAMES = [b"\xff", ("x" * 14 + "é").encode()]


def test_a_name_that_is_not_utf8_never_hides_a_process(db, tmp_path):
    import recorder_helpers as rec

    children = [start_named(n) for n in ODD_NAMES]
    try:
        want = {}
        for c in children:
            comm = open(f"/proc/{c.pid}/comm", "rb").read().rstrip(b"\n")
            assert comm in (b"\xff", b"x" * 14 + b"\xc3"), comm
            want[c.pid] = comm.decode("utf-8", errors="replace")
        pids = list(want)
        q = "SELECT pid, name FROM system_processes() WHERE pid IN (?, ?)"
        assert dict(db.execute(q, pids).fetchall()) == want
        assert want[pids[1]] == "x" * 14 + "\ufffd"
        # The recording lists them as well.
        rid = rec.start(db, tmp_path, "1 second", tables="['processes']", process_interval="INTERVAL 1 SECOND")
        assert rec.wait_for(lambda: rec.status(db, rid)["samples_taken"] >= 2, 20)
        rec.stop(db, rid)
        recorded = db.execute(
            f"SELECT DISTINCT pid, name FROM read_parquet('{tmp_path}/processes/**/*.parquet') WHERE pid IN (?, ?)",
            pids,
        ).fetchall()
        assert dict(recorded) == want
    finally:
        for c in children:
            c.kill()
            c.wait()


ALLOC_CHILD = textwrap.dedent("""
    import sys, time
    b = bytearray(int(sys.argv[1]))
    for i in range(0, len(b), 4096):
        b[i] = 1
    print("ready", flush=True)
    time.sleep(60)
""")


def status_kb(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def test_rss_is_what_ps_and_status_show(db):
    """rss_bytes is statm's resident pages, which equal VmRSS (stat's rss field reads low on 6.2+)."""
    size = 64 << 20
    child = subprocess.Popen([sys.executable, "-c", ALLOC_CHILD, str(size)], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"ready\n"
        q = """SELECT rss_bytes, vms_bytes, mem_pct, threads, nice, major_faults, minor_faults, uid, ppid
               FROM system_processes() WHERE pid = ?"""
        for _ in range(10):
            # The child is idle: its memory does not change, except by rare kernel work.
            before = status_kb(child.pid, "VmRSS"), status_kb(child.pid, "VmSize")
            (r,) = rows(db, q, [child.pid])
            after = status_kb(child.pid, "VmRSS"), status_kb(child.pid, "VmSize")
            if before == after:
                break
        assert before == after, "the child's memory kept changing"
        assert r["rss_bytes"] == before[0], (r, before)
        assert r["vms_bytes"] == before[1], (r, before)
        assert size <= r["rss_bytes"] < size + (64 << 20)
        mem_total = next(int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
        assert r["mem_pct"] == pytest.approx(100 * r["rss_bytes"] / mem_total, rel=1e-9)
        # And `ps` (procps) agrees on every column it shows (sizes in KiB); the child is idle.
        fmt = "rss=,vsz=,nlwp=,ni=,maj_flt=,min_flt=,euid=,ppid="
        ps = subprocess.run(["ps", "-o", fmt, "-p", str(child.pid)], capture_output=True, text=True)
        if ps.returncode == 0:
            rss, vsz, nlwp, ni, maj, mnr, euid, ppid = map(int, ps.stdout.split())
            assert (rss * 1024, vsz * 1024) == (r["rss_bytes"], r["vms_bytes"])
            assert (nlwp, ni, euid, ppid) == (r["threads"], r["nice"], r["uid"], r["ppid"])
            assert (maj, mnr) == (r["major_faults"], r["minor_faults"])
    finally:
        child.kill()
        child.wait()
