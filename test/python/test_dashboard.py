"""The dashboard as a person uses it: a recorder running, serve_metrics serving its directory,
the page open in headless Debian chromium. Two live updates, every chart with points, the numbers
shown against system_metrics(), history loaded from the recording, no console error.
Screenshots: build/screenshots/dashboard-*.png. The /api routes' strict parsing, over HTTP.
"""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import connect
from recorder_helpers import wait_for


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    rec = tmp_path_factory.mktemp("dashboard") / "rec"
    con = connect()
    (rid,) = con.execute(
        f"SELECT id FROM record_metrics('{rec}', INTERVAL 1 SECOND, flush_interval := INTERVAL 1 SECOND, publish_interval := INTERVAL 1 SECOND)"
    ).fetchone()
    (sid, url) = con.execute(f"SELECT id, url FROM serve_metrics(port := 0, dir := '{rec}')").fetchone()

    def history_rows():
        now = int(time.time() * 1000)
        status, hosts = api(url, "/api/hosts")
        if status != 200 or not hosts["hosts"]:
            return 0
        status, h = api(url, "/api/history", table="metrics", host=hosts["hosts"][0]["host"], **{"from": now - 600_000}, to=now, width=100)
        return h["rows_read"] if status == 200 else 0

    # A flush or two (a second apart; longer on a loaded machine): history has rows.
    assert wait_for(lambda: history_rows() >= 2, timeout=60, step=0.2)
    yield con, url, rec
    con.execute(f"SELECT * FROM stop_serving({sid})").fetchall()
    con.execute(f"SELECT * FROM stop_recording({rid})").fetchall()
    con.close()


