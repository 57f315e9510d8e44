"""`sysmon top` end to end: the real binary in a tmux pane, read back with `capture-pane`.

Live: a test process found by its unique name after `/` filtering, the order changing with a
sort key, the list scrolled, `k` signalling the process shown (refused with `--read-only`),
`q` giving the shell back. Replay: a few seconds recorded with `sysmon record`, the
folder replayed, `←` moving the cursor and the shown time. Errors: not a terminal, a missing
and an empty recording (exit code 2, a clear message). Every wait is for a condition on the
screen, with a deadline.

The binary: $SYSMON_BIN (the Makefile sets it to build/release/sysmon), else the first built one
found. Skipped only where tmux is not installed (CI installs it).
"""

import datetime
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def sysmon_bin():
    env = os.environ.get("SYSMON_BIN")
    if env:
        assert Path(env).is_file(), f"SYSMON_BIN={env} does not exist (make release builds it)"
        return env
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    for p in (ROOT / "build/release/sysmon", Path(target) / "release/sysmon", Path(target) / "debug/sysmon"):
        if p.is_file():
            return str(p)
    pytest.skip("sysmon not built (make release, or cargo build -p sysmon-cli)")


needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")


def wait_for(what, check, timeout=20.0):
    """Polls `check()` until it returns something truthy; fails with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class Pane:
    """A tmux server of its own (a private socket), one session with one 120x40 pane running bash."""

    def __init__(self, tmp_path, width=120, height=40):
        self.sock = f"sysmon-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        self.env = env
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "bash --norc --noprofile")
        try:
            wait_for("the shell's prompt", lambda: self.screen().strip())
        except BaseException:
            self.close()
            raise

    def tmux(self, *args):
        return subprocess.run(
            ["tmux", "-L", self.sock, *args], env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t")

    def send(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "t", "-l", "--", text)

    def run(self, command):
        self.type(command)
        self.send("Enter")

    def close(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


@pytest.fixture
def pane(tmp_path):
    p = Pane(tmp_path)
    yield p
    p.close()


def process_rows(screen):
    """(pid, command) of the process rows under the PID header."""
    lines = screen.splitlines()
    start = next(i for i, l in enumerate(lines) if re.match(r"^\s+PID", l))
    rows = []
    for l in lines[start + 1 :]:
        m = re.match(r"^\s*(\d+)\s", l)
        if not m:
            break
        rows.append((int(m.group(1)), l))
    return rows


@needs_tmux
def test_live_filter_sort_and_quit(pane, tmp_path):
    exe = sysmon_bin()
    # A process of a unique name (and a short command line, all of it on screen): a copy of sleep.
    token = f"stp-{uuid.uuid4().hex[:8]}"
    shutil.copy(shutil.which("sleep"), tmp_path / token)
    probe = subprocess.Popen([f"./{token}", "600"], cwd=tmp_path)
    # More processes than a 120x40 screen has rows for, however few the host runs: the list scrolls.
    crowd = [subprocess.Popen(["sleep", "600"]) for _ in range(40)]
    try:
        pane.run(f"{exe} top; echo top-exit=$?")
        wait_for("the view", lambda: "sysmon top" in (s := pane.screen()) and "PID" in s and process_rows(s))
        # Filter by the probe's unique command line.
        pane.send("/")
        pane.type(token)
        pane.send("Enter")
        rows = wait_for(
            "the probe alone after filtering",
            lambda: [r for r in process_rows(pane.screen()) if token in r[1]] or None,
        )
        assert rows[0][0] == probe.pid, rows
        assert all(token in line for _, line in process_rows(pane.screen()))
        # Clear it, sort by pid (ascending), then again (descending).
        pane.send("/")
        pane.send("Escape")
        wait_for("more than the probe", lambda: len(process_rows(pane.screen())) > 3)
        pane.send("p")

        def pids_sorted(reverse):
            pids = [p for p, _ in process_rows(pane.screen())]
            return len(pids) > 3 and pids == sorted(pids, reverse=reverse) and pids

        asc = wait_for("pids ascending", lambda: pids_sorted(False))
        # Scroll: a row down, to the end, back to the top; the status line says which rows.
        wait_for("the rows shown", lambda: re.match(r"rows 1-\d+/\d+ · sort pid", status(pane)))
        pane.send("Down")
        wait_for("a row down", lambda: status(pane).startswith("rows 2-") and process_rows(pane.screen())[0][0] > asc[0])
        pane.send("End")

        def at_end():
            m = re.match(r"rows (\d+)-(\d+)/(\d+) ", status(pane))
            return m and m.group(2) == m.group(3) and int(m.group(1)) > 2

        wait_for("the end of the list", at_end)
        assert process_rows(pane.screen())[-1][0] >= max(c.pid for c in crowd), "the highest pids last"
        pane.send("Home")
        wait_for("the top again", lambda: status(pane).startswith("rows 1-") and pids_sorted(False)[0] == asc[0])
        pane.send("p")
        desc = wait_for("pids descending", lambda: pids_sorted(True))
        assert asc[0] < desc[0], (asc, desc)
        pane.send("q")
        wait_for("the shell back, exit 0", lambda: "top-exit=0" in pane.screen())
        assert "PID" not in pane.screen() and "Mem  [" not in pane.screen(), "the alternate screen was left"
    finally:
        for p in [probe, *crowd]:
            p.kill()
            p.wait()


def status(pane):
    """The screen's last line: the status line, or the prompt being typed."""
    return pane.screen().rstrip("\n").splitlines()[-1]


