"""read_recording(location, table) (issue 20): published files and the write-ahead log together,
every row once, fresh within a flush, visible after a crash, from any process; a folder and a
bucket in one query; the lockdown; and the report and the dashboard's history reading the same.

What SQL alone cannot do here: a second process, kill -9, a local S3 server.
"""

import os
import signal
import time

import duckdb
import pytest

from recorder_helpers import EXT, SEES_LOCKDOWN, child, connect, parquet_files, read_ts, start, stop, wait_for


def rr(con, d, table="metrics", what="count(*)", where="", **named):
    args = "".join(f", {k} := {v}" for k, v in named.items())
    loc = d if isinstance(d, str) and d.startswith("[") else f"'{d}'"
    return con.execute(f"SELECT {what} FROM read_recording({loc}, '{table}'{args}) {where}").fetchall()


def rr_ts(con, d, table="metrics"):
    return [r[0] for r in rr(con, d, table, "epoch_us(ts)", "ORDER BY 1")]


def test_columns_are_the_tables_then_host_and_date(con, tmp_path):
    rid = start(con, tmp_path, "100 milliseconds", tables="['metrics', 'cpus']")
    assert wait_for(lambda: rr(con, tmp_path)[0][0] >= 3)
    stop(con, rid)
    live = [r[0] for r in con.execute("DESCRIBE SELECT * FROM system_metrics()").fetchall()]
    got = con.execute(f"DESCRIBE SELECT * FROM read_recording('{tmp_path}', 'metrics')").fetchall()
    assert [r[0] for r in got] == live + ["host", "date"]
    assert [r[1] for r in got[-2:]] == ["VARCHAR", "DATE"]
    # The same types as the live function's and as read_parquet's of the published files.
    typed = dict((r[0], r[1]) for r in con.execute("DESCRIBE SELECT * FROM system_metrics()").fetchall())
    assert all(typed[r[0]] == r[1] for r in got[:-2])
    host, date = con.execute(
        f"SELECT host, date FROM read_recording('{tmp_path}', 'system_metrics') LIMIT 1"
    ).fetchone()
    pq = con.execute(
        f"SELECT host, date FROM read_parquet('{tmp_path}/metrics/**/*.parquet', hive_partitioning := true) LIMIT 1"
    ).fetchone()
    assert (host, date) == pq
    # A projection decodes its columns only, and agrees with the whole rows.
    a = rr(con, tmp_path, "cpus", "cpu, epoch_us(ts), cpu_user_pct, host", "ORDER BY 1, 2")
    b = con.execute(
        f"SELECT cpu, epoch_us(ts), cpu_user_pct, host FROM read_parquet('{tmp_path}/cpus/**/*.parquet', hive_partitioning := true) ORDER BY 1, 2"
    ).fetchall()
    assert a == b and len(a) > 0
    # Every row once, and the same rows as the published files once all are published.
    assert rr_ts(con, tmp_path) == read_ts(con, tmp_path)


def test_the_log_is_read_before_it_is_published_and_rows_never_double(con, tmp_path):
    rid = start(con, tmp_path, "50 milliseconds", tables="['metrics']",
                flush_interval="INTERVAL '200 milliseconds'", publish_interval="INTERVAL 1 HOUR")
    assert wait_for(lambda: rr(con, tmp_path)[0][0] >= 10)
    assert parquet_files(tmp_path) == [], "nothing published yet: the rows come from the log"
    ts = rr_ts(con, tmp_path)
    assert len(ts) == len(set(ts))
    row = stop(con, rid)
    after = rr_ts(con, tmp_path)
    assert len(after) == len(set(after)) == row["rows_written"]
    assert set(ts) <= set(after)
    assert after == read_ts(con, tmp_path)


