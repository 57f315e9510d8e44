"""Alerts end to end (issue 23): alert_metrics, alerts(), stop_alert(), alert_transitions(), a
webhook receiver on 127.0.0.1, the recorded `alerts` table, the lockdown, /metrics' ALERTS.

Every wait is for a condition with a deadline; conditions are driven by the test (a process of
a unique name, a flag file).
"""

import http.server
import json
import os
import shutil
import signal
import sys
import subprocess
import threading
import time
import urllib.request
import uuid

import duckdb
import pytest

from conftest import connect, one, rows

VERSION = tuple(int(x) for x in duckdb.__version__.split(".")[:3] if x.isdigit())
SEES_LOCKDOWN = VERSION >= (1, 5, 6)


def wait_for(what, cond, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Receiver:
    """An Alertmanager-style webhook receiver on 127.0.0.1; it can be stopped and started again
    on the same port."""

    def __init__(self):
        self.bodies = []
        self.lock = threading.Lock()
        self.port = 0
        self.httpd = None
        self.start()

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def got(self):
        with self.lock:
            return list(self.bodies)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def acon():
    c = connect()
    yield c
    for (name,) in c.execute("SELECT DISTINCT name FROM alerts()").fetchall():
        c.execute("SELECT * FROM stop_alert(?)", [name]).fetchall()
    c.close()


def unique(prefix):
    return prefix + uuid.uuid4().hex[:6]


def alert(con, name):
    return one(con, "SELECT * FROM alerts() WHERE name = ?", [name])


def transitions(con, name):
    return rows(con, "SELECT seq, ts, state, labels, value FROM alert_transitions() WHERE alertname = ? ORDER BY seq", [name])


def test_fires_after_for_and_not_before_then_resolves_when_the_process_dies(acon, receiver, tmp_path):
    comm = unique("smalrt")
    exe = tmp_path / comm
    shutil.copy("/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "300"])
    try:
        name = unique("proc_")
        started = one(acon, f"""SELECT name, state FROM alert_metrics('{name}',
            'SELECT name, pid FROM system_processes() WHERE name = ''{comm}''',
            every := 1, "for" := INTERVAL 3 SECONDS, severity := 'critical',
            summary := '{{name}} runs as pid {{pid}}', webhook := '{receiver.url}')""")
        assert started == {"name": name, "state": "inactive"}
        pending = wait_for("pending", lambda: (r := alert(acon, name))["state"] == "pending" and r)
        assert json.loads(pending["labels"]) == {"name": comm}
        assert pending["value"] == proc.pid
        assert pending["summary"] == f"{comm} runs as pid {proc.pid}"
        assert receiver.got() == [], "pending is not announced"
        wait_for("firing", lambda: receiver.got())
        body = receiver.got()[0]
        assert body["version"] == "4" and body["status"] == "firing"
        (a,) = body["alerts"]
        assert a["labels"]["alertname"] == name and a["labels"]["name"] == comm
        assert a["labels"]["severity"] == "critical"
        assert a["annotations"]["summary"] == f"{comm} runs as pid {proc.pid}"
        assert a["endsAt"] == "0001-01-01T00:00:00Z"
        t = transitions(acon, name)
        assert [x["state"] for x in t] == ["pending", "firing"]
        assert (t[1]["ts"] - t[0]["ts"]).total_seconds() >= 3, "not before `for`"
        assert one(acon, f"SELECT state FROM alerts() WHERE name = '{name}'")["state"] == "firing"
        proc.kill()
        proc.wait()
        wait_for("resolved", lambda: len(receiver.got()) >= 2)
        r = receiver.got()[1]
        assert r["status"] == "resolved" and r["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        assert one(acon, f"SELECT state, notifications_sent, last_delivery_status, last_delivery_http_status FROM alerts() WHERE name = '{name}'") == {
            "state": "inactive", "notifications_sent": 2, "last_delivery_status": "delivered", "last_delivery_http_status": 200}
        assert [x["state"] for x in transitions(acon, name)] == ["pending", "firing", "resolved"]
    finally:
        proc.kill()
        proc.wait()


def test_a_service_missing_rule_and_repeat(acon, receiver):
    name = unique("missing_")
    svc = unique("nosuch")
    acon.execute(f"""SELECT * FROM alert_metrics('{name}',
        'SELECT ''{svc}'' AS service WHERE NOT EXISTS (SELECT 1 FROM system_processes() WHERE name = ''{svc}'')',
        every := 1, repeat := 2, webhook := '{receiver.url}')""").fetchall()
    wait_for("a repeat", lambda: len(receiver.got()) >= 2)
    states = [x["state"] for x in transitions(acon, name)]
    assert states[:2] == ["firing", "repeat"], states
    assert all(b["status"] == "firing" for b in receiver.got())
    assert receiver.got()[0]["alerts"][0]["labels"]["service"] == svc


def test_a_receiver_down_for_20_s_receives_every_transition_once_and_in_order(acon, receiver, tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("off")
    name = unique("flag_")
    acon.execute(f"""SELECT * FROM alert_metrics('{name}',
        'SELECT ''{flag}'' AS file FROM read_text(''{flag}'') WHERE content = ''on''',
        every := 1, webhook := '{receiver.url}')""").fetchall()
    wait_for("an evaluation", lambda: one(acon, f"SELECT evaluations FROM alerts() WHERE name = '{name}'")["evaluations"] >= 1)
    receiver.stop()
    down_at = time.monotonic()
    want = []
    for i in range(3):
        for state in ("on", "off"):
            flag.write_text(state)
            expect = "firing" if state == "on" else "resolved"
            want.append(expect)
            wait_for(expect, lambda: [x["state"] for x in transitions(acon, name)] == want)
    # Evaluations went on while the receiver was down; posts failed and were kept.
    row = one(acon, f"SELECT * FROM alerts() WHERE name = '{name}'")
    assert row["notifications_sent"] == 0 and row["notifications_pending"] == 6, row
    assert row["last_delivery_status"] == "failed" and "cannot connect" in row["last_delivery_error"], row
    wait_for("20 s down", lambda: time.monotonic() - down_at >= 20, timeout=30)
    assert one(acon, f"SELECT notifications_failed FROM alerts() WHERE name = '{name}'")["notifications_failed"] >= 2
    receiver.start()
    wait_for("every notification", lambda: len(receiver.got()) >= 6, timeout=60)
    row = wait_for("the queue drained", lambda: (r := alert(acon, name))["notifications_pending"] == 0 and r)
    got = [b["status"] for b in receiver.got()]
    assert got == want, got
    assert row["notifications_sent"] == 6 and row["notifications_dropped"] == 0, row
    assert row["last_delivery_status"] == "delivered" and row["last_delivery_error"] is None


def test_transitions_are_recorded_in_dir_and_read_back(acon, tmp_path):
    rec = tmp_path / "rec"
    flag = tmp_path / "flag"
    flag.write_text("on")
    name = unique("rec_")
    row = one(acon, f"""SELECT dir FROM alert_metrics('{name}',
        'SELECT 42 AS answer FROM read_text(''{flag}'') WHERE content = ''on''',
        every := 1, "for" := 1, dir := '{rec}')""")
    assert row["dir"] == str(rec)
    wait_for("firing", lambda: [x["state"] for x in transitions(acon, name)] == ["pending", "firing"])
    flag.write_text("off")
    wait_for("resolved", lambda: len(transitions(acon, name)) == 3)
    recorder = one(acon, f"SELECT id, tables, state FROM recordings() WHERE dir = '{rec}'")
    assert recorder["tables"] == ["alerts"] and recorder["state"] == "running"
    # A transition reaches the table at the folder's recorder's next tick (every second).
    got = wait_for("every transition in the recording", lambda: len(
        g := rows(acon, f"SELECT seq, state, labels, value, alertname, host FROM read_recording('{rec}', 'alerts') ORDER BY seq")) == 3 and g)
    live = transitions(acon, name)
    assert [(g["seq"], g["state"]) for g in got] == [(t["seq"], t["state"]) for t in live]
    assert all(g["value"] == 42 and g["labels"] == "{}" and g["alertname"] == name for g in got)
    # A recorder of the folder without the alerts table cannot take them.
    other = tmp_path / "other"
    acon.execute(f"SELECT * FROM record_metrics('{other}', 1, tables := ['metrics'])").fetchall()
    with pytest.raises(duckdb.Error, match="without the alerts table"):
        acon.execute(f"SELECT * FROM alert_metrics('{unique('x_')}', 'SELECT 1 AS one', dir := '{other}')").fetchall()
    oid = one(acon, f"SELECT id FROM recordings() WHERE dir = '{other}'")["id"]
    acon.execute("SELECT * FROM stop_recording(?)", [oid]).fetchall()
    # The folder's recorder stops with its last alert, after its final publish.
    acon.execute("SELECT * FROM stop_alert(?)", [name]).fetchall()
    assert one(acon, f"SELECT state FROM recordings() WHERE id = {recorder['id']}")["state"] == "stopped"
    files = one(acon, f"SELECT count(*) AS n FROM read_parquet('{rec}/alerts/**/*.parquet')")["n"]
    assert files == 3, "every transition once, in the published files"
    # The recorded columns are alert_transitions()' (and the read_recording host).
    live_cols = [(c[0], c[1]) for c in acon.execute("DESCRIBE SELECT * FROM alert_transitions()").fetchall()]
    file_cols = [(c[0], c[1]) for c in acon.execute(
        f"DESCRIBE SELECT * FROM read_parquet('{rec}/alerts/**/*.parquet', hive_partitioning := false)").fetchall()]
    assert file_cols == live_cols


def test_a_slow_query_is_interrupted_at_every_and_holds_up_no_other_alert(acon):
    slow = unique("slow_")
    fast = unique("fast_")
    acon.execute(f"""SELECT * FROM alert_metrics('{slow}',
        'SELECT count(*) AS n FROM range(1000000000000) a', every := 1)""").fetchall()
    acon.execute(f"SELECT * FROM alert_metrics('{fast}', 'SELECT 1 AS one', every := 1)").fetchall()
    row = wait_for("an interrupted evaluation", lambda: (r := alert(acon, slow))["evaluations_failed"] >= 1 and r)
    assert "took longer than every (1 s) and was interrupted" in row["last_error"], row
    assert row["last_evaluation_seconds"] < 5
    wait_for("the fast alert evaluating meanwhile",
             lambda: one(acon, f"SELECT evaluations FROM alerts() WHERE name = '{fast}'")["evaluations"] >= 3)
    assert one(acon, "SELECT 1 AS x")["x"] == 1, "the user's connection is free"


def test_no_secret_shows_and_an_unreachable_webhook_is_an_error_in_alerts(acon):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    name = unique("secret_")
    acon.execute(f"""SELECT * FROM alert_metrics('{name}', 'SELECT 1 AS one', every := 1,
        webhook := 'http://bot:hunter2@127.0.0.1:{port}/hook?token=s3cr3t')""").fetchall()
    row = wait_for("a failed post", lambda: (r := alert(acon, name))["notifications_failed"] >= 1 and r)
    text = json.dumps(row, default=str)
    assert "hunter2" not in text and "s3cr3t" not in text, text
    assert row["webhook"] == f"http://bot:***@127.0.0.1:{port}/hook?***"
    assert "cannot connect" in row["last_delivery_error"]
    final = rows(acon, "SELECT * FROM stop_alert(?)", [name])
    assert final[0]["notifications_dropped"] >= 1, "what was not delivered is counted"


@pytest.mark.skipif(not SEES_LOCKDOWN, reason="DuckDB before 1.5.6 cannot tell an extension its settings")
def test_the_lockdown_is_obeyed(tmp_path, receiver):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    con = connect()
    try:
        con.execute(f"SET allowed_directories = ['{allowed}']")
        con.execute("SET enable_external_access = false")
        with pytest.raises(duckdb.Error, match="enable_external_access is false, and posting to a webhook is network access"):
            con.execute(f"SELECT * FROM alert_metrics('lk1', 'SELECT 1 AS one', webhook := '{receiver.url}')").fetchall()
        with pytest.raises(duckdb.Error, match="denies access"):
            con.execute(f"SELECT * FROM alert_metrics('lk2', 'SELECT 1 AS one', dir := '{tmp_path}/elsewhere')").fetchall()
        assert not (tmp_path / "elsewhere").exists()
        # The query is checked as the caller's own would be: reading the host is refused...
        with pytest.raises(duckdb.Error, match="system_metrics\\(\\) reads the host"):
            con.execute("SELECT * FROM alert_metrics('lk3', 'SELECT load_1m FROM system_metrics()')").fetchall()
        # ...and so is DuckDB's own reading of a file outside allowed_directories.
        (tmp_path / "secret.txt").write_text("x")
        with pytest.raises(duckdb.Error, match="disabled by configuration|Permission Error"):
            con.execute(f"SELECT * FROM alert_metrics('lk4', 'SELECT content FROM read_text(''{tmp_path}/secret.txt'')')").fetchall()
        (allowed / "ok.txt").write_text("on")
        con.execute(f"SELECT * FROM alert_metrics('lk5', 'SELECT content FROM read_text(''{allowed}/ok.txt'')', every := 1, dir := '{allowed}/rec')").fetchall()
        wait_for("firing", lambda: one(con, "SELECT state FROM alerts() WHERE name = 'lk5'")["state"] == "firing")
        con.execute("SELECT * FROM stop_alert('lk5')").fetchall()
    finally:
        for (name,) in con.execute("SELECT DISTINCT name FROM alerts()").fetchall():
            con.execute("SELECT * FROM stop_alert(?)", [name]).fetchall()
        con.close()


def test_alerts_show_on_metrics_and_the_dashboard_json(acon):
    name = unique("shown_")
    acon.execute(f"""SELECT * FROM alert_metrics('{name}', 'SELECT ''/data'' AS mount_point, 97.5 AS used_pct',
        every := 1, severity := 'page', summary := '{{mount_point}} is {{used_pct}}% full')""").fetchall()
    wait_for("firing", lambda: one(acon, f"SELECT state FROM alerts() WHERE name = '{name}'")["state"] == "firing")
    srv = one(acon, "SELECT id, port, url FROM serve_metrics(port := 0)")
    token = srv["url"].split("token=", 1)[1]
    try:
        def get(path):
            req = urllib.request.Request(f"http://127.0.0.1:{srv['port']}{path}", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read().decode()
        metrics = get("/metrics")
        assert f'ALERTS{{alertname="{name}",alertstate="firing",severity="page",mount_point="/data"}} 1' in metrics, metrics
        assert f'ALERTS_FOR_STATE{{alertname="{name}",severity="page",mount_point="/data"}} ' in metrics
        live = json.loads(get("/api/live"))
        (a,) = [a for a in live["alerts"] if a["alertname"] == name]
        assert a["state"] == "firing" and a["labels"] == {"mount_point": "/data"}
        assert a["value"] == 97.5 and a["summary"] == "/data is 97.5% full"
    finally:
        acon.execute("SELECT * FROM stop_serving(?)", [srv["id"]]).fetchall()
    acon.execute("SELECT * FROM stop_alert(?)", [name]).fetchall()
    assert name not in get_or_empty(acon)


def get_or_empty(con):
    return [r[0] for r in con.execute("SELECT name FROM alerts()").fetchall()]


def test_an_alert_runs_until_the_process_exits_and_the_exit_is_clean(tmp_path, receiver):
    """A Python process that starts an alert and exits: the exit hook stops it (no hang, no
    crash), and what it recorded is in its folder."""
    script = tmp_path / "run.py"
    rec = tmp_path / "rec"
    script.write_text(f"""
import duckdb, time, sys
con = duckdb.connect(config={{"allow_unsigned_extensions": "true"}})
con.execute("LOAD '{os.path.abspath(os.environ.get('SYSMON_EXTENSION', 'build/release/sysmon.duckdb_extension'))}'")
con.execute("SELECT * FROM alert_metrics('exit_a', 'SELECT 1 AS one', every := 1, webhook := '{receiver.url}', dir := '{rec}')").fetchall()
deadline = time.monotonic() + 60
while not con.execute("SELECT count(*) FROM alert_transitions()").fetchone()[0]:
    assert time.monotonic() < deadline
    time.sleep(0.05)
print("fired", flush=True)
""")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "fired" in p.stdout
    con = connect()
    n = one(con, f"SELECT count(*) AS n FROM read_recording('{rec}', 'alerts')")["n"]
    assert n == 1
    wait_for("the firing post", lambda: len(receiver.got()) >= 1)
    con.close()


def test_a_killed_evaluator_process_leaves_a_readable_folder(tmp_path):
    """kill -9 while an alert records: the next reader sees what was flushed, each once."""
    rec = tmp_path / "rec"
    flag = tmp_path / "flag"
    flag.write_text("on")
    script = tmp_path / "run.py"
    script.write_text(f"""
import duckdb, time
con = duckdb.connect(config={{"allow_unsigned_extensions": "true"}})
con.execute("LOAD '{os.path.abspath(os.environ.get('SYSMON_EXTENSION', 'build/release/sysmon.duckdb_extension'))}'")
con.execute("SELECT * FROM alert_metrics('kill_a', 'SELECT 1 AS one FROM read_text(''{flag}'') WHERE content = ''on''', every := 1, repeat := 1, dir := '{rec}')").fetchall()
print("started", flush=True)
time.sleep(600)
""")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "started"
        con = connect()
        wait_for("a few transitions in the log", lambda: one(con, f"SELECT count(*) AS n FROM read_recording('{rec}', 'alerts')")["n"] >= 3)
        p.send_signal(signal.SIGKILL)
        p.wait()
        got = rows(con, f"SELECT seq FROM read_recording('{rec}', 'alerts') ORDER BY seq")
        seqs = [g["seq"] for g in got]
        assert seqs == sorted(set(seqs)), "no transition twice"
        assert seqs[0] == 1
        con.close()
    finally:
        p.kill()
        p.wait()


def test_the_alerts_service_script_runs_a_rules_file_and_stops_on_sigterm(tmp_path, receiver):
    """scripts/sysmon_alerts.py (the service of scripts/sysmon-alerts.service): the rules file's
    alerts run and notify; a recorder of another process in the same folder keeps its own
    tables; SIGTERM stops every alert with its final row, the transitions recorded, exit 0."""
    ext = os.path.abspath(os.environ.get("SYSMON_EXTENSION", "build/release/sysmon.duckdb_extension"))
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "scripts", "sysmon_alerts.py")
    rec = tmp_path / "rec"
    probe = unique("svcprobe_")
    rules = tmp_path / "alerts.sql"
    rules.write_text(f"""-- a comment line
SELECT name FROM alert_metrics('svc_missing',
    'SELECT ''{probe}'' AS service WHERE NOT EXISTS (SELECT 1 FROM system_processes() WHERE name = ''{probe}'')',
    every := 1, severity := 'critical', summary := '{{service}} is not running',
    webhook := '{receiver.url}', dir := '{rec}');
""")
    con = connect()
    rid = one(con, f"SELECT id FROM record_metrics('{rec}', 1, tables := ['metrics'])")["id"]
    p = subprocess.Popen([sys.executable, script, str(rules), "--extension", ext],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "1 alerts running (svc_missing)" in p.stdout.readline()
        body = wait_for("the firing notification", lambda: next(
            (b for b in receiver.got() if b["status"] == "firing"), None))
        assert body["alerts"][0]["labels"]["alertname"] == "svc_missing"
        assert body["alerts"][0]["annotations"]["summary"] == f"{probe} is not running"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert "stopping on SIGTERM" in out and "stopped svc_missing" in out, out
        assert "svc_missing" in out and "firing" in out, out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    states = [r["state"] for r in rows(con, f"SELECT state FROM read_recording('{rec}', 'alerts') ORDER BY seq")]
    assert states == ["firing"], states  # for 0: firing at once
    con.execute("SELECT * FROM stop_recording(?)", [rid]).fetchall()
    assert one(con, f"SELECT count(*) AS n FROM read_recording('{rec}', 'metrics')")["n"] >= 1
    con.close()


def test_the_alerts_service_script_refuses_a_rule_that_does_not_bind(tmp_path):
    ext = os.path.abspath(os.environ.get("SYSMON_EXTENSION", "build/release/sysmon.duckdb_extension"))
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "scripts", "sysmon_alerts.py")
    rules = tmp_path / "alerts.sql"
    rules.write_text("SELECT name FROM alert_metrics('ok', 'SELECT 1 AS one');\n\n"
                     "SELECT name FROM alert_metrics('bad', 'SELECT nope FROM system_metrics()');\n")
    p = subprocess.run([sys.executable, script, str(rules), "--extension", ext],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert f"{rules}:3:" in p.stderr and "nope" in p.stderr, p.stderr
    assert "stopped ok" in p.stdout, p.stdout
