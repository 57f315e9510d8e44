"""serve_metrics, servers, stop_serving end to end: the server as a client sees it.

Every server here listens on 127.0.0.1 on a port the kernel picks (`port := 0`) and is stopped
by the test (or by its process's exit). The security list of issue 10: no token, a wrong token,
a token in the wrong case, a huge header, a slow client, a path outside the routes (raw and
URL-encoded), a port in use, lockdown: each refused cleanly, and the server keeps serving.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import duckdb
import pytest

from conftest import connect, extension_path, one
from recorder_helpers import wait_for

VERSION = tuple(int(x) for x in duckdb.__version__.split(".")[:3] if x.isdigit())
SEES_LOCKDOWN = VERSION >= (1, 5, 6)


def token_of(url):
    return url.split("token=", 1)[1]


def http(port, target, headers=None, method="GET"):
    """(status, headers, body) of one request; errors are answers too."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{target}", headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def raw(port, data, timeout=15):
    """Sends bytes as they are (no client-side path normalisation) and reads the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    return out


def status_of(answer):
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


@pytest.fixture
def server():
    con = connect()
    row = one(con, "SELECT * FROM serve_metrics(port := 0)")
    yield con, row
    try:
        con.execute("SELECT * FROM stop_serving(?)", [row["id"]]).fetchall()
    except duckdb.Error:
        pass
    con.close()


def serving(port, token):
    """The server still answers a good request."""
    status, _, body = http(port, "/metrics", {"Authorization": f"Bearer {token}"})
    return status == 200 and b"node_cpu_seconds_total" in body


def test_metrics_agree_with_the_tables(server):
    con, row = server
    port, token = row["port"], token_of(row["url"])
    assert row["bind"] == "127.0.0.1" and row["url"] == f"http://127.0.0.1:{port}/?token={token}"
    assert len(token) == 48 and all(c in "0123456789abcdef" for c in token)
    status, headers, body = http(port, "/metrics", {"Authorization": f"Bearer {token}"})
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = body.decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    m = one(con, "SELECT mem_total_bytes, swap_total_bytes FROM system_metrics()")
    assert samples["node_memory_MemTotal_bytes"] == m["mem_total_bytes"]
    assert samples["node_memory_SwapTotal_bytes"] == m["swap_total_bytes"]
    cpus = con.execute("SELECT count(*) FROM system_cpus()").fetchone()[0]
    idle = [s for s in samples if s.startswith("node_cpu_seconds_total{") and 'mode="idle"' in s]
    assert len(idle) == cpus
    # Counters only grow: a second scrape is at least the first.
    _, _, body2 = http(port, "/metrics", {"Authorization": f"Bearer {token}"})
    later = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in body2.decode().splitlines() if l and l[0] != "#"}
    for s in idle:
        assert later[s] >= samples[s]
    assert "sysmon_process_" not in text, "processes only when asked"
    _, _, body = http(port, "/metrics?collect%5B%5D=processes", {"Authorization": f"Bearer {token}"})
    assert f'sysmon_process_resident_memory_bytes{{pid="{os.getpid()}"'.encode() in body
    r = one(con, "SELECT * FROM servers() WHERE id = ?", [row["id"]])
    assert r["state"] == "running" and r["requests_served"] >= 3 and r["last_error"] is None


def test_the_token_in_the_url_becomes_a_cookie(server):
    _, row = server
    port, token = row["port"], token_of(row["url"])
    status, headers, body = http(port, f"/?token={token}")
    assert status == 200 and b"<html" in body.lower()
    cookie = headers["Set-Cookie"]
    assert cookie == f"sysmon_token_{port}={token}; HttpOnly; SameSite=Strict; Path=/"
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    status, _, body = http(port, "/api/live", {"Cookie": f"sysmon_token_{port}={token}"})
    assert status == 200 and body.startswith(b"{")
    assert http(port, "/api/live", {"Cookie": f"sysmon_token_{port + 1}={token}"})[0] == 401


def test_every_refusal_is_clean_and_the_server_keeps_serving(server):
    con, row = server
    port, token = row["port"], token_of(row["url"])
    refused_before = one(con, "SELECT requests_refused FROM servers() WHERE id = ?", [row["id"]])["requests_refused"]
    cases = {
        "no token": lambda: http(port, "/metrics")[0],
        "wrong token": lambda: http(port, "/metrics?token=" + "0" * 48)[0],
        "wrong case": lambda: http(port, "/metrics?token=" + token.upper())[0],
        "wrong bearer": lambda: http(port, "/metrics", {"Authorization": "Bearer " + token[:-1] + "x"})[0],
        "no token, root": lambda: http(port, "/")[0],
        "raw ..": lambda: status_of(raw(port, f"GET /../../etc/passwd?token={token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())),
        "encoded ..": lambda: status_of(raw(port, f"GET /%2e%2e/%2e%2e/etc/passwd?token={token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())),
        "upper encoded ..": lambda: status_of(raw(port, f"GET /%2E%2E/etc/passwd?token={token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())),
        "no route": lambda: http(port, f"/etc/passwd?token={token}")[0],
        "POST": lambda: http(port, f"/metrics?token={token}", method="POST")[0],
        "huge header": lambda: status_of(raw(port, f"GET /metrics?token={token} HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 100_000}\r\nConnection: close\r\n\r\n".encode())),
    }
    expected = {"no token": 401, "wrong token": 401, "wrong case": 401, "wrong bearer": 401, "no token, root": 401,
                "raw ..": 400, "encoded ..": 400, "upper encoded ..": 400, "no route": 404, "POST": 405,
                "huge header": 431}
    for name, case in cases.items():
        assert case() == expected[name], name
        assert serving(port, token), f"not serving after: {name}"
    # A 431 is counted when its connection ends, which may be just after the client read it.
    def refused():
        return one(con, "SELECT requests_refused FROM servers() WHERE id = ?", [row["id"]])["requests_refused"] - refused_before

    wait_for(lambda: refused() >= len(cases), timeout=30)
    assert refused() >= len(cases)


def test_a_slow_client_is_cut_off_while_others_are_served(server):
    _, row = server
    port, token = row["port"], token_of(row["url"])
    slow = socket.create_connection(("127.0.0.1", port))
    silent = socket.create_connection(("127.0.0.1", port))  # sends nothing at all
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the end of the head
    started = time.monotonic()
    for _ in range(3):
        assert serving(port, token)
    # The silent one within 1 s of connecting (FIRST_BYTE_TIMEOUT), the slow one after 5 s
    # (HEAD_TIMEOUT); each waited for with a deadline of 25 s.
    for s, least, limit in ((silent, 0.5, "1 s to the first byte"), (slow, 3, "5 s to the end of the head")):
        s.settimeout(30)
        try:
            rest = s.recv(1024)
        except ConnectionResetError:
            rest = b""
        waited = time.monotonic() - started
        assert not rest.startswith(b"HTTP/1.1 200"), rest
        assert least <= waited < 25, f"cut off after {waited:.1f} s (the limit is {limit})"
        s.close()
    assert serving(port, token)


def test_port_in_use_and_bad_arguments_start_nothing(server):
    con, row = server
    before = con.execute("SELECT count(*) FROM servers()").fetchone()[0]
    with pytest.raises(duckdb.Error, match=f"port {row['port']} on 127.0.0.1 is in use"):
        con.execute(f"SELECT * FROM serve_metrics(port := {row['port']})").fetchall()
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        with pytest.raises(duckdb.Error, match="is in use"):
            con.execute(f"SELECT * FROM serve_metrics(port := {taken})").fetchall()
    with pytest.raises(duckdb.Error, match="bind must be an IP address"):
        con.execute("SELECT * FROM serve_metrics(port := 0, bind := 'not an address')").fetchall()
    assert con.execute("SELECT count(*) FROM servers()").fetchone()[0] == before
    assert serving(row["port"], token_of(row["url"]))


def test_dir_must_be_a_recording(tmp_path):
    con = connect()
    (tmp_path / "empty").mkdir()
    with pytest.raises(duckdb.Error, match="is not a sysmon recording"):
        con.execute(f"SELECT * FROM serve_metrics(port := 0, dir := '{tmp_path}/empty')").fetchall()
    rid = con.execute(
        f"SELECT id FROM record_metrics('{tmp_path}/rec', INTERVAL 100 MILLISECONDS, tables := ['metrics'])"
    ).fetchone()[0]
    con.execute("SELECT * FROM stop_recording(?)", [rid]).fetchall()
    row = one(con, f"SELECT * FROM serve_metrics(port := 0, dir := '{tmp_path}/rec')")
    assert row["dir"] == f"{tmp_path}/rec"
    assert one(con, "SELECT dir FROM servers() WHERE id = ?", [row["id"]])["dir"] == row["dir"]
    con.execute("SELECT * FROM stop_serving(?)", [row["id"]]).fetchall()
    con.close()


def test_lockdown_refuses_serving(tmp_path):
    con = connect()
    con.execute("SET enable_external_access = false")
    if not SEES_LOCKDOWN:
        # Documented: before DuckDB 1.5.6 sysmon cannot see the setting, and serving starts.
        row = one(con, "SELECT * FROM serve_metrics(port := 0)")
        con.execute("SELECT * FROM stop_serving(?)", [row["id"]]).fetchall()
        return
    with pytest.raises(duckdb.Error, match="serve_metrics\\(\\) is refused: enable_external_access is false"):
        con.execute("SELECT * FROM serve_metrics(port := 0)").fetchall()
    # servers() and stop_serving() read nothing of the host: allowed.
    assert con.execute("SELECT count(*) FROM servers()").fetchone()[0] >= 0
    con.close()


def test_closing_the_database_does_not_stop_it_and_no_connection_is_kept(tmp_path):
    db = tmp_path / "file.duckdb"
    con = connect(str(db))
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    row = one(con, "SELECT * FROM serve_metrics(port := 0)")
    con.close()
    port, token = row["port"], token_of(row["url"])
    assert serving(port, token)
    # Another process can open the file read-write: the server holds no connection to it.
    done = subprocess.run(
        [sys.executable, "-c", f"import duckdb; c = duckdb.connect('{db}'); c.execute('INSERT INTO t VALUES (2)'); print(c.execute('SELECT count(*) FROM t').fetchone()[0])"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr
    other = connect()
    assert one(other, "SELECT state FROM servers() WHERE id = ?", [row["id"]])["state"] == "running"
    assert serving(port, token)
    final = one(other, "SELECT * FROM stop_serving(?)", [row["id"]])
    assert final["state"] == "stopped" and final["requests_served"] >= 2
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    other.close()


def test_the_process_exits_cleanly_with_a_server_running():
    script = f"""