def top_filtered(pane, text):
    """`sysmon top` in the pane, its processes filtered by `text` (typed after `/`, kept)."""
    pane.run(f"{sysmon_bin()} top; echo top-exit=$?")
    wait_for("the view", lambda: "PID" in pane.screen())
    pane.send("/")
    pane.type(text)
    pane.send("Enter")


@needs_tmux
def test_k_signals_the_process_shown(pane, tmp_path):
    """`k` offers the top row's pid, sends TERM unless a signal is typed, says so; a bad line is
    refused with a message and sends nothing."""
    token = f"stk-{uuid.uuid4().hex[:8]}"
    shutil.copy(shutil.which("sleep"), tmp_path / token)
    probe = subprocess.Popen([f"./{token}", "600"], cwd=tmp_path)
    try:
        top_filtered(pane, token)
        wait_for("the probe alone", lambda: [p for p, _ in process_rows(pane.screen())] == [probe.pid])
        # A bad signal: refused, said, the probe untouched.
        pane.send("k")
        wait_for("the prompt with the probe's pid", lambda: status(pane).startswith(f"kill PID [SIGNAL]: {probe.pid}_"))
        pane.type(" NOPE")
        pane.send("Enter")
        wait_for("the refusal", lambda: "is not PID [SIGNAL]" in status(pane))
        assert probe.poll() is None
        # The pid offered, a signal by name.
        pane.send("k")
        wait_for("the prompt again", lambda: status(pane).startswith(f"kill PID [SIGNAL]: {probe.pid}_"))
        pane.type(" hup")
        pane.send("Enter")
        wait_for("said", lambda: f"sent SIGHUP to {probe.pid}" in status(pane))
        assert probe.wait(timeout=30) == -signal.SIGHUP
        pane.send("q")
        wait_for("the shell back, exit 0", lambda: "top-exit=0" in pane.screen())
    finally:
        if probe.poll() is None:
            probe.kill()
        probe.wait()


@needs_tmux
def test_t_draws_children_under_their_parent(pane, tmp_path):
    token = f"stt-{uuid.uuid4().hex[:8]}"
    shutil.copy(shutil.which("sleep"), tmp_path / token)
    shutil.copy(shutil.which("sh"), tmp_path / f"{token}-sh")
    # A shell of a unique name with a child of a unique name (`; :` keeps it from exec'ing).
    parent = subprocess.Popen([f"./{token}-sh", "-c", f"./{token} 600; :"], cwd=tmp_path, start_new_session=True)
    try:
        top_filtered(pane, token)
        pane.send("t")

        def tree():
            rows = process_rows(pane.screen())
            return len(rows) == 2 and rows[0][0] == parent.pid and f"└─ ./{token} 600" in rows[1][1] and rows

        wait_for("the child under its parent", tree)
        assert "tree" in status(pane)
        pane.send("t")
        wait_for("the tree off", lambda: "└─" not in pane.screen() and len(process_rows(pane.screen())) == 2)
        pane.send("q")
        wait_for("the shell back, exit 0", lambda: "top-exit=0" in pane.screen())
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the shell and its child: a group of their own
        parent.wait()