def test_since_until_and_host_prune(con, tmp_path):
    rid = start(con, tmp_path, "50 milliseconds", tables="['metrics']")
    assert wait_for(lambda: rr(con, tmp_path)[0][0] >= 20)
    stop(con, rid)
    ts = rr_ts(con, tmp_path)
    mid = ts[len(ts) // 2]
    host = con.execute("SELECT hostname FROM system_info()").fetchone()[0]
    q = f"since := make_timestamptz({mid}), until := make_timestamptz({ts[-1]})"
    got = con.execute(
        f"SELECT epoch_us(ts) FROM read_recording('{tmp_path}', 'metrics', {q}) ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in got] == [t for t in ts if mid <= t < ts[-1]]
    part = os.listdir(tmp_path / "metrics")[0].removeprefix("host=")
    assert rr(con, tmp_path, host=f"'{part}'")[0][0] == len(ts)
    assert rr(con, tmp_path, host=f"'{host}'")[0][0] == len(ts)
    with pytest.raises(duckdb.Error, match="host 'no-such-host'.*recorded hosts: "):
        rr(con, tmp_path, host="'no-such-host'")
    with pytest.raises(duckdb.Error, match="since .* must be before until"):
        rr(con, tmp_path, since="now()", until="now() - INTERVAL 1 HOUR")


def test_bad_arguments_say_what_is_accepted(con, tmp_path):
    cases = [
        (f"read_recording('{tmp_path}', 'nope')", "table must be a recorded table: metrics, cpus"),
        (f"read_recording('{tmp_path}', NULL)", "table must be a recorded table"),
        ("read_recording(NULL, 'metrics')", "location must be a recording folder"),
        ("read_recording(42, 'metrics')", "location must be a recording folder"),
        ("read_recording([], 'metrics')", "got an empty list"),
        (f"read_recording('{tmp_path}/none', 'metrics')", "does not exist"),
        (f"read_recording('{tmp_path}', 'metrics')", "holds no recorded table 'metrics'"),
        ("read_recording('ftp://x/y', 'metrics')", "not supported"),
        (f"read_recording('{tmp_path}', 'metrics', region := 'eu-west-1')", "applies only to a location of the form 's3://"),
        (f"read_recording('{tmp_path}', 'metrics', host := NULL)", "host must be a recorded host name"),
    ]
    for q, want in cases:
        with pytest.raises(duckdb.Error) as e:
            con.execute(f"SELECT count(*) FROM {q}").fetchall()
        assert want in str(e.value), (q, str(e.value))


def test_a_second_process_sees_a_running_recorders_rows_within_a_flush(tmp_path):
    """Another process (another DuckDB) reads the folder of a running recorder: a sample taken
    after the reader started looking is seen once it is flushed (flush_interval 1 s here),
    long before any file is published (publish_interval 1 hour)."""
    p = child(
        f"""
        con.execute("SELECT * FROM record_metrics('{tmp_path}', INTERVAL '200 milliseconds', tables := ['metrics'], flush_interval := INTERVAL 1 SECOND, publish_interval := INTERVAL 1 HOUR)").fetchall()
        print('RECORDING', flush=True)
        time.sleep(600)
        """
    )
    try:
        assert p.stdout.readline().strip() == "RECORDING", p.stderr.read()
        reader = connect()
        assert wait_for(lambda: (tmp_path / "metrics").is_dir(), timeout=30)
        lags = []
        for _ in range(3):
            looked = time.time()
            # The first sample taken after `looked`, seen by the reader: at most a flush plus a
            # sample later (with a loaded machine's margin).
            def newer():
                v = reader.execute(
                    f"SELECT max(epoch_us(ts)) FROM read_recording('{tmp_path}', 'metrics')"
                ).fetchone()[0]
                return time.time() if v and v > looked * 1e6 else None

            seen = wait_for(newer, timeout=30)
            assert seen, "no new sample became visible to the second process"
            lags.append(seen - looked)
        assert parquet_files(tmp_path) == [], "the rows were read from the log, not from published files"
        ts = [r[0] for r in reader.execute(
            f"SELECT epoch_us(ts) FROM read_recording('{tmp_path}', 'metrics') ORDER BY 1").fetchall()]
        assert len(ts) == len(set(ts))
        print("freshness from another process (s):", [round(x, 2) for x in lags])
    finally:
        p.kill()
        p.wait()


def test_after_kill_9_a_fresh_process_reads_the_flushed_rows_then_a_recorder_publishes_them_once(con, tmp_path):
    p = child(
        f"""
        con.execute("SELECT * FROM record_metrics('{tmp_path}', INTERVAL '50 milliseconds', tables := ['metrics', 'cpus'], flush_interval := INTERVAL '200 milliseconds', publish_interval := INTERVAL 1 HOUR)").fetchall()
        print('RECORDING', flush=True)
        time.sleep(600)
        """
    )
    assert p.stdout.readline().strip() == "RECORDING", p.stderr.read()
    fresh = connect()
    assert wait_for(lambda: (tmp_path / "metrics").is_dir() and rr(fresh, tmp_path)[0][0] >= 20, timeout=60)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # No recorder anywhere now: the rows are in the killed recorder's log only.
    assert parquet_files(tmp_path) == []
    before = {t: rr_ts(fresh, tmp_path, t) for t in ("metrics", "cpus")}
    assert len(before["metrics"]) >= 20
    again = connect()
    assert {t: rr_ts(again, tmp_path, t) for t in ("metrics", "cpus")} == before, "another reader sees the same"
    # A recorder opens the folder: it publishes the log (and records more).
    rid = start(con, tmp_path, "50 milliseconds", tables="['metrics', 'cpus']")
    assert wait_for(lambda: parquet_files(tmp_path), timeout=30)
    stop(con, rid)
    for t in ("metrics", "cpus"):
        via_rr = rr(con, tmp_path, t, "epoch_us(ts)" + (", cpu" if t == "cpus" else ""))
        via_pq = con.execute(
            f"SELECT epoch_us(ts){', cpu' if t == 'cpus' else ''} FROM read_parquet('{tmp_path}/{t}/**/*.parquet')"
        ).fetchall()
        assert sorted(via_rr) == sorted(via_pq), t
        assert len(via_rr) == len(set(via_rr)), f"{t}: a (host, ts) read twice"
        assert set(before[t]) <= {r[0] for r in via_rr}, f"{t}: a row flushed before the kill was lost"


def test_a_recorder_in_the_same_process_is_read_up_to_its_latest_sample(con, tmp_path):
    # flush_interval 1 hour: only the flush read_recording asks for puts the rows in the log.
    rid = start(con, tmp_path, "100 milliseconds", tables="['metrics']",
                flush_interval="INTERVAL 1 HOUR", publish_interval="INTERVAL 1 HOUR")
    assert wait_for(lambda: (con.execute("SELECT samples_taken FROM recordings() WHERE id = ?", [rid]).fetchone()[0] or 0) >= 5)
    for _ in range(3):
        before = time.time()
        newest = rr(con, tmp_path, what="max(epoch_us(ts))")[0][0]
        assert newest is not None
        # The newest row is the last sample before the query (one interval, 100 ms, plus the
        # machine's delays).
        assert before * 1e6 - newest < 5e6, (before, newest)
    stop(con, rid)


@pytest.mark.skipif(not SEES_LOCKDOWN, reason="DuckDB before 1.5.6 cannot tell sysmon enable_external_access")
def test_lockdown_allows_allowed_directories_only(tmp_path):
    inside, outside = tmp_path / "in", tmp_path / "out"
    for d in (inside, outside):
        c = connect()
        rid = start(c, d, "100 milliseconds", tables="['metrics']")
        assert wait_for(lambda: rr(c, d)[0][0] >= 2)
        stop(c, rid)
        c.close()
    locked = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    locked.execute(f"LOAD '{EXT}'")
    locked.execute(f"SET allowed_directories = ['{inside}']")
    locked.execute("SET enable_external_access = false")
    assert rr(locked, inside)[0][0] >= 2
    with pytest.raises(duckdb.Error, match="denies access"):
        rr(locked, outside)
    # Through a link inside the allowed folder to the other one: the resolved path is checked.
    link = inside / "link"
    os.symlink(outside, link)
    with pytest.raises(duckdb.Error, match="denies access"):
        rr(locked, link)
    with pytest.raises(duckdb.Error, match="denies access"):
        rr(locked, f"['{inside}', '{outside}']")
    with pytest.raises(duckdb.Error, match="network access"):
        rr(locked, "s3://bucket/prefix")


def test_report_one_minute_into_a_recording_has_that_minute(con, tmp_path):
    """The report reads the log too: made before any publish, it charts what was recorded."""
    rid = start(con, tmp_path, "100 milliseconds", tables="['metrics', 'cpus']",
                publish_interval="INTERVAL 1 HOUR")
    assert wait_for(lambda: (con.execute("SELECT samples_taken FROM recordings() WHERE id = ?", [rid]).fetchone()[0] or 0) >= 20)
    assert parquet_files(tmp_path) == []
    out = tmp_path / "report.html"
    row = con.execute(
        f"SELECT rows_read, since, until FROM report_metrics('{tmp_path}', '{out}')"
    ).fetchone()
    assert row[0] >= 20, row
    assert (row[2] - row[1]).total_seconds() < 600, "the range is the recording's own extent, not a day"
    stop(con, rid)


def test_a_folder_and_a_bucket_in_one_query(con, tmp_path, monkeypatch):
    """Local history and the fleet bucket in one FROM: a local recording and an s3:// one (a
    local moto server), read together; the endpoint from the environment (AWS_ENDPOINT_URL)
    as from endpoint :=."""
    pytest.importorskip("boto3")
    from s3_server import bucketless_server, set_aws_env

    key_id, secret = "AKIASYSMONREAD000001", "sysmon-read-SECRET-x81"
    server = bucketless_server(key_id, secret)
    try:
        set_aws_env(monkeypatch, key_id, secret)
        bucket = f"read-{os.getpid()}"
        server.client().create_bucket(Bucket=bucket)
        local = tmp_path / "local"
        a = start(con, local, "100 milliseconds", tables="['metrics']")
        b = con.execute(
            f"SELECT id FROM record_metrics('s3://{bucket}/fleet', INTERVAL '100 milliseconds', tables := ['metrics'], "
            f"endpoint := '{server.endpoint}', spool := '{tmp_path / 'spool'}', upload_interval := INTERVAL 1 SECOND, "
            f"flush_interval := INTERVAL '300 milliseconds')"
        ).fetchone()[0]
        assert wait_for(
            lambda: con.execute("SELECT objects_uploaded FROM recordings() WHERE id = ?", [b]).fetchone()[0] or 0,
            timeout=60,
        )
        stop(con, b)
        stop(con, a)
        n_local = rr(con, local)[0][0]
        n_bucket = rr(con, f"s3://{bucket}/fleet", endpoint=f"'{server.endpoint}'")[0][0]
        assert n_local > 0 and n_bucket > 0
        both = rr(con, f"['{local}', 's3://{bucket}/fleet']", endpoint=f"'{server.endpoint}'")[0][0]
        assert both == n_local + n_bucket
        # Every row of the bucket once: as many as the shipper uploaded.
        ts = rr(con, f"s3://{bucket}/fleet", what="epoch_us(ts)", endpoint=f"'{server.endpoint}'")
        assert len(ts) == len(set(ts)) == n_bucket
        # No endpoint := : AWS_ENDPOINT_URL and AWS_ALLOW_HTTP, as the AWS CLI reads them.
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
        assert rr(con, f"s3://{bucket}/fleet")[0][0] == n_bucket
        with pytest.raises(duckdb.Error) as e:
            rr(con, f"s3://{bucket}/none")
        assert "holds no recorded table 'metrics'" in str(e.value) and secret not in str(e.value)
    finally:
        server.stop()