import duckdb, urllib.request
con = duckdb.connect(config={{"allow_unsigned_extensions": "true"}})
con.execute("LOAD '{extension_path()}'")
url = con.execute("SELECT url FROM serve_metrics(port := 0)").fetchone()[0]
print(url, flush=True)
body = urllib.request.urlopen(url.replace("/?", "/metrics?"), timeout=30).read()
assert b"node_load1" in body
"""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    port = int(done.stdout.split(":")[2].split("/")[0])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_describe_starts_nothing():
    con = connect()
    before = con.execute("SELECT count(*) FROM servers()").fetchone()[0]
    con.execute("DESCRIBE SELECT * FROM serve_metrics(port := 0)").fetchall()
    con.execute("PREPARE p AS SELECT * FROM serve_metrics(port := 0)")
    assert con.execute("SELECT count(*) FROM servers()").fetchone()[0] == before
    con.close()


class Attacker:
    """`count` TCP connections to `port` that send nothing (every `partial`-th one the start of
    a request head that it never ends), each reopened as soon as the server closes it (the
    lockout of issue 23), on a thread of their own."""

    def __init__(self, port, count, partial=0):
        import selectors
        import threading

        self.port, self.count, self.partial = port, count, partial
        self.opened = 0
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open_one(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            return False
        if self.partial and self.opened % self.partial == 0:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        self.sel.register(s, 1)  # EVENT_READ: the server closed it (EOF or reset)
        self.opened += 1
        return True

    def run(self):
        while not self.stop.is_set():
            while len(self.sel.get_map()) < self.count and not self.stop.is_set():
                if not self.open_one():
                    break
            for key, _ in self.sel.select(timeout=0.05):
                self.sel.unregister(key.fileobj)
                key.fileobj.close()
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.mark.parametrize("partial", [0, 3], ids=["silent", "some-send-a-partial-head"])
def test_idle_connections_cannot_lock_out_a_scraper_or_the_dashboard(server, partial):
    """200 connections that send nothing (or, every third, an unfinished head), reopened as
    they close, for at least 6 s: authenticated scrapes and dashboard loads are still answered
    (issue 23: before, 84 of 100 scrapes failed; 0 of 100 against this test)."""
    con, row = server
    port, token = row["port"], token_of(row["url"])
    shed_before = one(con, "SELECT connections_shed FROM servers() WHERE id = ?", [row["id"]])["connections_shed"]
    ok = failed = 0
    errors = []
    with Attacker(port, 200, partial) as attacker:
        assert wait_for(lambda: attacker.opened >= 200, timeout=30), attacker.opened
        started = time.monotonic()
        i = 0
        # At least 100 requests, over at least 6 s (the attacker's connections time out and
        # are reopened meanwhile); the time is a measuring window, not a wait for a condition.
        while i < 100 or time.monotonic() - started < 6:
            i += 1
            try:
                if i % 4 == 3:
                    status, _, body = http(port, f"/?token={token}")
                    good = status == 200 and b"<html" in body.lower()
                else:
                    status, _, body = http(port, "/metrics", {"Authorization": f"Bearer {token}"})
                    good = status == 200 and b"node_cpu_seconds_total" in body
            except OSError as e:
                good = False
                errors.append(repr(e))
            ok, failed = ok + good, failed + (not good)
        elapsed = time.monotonic() - started
        reopened = attacker.opened - 200
    r = one(con, "SELECT * FROM servers() WHERE id = ?", [row["id"]])
    shed = r["connections_shed"] - shed_before
    print(f"\n{ok} of {ok + failed} answered in {elapsed:.1f} s; attacker reopened {reopened}; "
          f"shed {shed}, refused {r['connections_refused']}; errors {errors[:3]}")
    assert ok >= 0.95 * (ok + failed), (ok, failed, errors[:5])
    assert reopened >= 200, "the attacker's connections were not closed and reopened: nothing was tested"
    assert shed >= reopened // 2, (shed, reopened)
    assert serving(port, token)


def test_a_token_file_keeps_the_token_across_a_restart_of_the_process(tmp_path):
    token_file = tmp_path / "serve.token"
    script = f"""