@needs_tmux
def test_read_only_sends_no_signal_and_d_sets_the_refresh(pane):
    pane.run(f"{sysmon_bin()} top --read-only; echo top-exit=$?")
    wait_for("the view", lambda: "PID" in pane.screen() and "live every 1s" in pane.screen())
    pane.send("k")
    wait_for("the refusal", lambda: "k sends no signal: started with --read-only" in pane.screen())
    assert "kill PID" not in pane.screen()
    # d offers the interval in effect; a new one shows in the top line.
    pane.send("d")
    wait_for("the prompt", lambda: "refresh every: 1s_" in pane.screen())
    pane.send("BSpace")
    pane.send("BSpace")
    pane.type("2500ms")
    pane.send("Enter")
    wait_for("the new interval", lambda: "live every 2.5s" in pane.screen())
    pane.send("q")
    wait_for("the shell back, exit 0", lambda: "top-exit=0" in pane.screen())


@needs_tmux
def test_sigterm_restores_the_terminal(pane):
    pane.run(f"{sysmon_bin()} top; echo top-exit=$?")
    wait_for("the view", lambda: "PID" in pane.screen())
    shell = int(pane.tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
    top = wait_for("the view's process", lambda: open(f"/proc/{shell}/task/{shell}/children").read().split())
    os.kill(int(top[0]), signal.SIGTERM)
    wait_for("the shell back, exit 143", lambda: "top-exit=143" in pane.screen())
    assert "PID" not in pane.screen()
    # Raw mode is off again: the shell echoes what is typed, and runs it.
    pane.run("echo cooked-$((40+2))")
    wait_for("a cooked terminal", lambda: "cooked-42" in pane.screen())


@needs_tmux
def test_a_closed_terminal_ends_the_view(tmp_path):
    """The pane closes under it (tmux's server killed): the view exits, never spinning on the
    terminal's end of file."""
    sock = f"sysmon-test-hup-{os.getpid()}"
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "h", "-x", "100", "-y", "30",
                    f"exec {sysmon_bin()} top"], check=True)
    try:
        pid = int(subprocess.run(["tmux", "-L", sock, "display-message", "-p", "-t", "h", "#{pane_pid}"],
                                 check=True, capture_output=True, text=True).stdout)
        wait_for("the view", lambda: "PID" in subprocess.run(
            ["tmux", "-L", sock, "capture-pane", "-p", "-t", "h"], capture_output=True, text=True).stdout)
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)

    def gone():
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    try:
        wait_for("the view to exit", gone, timeout=10)
    finally:
        if not gone():
            os.kill(pid, signal.SIGKILL)


@needs_tmux
def test_a_panic_restores_the_terminal_first(pane):
    pane.run(f"SYSMON_TEST_TOP_PANIC=1 {sysmon_bin()} top; echo top-exit=$?")
    screen = wait_for("the shell back, exit 101", lambda: "top-exit=101" in (s := pane.screen()) and s)
    assert "a panic to test that the terminal is restored" in screen, screen
    assert "PID" not in screen
    pane.run("echo cooked-$((40+2))")
    wait_for("a cooked terminal", lambda: "cooked-42" in pane.screen())


