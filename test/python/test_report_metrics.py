"""report_metrics as a person uses it: record a few seconds, write the report, open it in a real
browser (headless Debian chromium) with the network off, and check that every chart has points,
that the values are the recorded ones, that nothing was fetched and no console error was logged.
Screenshots: build/screenshots/report-*.png.
"""

import os
import time

import pytest

from conftest import connect


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    d = tmp_path_factory.mktemp("report") / "rec"
    con = connect()
    (rid,) = con.execute(
        f"SELECT id FROM record_metrics('{d}', INTERVAL 200 MILLISECONDS, flush_interval := INTERVAL 1 SECOND)"
    ).fetchone()
    # Something to see on the CPU and disk charts.
    end = time.monotonic() + 4
    with open(d.parent / "scratch", "wb") as f:
        while time.monotonic() < end:
            f.write(os.urandom(1 << 20))
            f.flush()
            os.fsync(f.fileno())
    (rows,) = con.execute("SELECT rows_written FROM stop_recording(?)", [rid]).fetchone()
    assert rows > 0
    con.close()
    return d


def test_report_opens_offline_with_every_chart(recording, tmp_path):
    con = connect()
    out = tmp_path / "host-report.html"
    row = con.execute(
        f"SELECT * FROM report_metrics('{recording}', '{out}', since := now() - INTERVAL 30 SECONDS, until := now())"
    ).fetchone()
    path, host, rows_read, since, until, span, size = row
    assert path == str(out) and os.path.getsize(out) == size
    assert span == pytest.approx(30, abs=0.1) and rows_read > 0
    # rows_read: the recorded rows of the charted tables in [since, until).
    (want,) = con.execute(
        f"""SELECT count(*) FROM read_parquet('{recording}/*/**/*.parquet', hive_partitioning := true, union_by_name := true, filename := true)
            WHERE regexp_extract(filename, '/(metrics|cpus|disks|networks|pressure)/host=', 1) <> ''
              AND ts >= ? AND ts < ?""",
        [since, until],
    ).fetchone()
    assert rows_read == want
    (mem_max,) = con.execute(
        f"SELECT max(mem_used_bytes) FROM read_parquet('{recording}/metrics/**/*.parquet')"
    ).fetchone()
    con.close()

    from browser import CHART_POINTS, Browser  # skips where websocket-client is not installed

    b = Browser()
    try:
        b.offline()
        b.open(out.as_uri())
        b.wait_for("document.querySelectorAll('.chart').length === 7")
        b.pump(1.0)
        points = dict(b.eval(CHART_POINTS))
        expected = {"history-cpu", "history-cpus", "history-memory", "history-load", "history-disks", "history-networks"}
        if os.path.exists("/proc/pressure/cpu"):
            expected.add("history-pressure")
        for chart in expected:
            assert points.get(chart, 0) > 0, (chart, points)
        assert b.eval("document.getElementById('host').textContent") == host
        # The memory chart's highest point is at most the recorded maximum (averaged per pixel;
        # chart values carry 4 significant digits).
        top = b.eval(
            "Math.max(...window.sysmonCharts['history-memory'].data[1].filter(v => v != null))"
        )
        assert 0 < top <= mem_max * 1.0005
        assert top >= 0.5 * mem_max
        # A hover shows a value with its unit.
        b.eval("(() => { const u = window.sysmonCharts['history-cpu']; u.setCursor({left: u.bbox.width / 2 / devicePixelRatio, top: 10}); })()")
        legend = b.eval("document.querySelector('#history-cpu .u-legend').textContent")
        assert "%" in legend, legend
        b.screenshot("report-day.png")
        assert b.console_errors == [], b.console_errors
        assert [u for u in b.requests if not u.startswith("file:") and not u.startswith("data:")] == [], b.requests
    finally:
        b.close()


def test_report_of_a_range_and_host(recording, tmp_path):
    con = connect()
    out = tmp_path / "range.html"
    # Defaults: the only host, up to its newest row, from a day before that or, for a recording
    # younger than a day (this one: seconds), from its first row: charted whole, not as a sliver.
    host, since, span = con.execute(
        f"SELECT host, since, span_seconds FROM report_metrics('{recording}', '{tmp_path / 'day.html'}')"
    ).fetchone()
    (first,) = con.execute(f"SELECT min(ts) FROM read_parquet('{recording}/metrics/**/*.parquet')").fetchone()
    assert since <= first and 0 < span < 3600, (since, first, span)
    row = con.execute(
        f"""SELECT rows_read, since, until, span_seconds FROM report_metrics('{recording}', '{out}',
            since := now() - INTERVAL 10 MINUTES, until := now(), host := '{host}')"""
    ).fetchone()
    assert row[0] > 0 and row[3] == pytest.approx(600, abs=1)
    with pytest.raises(Exception, match=r"no recording of host 'elsewhere' under '.*'; hosts found: " + host):
        con.execute(f"SELECT * FROM report_metrics('{recording}', '{out}', host := 'elsewhere')").fetchall()
    with pytest.raises(Exception, match=r"no rows of host '.*' from 2001-01-01 00:00:00 UTC"):
        con.execute(
            f"SELECT * FROM report_metrics('{recording}', '{out}', since := TIMESTAMPTZ '2001-01-01 00:00:00+00', until := TIMESTAMPTZ '2001-01-02 00:00:00+00')"
        ).fetchall()
    # Written once per bound query: DESCRIBE writes nothing.
    other = tmp_path / "described.html"
    con.execute(f"DESCRIBE SELECT * FROM report_metrics('{recording}', '{other}')").fetchall()
    assert not other.exists()
    con.close()


def test_report_obeys_lockdown(recording, tmp_path):
    con = connect()
    if con.execute("SELECT version()").fetchone()[0] < "v1.5.6":
        pytest.skip("DuckDB before 1.5.6 cannot tell sysmon its settings (docs/security.md)")
    out = tmp_path / "out"
    out.mkdir()
    con.execute(f"SET allowed_directories = ['{recording}']")
    con.execute("SET enable_external_access = false")
    # Reading the recording is allowed, writing outside allowed_directories is not.
    with pytest.raises(Exception, match="denies access to '.*refused.html'"):
        con.execute(f"SELECT * FROM report_metrics('{recording}', '{out / 'refused.html'}')").fetchall()
    assert not (out / "refused.html").exists()
    # Nor is reading a recording outside them.
    with pytest.raises(Exception, match="denies access to '/proc'"):
        con.execute(f"SELECT * FROM report_metrics('/proc', '{out / 'refused.html'}')").fetchall()
    con.close()
    # Both allowed: written.
    con = connect()
    con.execute(f"SET allowed_directories = ['{recording}', '{out}']")
    con.execute("SET enable_external_access = false")
    (size,) = con.execute(f"SELECT bytes_written FROM report_metrics('{recording}', '{out / 'ok.html'}')").fetchone()
    assert (out / "ok.html").stat().st_size == size
    con.close()