def api(url, path, **params):
    u = urllib.parse.urlsplit(url)
    q = dict(urllib.parse.parse_qsl(u.query))
    q.update(params)
    target = f"{u.scheme}://{u.netloc}{path}?{urllib.parse.urlencode(q)}"
    try:
        with urllib.request.urlopen(target, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_dashboard_live_and_history(served):
    con, url, rec = served
    from browser import CHART_POINTS, Browser  # skips where websocket-client is not installed

    b = Browser()
    try:
        b.open(url)
        b.wait_for("Number(document.body.dataset.liveUpdates || 0) >= 2", timeout=30)
        points = dict(b.eval(CHART_POINTS))
        live = {"live-cpu", "live-cpus", "live-memory", "live-load", "live-disks", "live-networks"}
        if os.path.exists("/proc/pressure/cpu"):
            live.add("live-pressure")
        for chart in live:
            assert points.get(chart, 0) >= 2, (chart, points)
        # The numbers shown against system_metrics() and system_cpus(), read right after.
        shown = b.eval(
            """(() => { const last = (id, i) => { const d = window.sysmonCharts[id].data[i]; return d[d.length - 1]; };
                return { mem_used: last('live-memory', 1), load_1m: last('live-load', 1),
                         cpus: window.sysmonCharts['live-cpus'].series.length - 1,
                         top_rows: document.querySelectorAll('#top-cpu tr').length - 1,
                         host: document.getElementById('host').textContent }; })()"""
        )
        mem_used, load_1m, hostname = con.execute(
            "SELECT mem_used_bytes, load_1m, hostname FROM system_metrics()"
        ).fetchone()
        (ncpu,) = con.execute("SELECT count(*) FROM system_cpus()").fetchone()
        assert shown["host"] == hostname
        assert abs(shown["mem_used"] - mem_used) <= 0.05 * mem_used + 256 * 2**20, (shown, mem_used)
        assert abs(shown["load_1m"] - load_1m) <= 1.0 + 0.2 * load_1m, (shown, load_1m)
        assert shown["cpus"] == ncpu
        assert shown["top_rows"] == 10
        b.wait_for("!document.getElementById('history').hidden && Number(document.body.dataset.historyLoads || 0) >= 1")
        # A recording shorter than the default hour is shown from its first row (issue 20),
        # not as a sliver at the right edge of the hour.
        _, hosts = api(url, "/api/hosts")
        first_ms = hosts["hosts"][0]["first_ms"]
        from_ms = b.eval("new Date(document.getElementById('history-from').value).getTime()")
        assert first_ms - 1000 <= from_ms <= first_ms + 1000, (from_ms, first_ms)
        points = dict(b.eval(CHART_POINTS))
        for chart in ("history-cpu", "history-cpus", "history-memory", "history-load"):
            assert points.get(chart, 0) > 0, (chart, points)
        b.screenshot("dashboard-live.png")
        b.eval("document.querySelector('button[data-range=\"900\"]').click()")
        b.wait_for("Number(document.body.dataset.historyLoads) >= 2")
        b.pump(1.5)
        b.eval("document.getElementById('history').scrollIntoView()")
        b.screenshot("dashboard-history.png")
        assert b.console_errors == [], b.console_errors
    finally:
        b.close()


def test_a_single_point_gets_an_axis_of_seconds_around_it(served):
    """The first frame has one point per series: its x-axis is seconds around that point, not
    years (uPlot's own range pads a zero span by the magnitude of a Unix time)."""
    con, url, rec = served
    from browser import Browser

    b = Browser()
    try:
        # Only the first poll of /api/live: the page's 1 s poll timer never fires.
        b.call("Page.addScriptToEvaluateOnNewDocument", source="window.setInterval = () => 0;")
        b.open(url)
        b.wait_for("Number(document.body.dataset.liveUpdates || 0) >= 1", timeout=30)
        axes = b.eval(
            """Object.entries(window.sysmonCharts).filter(([id]) => id.startsWith('live-')).map(([id, u]) =>
                 ({ id, points: u.data[0].length, t: u.data[0][0], min: u.scales.x.min, max: u.scales.x.max,
                    ticks: u.axes[0]._splits || [] }))"""
        )
        assert {a["id"] for a in axes} >= {"live-cpu", "live-memory", "live-load"}, axes
        for a in axes:
            assert a["points"] == 1, a
            t = a["t"]
            assert a["min"] < t < a["max"] and a["max"] - a["min"] <= 60, str(a)
            # Every label of the time axis is within a minute of the point.
            assert a["ticks"] and all(abs(x - t) <= 60 for x in a["ticks"]), a
        b.screenshot("dashboard-first-frame.png")
        assert b.console_errors == [], b.console_errors
    finally:
        b.close()


def test_api_answers_and_refuses_clearly(served):
    con, url, rec = served
    status, hosts = api(url, "/api/hosts")
    assert status == 200 and hosts["dir"] == str(rec)
    (host,) = [h["host"] for h in hosts["hosts"]]
    assert "metrics" in hosts["hosts"][0]["tables"]
    now = int(time.time() * 1000)
    status, h = api(url, "/api/history", table="metrics", host=host, **{"from": now - 600_000}, to=now, width=100)
    assert status == 200 and h["rows_read"] >= 2
    cpu_user = next(s for s in h["series"] if s["column"] == "cpu_user_pct")
    assert len(cpu_user["avg"]) == len(h["t"]) > 0
    for params, message in [
        ({"table": "nope", "host": host}, "unknown table 'nope'; accepted: metrics, cpus, disks, networks, pressure"),
        ({"table": "metrics"}, "host is required"),
        ({"table": "metrics", "host": host, "from": "yesterday"}, "from must be milliseconds since 1970-01-01 UTC"),
        ({"table": "metrics", "host": host, "width": "0"}, "width must be a whole number of pixels from 1 to 10000"),
        ({"table": "metrics", "host": host, "sql": "SELECT 1"}, "unknown parameter 'sql'"),
    ]:
        status, err = api(url, "/api/history", **params)
        assert status == 400 and err["error"].startswith(message), (params, err)
    status, err = api(url, "/api/history", table="metrics", host="elsewhere")
    assert status == 404 and err["error"] == f"no recording of host 'elsewhere'; hosts found: {host}"
    status, live = api(url, "/api/live")
    assert status == 200 and live["cpus"] and live["memory"]["mem_total_bytes"] > 0


def test_the_dashboard_shows_a_firing_alert_and_escapes_its_labels(served):
    """A firing alert appears in the Alerts table on the next live update (its labels as text,
    never as markup), and the table hides again when the alert stops."""
    con, url, rec = served
    from browser import Browser

    b = Browser()
    name = "dash_probe"
    try:
        con.execute(
            f"""SELECT * FROM alert_metrics('{name}', 'SELECT ''<img src=x onerror=alert(1)>'' AS mount_point, 97.5 AS used_pct',
                every := 1, severity := 'page', summary := '{{mount_point}} is {{used_pct}}% full')"""
        ).fetchall()
        b.open(url)
        b.wait_for("!document.getElementById('alerts').hidden", timeout=30)
        cells = b.eval("[...document.querySelectorAll('#alerts-table tr.alert-firing td')].map((td) => td.textContent)")
        assert cells[:4] == [name, "firing", "page", "mount_point=<img src=x onerror=alert(1)>"], cells
        assert cells[4] == "97.5" and cells[6] == "<img src=x onerror=alert(1)> is 97.5% full", cells
        assert b.eval("document.querySelectorAll('#alerts-table img').length") == 0
        assert "1 firing" in b.eval("document.getElementById('alerts-note').textContent")
        con.execute(f"SELECT * FROM stop_alert('{name}')").fetchall()
        b.wait_for("document.getElementById('alerts').hidden", timeout=30)
        assert b.console_errors == [], b.console_errors
    finally:
        for (n,) in con.execute("SELECT DISTINCT name FROM alerts()").fetchall():
            con.execute("SELECT * FROM stop_alert(?)", [n]).fetchall()
        b.close()