import duckdb, urllib.request
con = duckdb.connect(config={{"allow_unsigned_extensions": "true"}})
con.execute("LOAD '{extension_path()}'")
sid, url = con.execute("SELECT id, url FROM serve_metrics(port := 0, token_file := '{token_file}')").fetchone()
print(url, flush=True)
assert b"node_load1" in urllib.request.urlopen(url.replace("/?", "/metrics?"), timeout=30).read()
shown = con.execute("SELECT * FROM servers() WHERE id = ?", [sid]).fetchall()
assert url.split("token=")[1] not in repr(shown), shown
print(shown[0][0:6], flush=True)
"""
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60) for _ in range(2)]
    for done in runs:
        assert done.returncode == 0, done.stderr
    tokens = [token_of(done.stdout.splitlines()[0]) for done in runs]
    assert tokens[0] == tokens[1], "the second process read the token the first one created"
    assert token_file.read_text() == tokens[0] + "\n"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert str(token_file) in runs[0].stdout.splitlines()[1], "servers() names the token file"
    assert sorted(os.listdir(tmp_path)) == ["serve.token"], "no temporary file left"


def test_a_token_file_given_by_hand_and_the_files_refused(tmp_path):
    con = connect()
    mine = "sysmon-" + "x" * 40
    good = tmp_path / "good.token"
    good.write_text(mine + "\n")
    good.chmod(0o600)
    row = one(con, f"SELECT * FROM serve_metrics(port := 0, token_file := '{good}')")
    assert token_of(row["url"]) == mine
    assert serving(row["port"], mine)
    r = one(con, "SELECT url, token_file FROM servers() WHERE id = ?", [row["id"]])
    assert r == {"url": f"http://127.0.0.1:{row['port']}/", "token_file": str(good)}
    con.execute("SELECT * FROM stop_serving(?)", [row["id"]]).fetchall()

    before = con.execute("SELECT count(*) FROM servers()").fetchone()[0]
    open_file = tmp_path / "open.token"
    open_file.write_text(mine)
    open_file.chmod(0o644)
    link = tmp_path / "link.token"
    link.symlink_to(good)
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    empty.chmod(0o600)
    refused = {
        open_file: "has mode 0644: its group or others may read or change it; it must be readable by its owner only, mode 0600 or 0400",
        link: "is a symbolic link",
        empty: "is empty",
        tmp_path: "is a directory",
        tmp_path / "no" / "such.token": "create the directory first",
    }
    for path, why in refused.items():
        with pytest.raises(duckdb.Error, match=re.escape(why)):
            con.execute(f"SELECT * FROM serve_metrics(port := 0, token_file := '{path}')").fetchall()
    assert con.execute("SELECT count(*) FROM servers()").fetchone()[0] == before, "nothing started"
    # DESCRIBE binds without starting: the file is not created.
    con.execute(f"DESCRIBE SELECT * FROM serve_metrics(port := 0, token_file := '{tmp_path}/later.token')").fetchall()
    assert not (tmp_path / "later.token").exists()
    con.close()