@needs_tmux
def test_replay_a_recording_and_step(pane, tmp_path):
    exe = sysmon_bin()
    rec = tmp_path / "rec"
    recorder = subprocess.Popen(
        [exe, "record", str(rec), "--interval", "200ms", "--flush-interval", "1s", "--tables", "metrics,cpus,disks,networks,processes",
         "--process-interval", "1s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait for the metrics log to grow twice (a flush a second: five samples of 200 ms each time);
    # the replay reads the log too.
    sizes = set()

    def grown():
        assert recorder.poll() is None, recorder.communicate()
        sizes.add(sum(f.stat().st_size for f in (rec / "metrics").rglob("*") if f.is_file()) if rec.is_dir() else 0)
        return len(sizes - {0}) >= 2

    try:
        wait_for("two flushes of samples", grown, timeout=30)
    finally:
        recorder.send_signal(signal.SIGTERM)
        out, err = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, (out, err)

    # Times in the local zone (a POSIX TZ, 5:30 east of UTC, so no zone database is needed).
    pane.run(f"TZ=XYZ-5:30 {exe} top --replay {rec}; echo top-exit=$?")
    header = re.compile(r"replay (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) XYZ \[(\d+)/(\d+)\]")

    def shown():
        m = header.search(pane.screen())
        return m and (m.group(1), int(m.group(2)), int(m.group(3)))

    t1, i1, n = wait_for("the replay header", shown)
    assert i1 == n and n >= 5, (t1, i1, n)
    local_now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=5, minutes=30)
    shown_t = datetime.datetime.strptime(t1, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
    assert abs((local_now - shown_t).total_seconds()) < 300, (t1, local_now)
    assert "PID" in pane.screen()
    pane.send("Left")
    t2, i2, _ = wait_for("the cursor one sample back", lambda: (s := shown()) and s[1] == n - 1 and s)
    assert t2 < t1, (t1, t2)
    pane.send("PageUp")
    first, _, _ = wait_for("the cursor at the first sample", lambda: (s := shown()) and s[1] == 1 and s)
    # `g` and a time: the newest sample.
    pane.send("g")
    pane.type("-0s")
    pane.send("Enter")
    wait_for("the cursor at the newest sample again", lambda: (s := shown()) and s[1] == n)
    pane.send("q")
    wait_for("the shell back", lambda: "top-exit=0" in pane.screen())
    # --at before the recording: its first sample.
    pane.run("clear")
    pane.run(f"TZ=XYZ-5:30 {exe} top --replay {rec} --at 2000-01-01; echo top-exit=$?")
    wait_for("the first sample", lambda: (s := shown()) and s[1] == 1 and s[2] == n)
    pane.send("q")
    wait_for("the shell back", lambda: "top-exit=0" in pane.screen())
    # --at in local time: the first sample's shown time (to the second) is the first sample;
    # read as UTC it would be 5:30 after the recording, the newest.
    pane.run("clear")
    pane.run(f"TZ=XYZ-5:30 {exe} top --replay {rec} --at '{first[:19]}'; echo top-exit=$?")
    wait_for("the first sample, from its local time", lambda: (s := shown()) and s[1] == 1 and s[2] == n)
    pane.send("q")
    wait_for("the shell back", lambda: "top-exit=0" in pane.screen())


def own_cgroup():
    """This process's cgroup path as `system_cgroups().path` has it: the v2 one, else the v1
    memory hierarchy's (a hybrid host)."""
    lines = dict(l.split(":", 2)[1:] for l in open("/proc/self/cgroup").read().splitlines())
    return lines.get("memory") or lines.get("")


@needs_tmux
def test_live_sockets_and_cgroups_panes(pane):
    """A socket this test listens on, on a port of its own, in the Sockets pane (with this
    process as its holder); this process's cgroup in the Cgroups pane (sorted by path, found
    after `/` with its path)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        pane.run(f"{sysmon_bin()} top; echo top-exit=$?")
        wait_for("the view", lambda: "PID" in pane.screen() and process_rows(pane.screen()))
        for _ in range(5):
            pane.send("Tab")
        row = wait_for(
            "the test's listening socket",
            lambda: next((l for l in pane.screen().splitlines() if f"127.0.0.1:{port} " in l), None),
        )
        assert row.startswith("tcp") and "LISTEN" in row, row
        # The owner shown is this process, which made the socket: not a child forked from it
        # that shares the descriptor and, once pids wrap on a long CI run, has a lower pid.
        assert str(os.getpid()) in row.split(), row
        assert "LOCAL ADDRESS:PORT" in pane.screen()
        pane.send("BTab")
        wait_for("the cgroups pane", lambda: "PATH" in (s := pane.screen()) and "LIMIT" in s)
        pane.send("p")
        mine = own_cgroup()
        # A host may have more cgroups than the pane has lines: filter by this one's path.
        pane.send("/")
        pane.type(mine)
        pane.send("Enter")
        screen = wait_for("this process's cgroup", lambda: (s := pane.screen()) and any(
            l.rstrip().endswith(mine) for l in s.splitlines()) and s)
        line = next(l for l in screen.splitlines() if l.rstrip().endswith(mine))
        assert re.match(r"^\s*(-|\d+\.\d)\s", line), line
        pane.send("q")
        wait_for("the shell back, exit 0", lambda: "top-exit=0" in pane.screen())
    finally:
        listener.close()


def spool_sizes(spool):
    return sum(f.stat().st_size for f in Path(spool).rglob("*") if f.is_file()) if Path(spool).is_dir() else 0


@needs_tmux
def test_replay_a_bucket_and_step(pane, tmp_path):
    """`sysmon top --replay s3://bucket/prefix` against a local moto server: a few seconds
    recorded into it with `sysmon record`, replayed, `←` moving the shown time back."""
    pytest.importorskip("boto3")
    from s3_server import S3Server, moto_server_path

    try:
        moto_server_path()
    except RuntimeError as e:
        pytest.skip(str(e))
    exe = sysmon_bin()
    with S3Server(bucket=f"top-{os.getpid()}") as s3:
        env = dict(os.environ, **s3.env())
        spool = tmp_path / "spool"
        recorder = subprocess.Popen(
            [exe, "record", f"s3://{s3.bucket}/fleet", "--interval", "200ms", "--tables", "metrics,cpus",
             "--endpoint", s3.endpoint, "--spool", str(spool), "--flush-interval", "400ms", "--upload-interval", "1m"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        sizes = set()

        def grown():
            assert recorder.poll() is None, recorder.communicate()
            sizes.add(spool_sizes(spool))
            return len(sizes - {0}) >= 3

        try:
            wait_for("a few flushes into the spool", grown, timeout=30)
        finally:
            recorder.send_signal(signal.SIGTERM)
            out, err = recorder.communicate(timeout=60)
        assert recorder.returncode == 0, (out, err)
        assert any(k.startswith("fleet/metrics/") for k in s3.keys()), s3.keys()
        pane.run(" ".join(f"{k}={v}" for k, v in s3.env().items())
                 + f" TZ=UTC0 {exe} top --replay s3://{s3.bucket}/fleet --endpoint {s3.endpoint}; echo top-exit=$?")
        header = re.compile(r"replay (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC \[(\d+)/(\d+)\]")

        def shown():
            m = header.search(pane.screen())
            return m and (m.group(1), int(m.group(2)), int(m.group(3)))

        t1, i1, n = wait_for("the replay header", shown, timeout=30)
        assert i1 == n and n >= 3, (t1, i1, n)
        pane.send("Left")
        t2, _, _ = wait_for("the cursor one sample back", lambda: (s := shown()) and s[1] == n - 1 and s)
        assert t2 < t1, (t1, t2)
        pane.send("q")
        wait_for("the shell back, exit 0", lambda: "top-exit=0" in pane.screen())


def test_not_a_terminal_is_exit_2():
    r = subprocess.run([sysmon_bin(), "top"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "not a terminal" in r.stderr


def test_missing_and_empty_recordings_are_clear_errors(tmp_path):
    exe = sysmon_bin()
    r = subprocess.run([exe, "top", "--replay", str(tmp_path / "nope")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "does not exist" in r.stderr, r
    (tmp_path / "empty").mkdir()
    r = subprocess.run([exe, "top", "--replay", str(tmp_path / "empty")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "no recording" in r.stderr, r
    r = subprocess.run([exe, "top", "--at", "-5m"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--replay" in r.stderr, r
