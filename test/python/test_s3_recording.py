"""Recording into S3 (issue 9, part A): record_metrics('s3://...') against a local moto server.

The server is `moto_server` from PyPI (`moto[server]`), started per test module on 127.0.0.1 and
a free port, and stopped by the fixture (and by itself with the test process: it is its child).
Kill points are reached through the shipper's test pauses (SYSMON_TEST_SHIP_PAUSE, see
crates/store/src/faults.rs).
"""

import glob
import os
import signal
import subprocess
import time

import duckdb
import pytest

from recorder_helpers import EXT, SEES_LOCKDOWN, child, connect, wait_for
from s3_server import bucketless_server, set_aws_env

boto3 = pytest.importorskip("boto3")
pafs = pytest.importorskip("pyarrow.fs")
import pyarrow as pa  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402

SECRET = "sysmon-test-SECRET-9f3k2"
KEY_ID = "AKIASYSMONTEST000001"
TABLES = "['metrics', 'cpus']"


def Server(extra_env=None):
    return bucketless_server(KEY_ID, SECRET, extra_env)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    set_aws_env(monkeypatch, KEY_ID, SECRET)


_n = [0]


@pytest.fixture
def bucket(server):
    _n[0] += 1
    name = f"fleet-{os.getpid()}-{_n[0]}"
    server.client().create_bucket(Bucket=name)
    return name


def start_s3(con, server, bucket, spool, interval="200 milliseconds", **named):
    named.setdefault("tables", TABLES)
    named.setdefault("upload_interval", "INTERVAL 1 SECOND")
    named.setdefault("flush_interval", "INTERVAL '400 milliseconds'")
    args = "".join(f", {k} := {v}" for k, v in named.items())
    return con.execute(
        f"SELECT id FROM record_metrics('s3://{bucket}/fleet', INTERVAL '{interval}', endpoint := '{server.endpoint}', spool := '{spool}'{args})"
    ).fetchall()[0][0]


def samples_taken(con, rid):
    return con.execute("SELECT samples_taken FROM recordings() WHERE id = ?", [rid]).fetchall()[0][0]


def stop_row(con, rid):
    cur = con.execute("SELECT * FROM stop_recording(?)", [rid])
    cols = [c[0] for c in cur.description]
    return dict(zip(cols, cur.fetchall()[0]))


def keys(server, bucket, prefix="fleet/"):
    out = []
    for page in server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def fs(server):
    return pafs.S3FileSystem(
        access_key=KEY_ID,
        secret_key=SECRET,
        endpoint_override=server.endpoint,
        scheme="http",
        region="us-east-1",
    )


def bucket_table(server, bucket, table="metrics"):
    """The table's rows in the bucket, through pyarrow's S3FileSystem, hive partitions included."""
    if not [k for k in keys(server, bucket) if f"/{table}/" in k]:
        return None
    return ds.dataset(f"{bucket}/fleet/{table}", filesystem=fs(server), format="parquet", partitioning="hive").to_table()


def bucket_ts(server, bucket, table="metrics"):
    t = bucket_table(server, bucket, table)
    if t is None:
        return []
    return sorted(t.column("ts").cast(pa.int64()).to_pylist())


def spool_parquet(spool):
    """Every Parquet file of the spool, its hidden folders (.take, .ship) included."""
    return [os.path.join(d, f) for d, _, fs_ in os.walk(spool) for f in fs_ if f.endswith(".parquet")]


def test_recording_lands_in_the_bucket_and_reads_back(con, server, bucket, tmp_path):
    spool = tmp_path / "spool"
    rid = start_s3(con, server, bucket, spool)
    # Some 3 s recorded (15 ticks; longer on a loaded machine) and uploaded on the way.
    assert wait_for(lambda: samples_taken(con, rid) >= 15, timeout=60)
    row = stop_row(con, rid)
    assert row["destination"] == f"s3://{bucket}/fleet"
    assert row["dir"] == str(spool)
    assert row["last_error"] is None, row["last_error"]
    assert row["rows_dropped"] == 0
    assert row["upload_backlog_bytes"] == 0
    assert row["objects_uploaded"] >= 2 and row["bytes_uploaded"] > 0
    assert row["last_upload_at"] is not None
    assert not spool_parquet(spool), "every file uploaded and its local copy deleted"
    ks = keys(server, bucket)
    assert ks and all(k.endswith(".parquet") for k in ks), ks
    host = con.execute("SELECT hostname FROM system_info()").fetchall()[0][0]
    for k in ks:
        parts = k.split("/")
        assert parts[0] == "fleet" and parts[1] in ("metrics", "cpus"), k
        assert parts[2].startswith("host=") and parts[3].startswith("date="), k
    # Every row recorded is in the bucket, once.
    total = 0
    for table in ("metrics", "cpus"):
        t = bucket_table(server, bucket, table)
        total += t.num_rows
        assert str(t.schema.field("ts").type) == "timestamp[us, tz=UTC]"
        assert t.column("host")[0].as_py() is not None
    assert total == row["rows_written"]
    ts = bucket_ts(server, bucket)
    assert len(ts) == len(set(ts)) >= 15
    m = bucket_table(server, bucket, "metrics")
    assert str(m.schema.field("mem_total_bytes").type) == "uint64"
    assert set(m.column("hostname").to_pylist()) == {host}


def record_until_uploaded(con, dest, spool):
    """Records `dest` (no endpoint := : the client's settings come from the environment) until
    an object is uploaded, stops, and checks that nothing went wrong."""
    rid = con.execute(
        f"SELECT id FROM record_metrics('{dest}', INTERVAL '200 milliseconds', tables := {TABLES}, "
        f"upload_interval := INTERVAL 1 SECOND, flush_interval := INTERVAL '400 milliseconds', spool := '{spool}')"
    ).fetchall()[0][0]
    assert wait_for(
        lambda: con.execute("SELECT objects_uploaded FROM recordings() WHERE id = ?", [rid]).fetchone()[0] or 0,
        timeout=60,
    )
    row = stop_row(con, rid)
    assert row["last_error"] is None, row["last_error"]


def test_the_endpoint_from_the_environment_works_and_plain_http_needs_aws_allow_http(
    con, server, bucket, tmp_path, monkeypatch
):
    # The AWS SDKs' own variables, no endpoint := (issue 20: this failed with "builder error").
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    e = None
    try:
        con.execute(f"SELECT id FROM record_metrics('s3://{bucket}/env', INTERVAL '200 milliseconds', spool := '{tmp_path / 'a'}')")
    except duckdb.Error as err:
        e = str(err)
    assert e is not None, "a plain http:// endpoint from the environment must be refused without AWS_ALLOW_HTTP"
    assert "AWS_ENDPOINT_URL" in e and "AWS_ALLOW_HTTP=true" in e and f"endpoint := '{server.endpoint}'" in e, e
    assert "builder error" not in e and SECRET not in e, e
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    record_until_uploaded(con, f"s3://{bucket}/env", tmp_path / "b")
    assert [k for k in keys(server, bucket, "env/") if "/metrics/" in k], keys(server, bucket, "env/")


def test_credentials_and_region_from_an_aws_profile(con, server, bucket, tmp_path, monkeypatch):
    # As the AWS CLI reads them: AWS_PROFILE's section of the shared credentials and config files.
    creds, config = tmp_path / "credentials", tmp_path / "config"
    creds.write_text(f"[default]\naws_access_key_id = WRONG\n\n[sysmon]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
    config.write_text("[profile sysmon]\nregion = us-east-1\n")
    for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    # Without credentials object_store would ask the instance metadata service: keep that on
    # loopback (refused) so that a profile not read fails here instead of going anywhere.
    monkeypatch.setenv("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    with pytest.raises(duckdb.Error) as e:
        con.execute(f"SELECT id FROM record_metrics('s3://{bucket}/prof', INTERVAL '200 milliseconds', spool := '{tmp_path / 'a'}')")
    assert "AWS_PROFILE 'nosuch'" in str(e.value) and str(creds) in str(e.value), str(e.value)
    monkeypatch.setenv("AWS_PROFILE", "sysmon")
    record_until_uploaded(con, f"s3://{bucket}/prof", tmp_path / "b")
    # The test's own boto3 client reads AWS_PROFILE too: back to the plain test environment.
    for v in ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(v)
    set_aws_env(monkeypatch, KEY_ID, SECRET)
    assert [k for k in keys(server, bucket, "prof/") if "/metrics/" in k]


def test_other_schemes_are_refused_and_never_a_relative_path(con, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for dest, expect in [
        ("gs://b/x", "not supported"),
        ("az://c/x", "not supported"),
        ("http://h/x", "not supported"),
        ("x/y://z", "does not start with a scheme"),
        ("s3://Bad_Bucket/x", "not a valid bucket name"),
    ]:
        with pytest.raises(duckdb.Error, match=expect) as e:
            con.execute(f"SELECT * FROM record_metrics('{dest}', INTERVAL 1 SECOND)").fetchall()
        assert "s3://<bucket>" in str(e.value) or "bucket name" in str(e.value)
    assert os.listdir(tmp_path) == [], "nothing was created under the working directory"
    with pytest.raises(duckdb.Error, match="applies only to an s3:// destination"):
        con.execute(f"SELECT * FROM record_metrics('{tmp_path}/d', INTERVAL 1 SECOND, upload_interval := INTERVAL 1 MINUTE)").fetchall()
    with pytest.raises(duckdb.Error, match="retention and max_bytes apply to local recordings"):
        con.execute(f"SELECT * FROM record_metrics('s3://abc/x', INTERVAL 1 SECOND, spool := '{tmp_path}/s', retention := INTERVAL 1 DAY)").fetchall()


def test_file_url_records_locally(con, tmp_path):
    rid = con.execute(f"SELECT id FROM record_metrics('file://{tmp_path}/rec', INTERVAL '100 milliseconds', tables := ['metrics'])").fetchall()[0][0]
    assert wait_for(lambda: samples_taken(con, rid) >= 3, timeout=60)
    row = stop_row(con, rid)
    assert row["dir"] == str(tmp_path / "rec") and row["destination"] == str(tmp_path / "rec")
    assert row["objects_uploaded"] is None and row["upload_lag_seconds"] is None
    assert glob.glob(f"{tmp_path}/rec/metrics/**/*.parquet", recursive=True)


def test_missing_bucket_is_a_clear_error_and_no_secret_is_shown(con, server, tmp_path):
    with pytest.raises(duckdb.Error) as e:
        con.execute(
            f"SELECT * FROM record_metrics('s3://no-such-bucket-x/p', INTERVAL 1 SECOND, endpoint := '{server.endpoint}', spool := '{tmp_path}/s')"
        ).fetchall()
    msg = str(e.value)
    assert "cannot write to s3://no-such-bucket-x/p" in msg and "NoSuchBucket" in msg, msg
    assert SECRET not in msg
    assert not con.execute("SELECT * FROM recordings() WHERE destination LIKE 's3://no-such%'").fetchall()
    # The refused start leaves nothing behind: the spool it created is gone, no
    # <spool>/metrics/host=<h>/.lock stays (issue 20).
    assert not os.path.exists(tmp_path / "s"), sorted(str(p) for p in (tmp_path / "s").rglob("*"))
    # A spool that was there before stays, as empty as it was.
    (tmp_path / "kept").mkdir()
    with pytest.raises(duckdb.Error, match="NoSuchBucket"):
        con.execute(
            f"SELECT * FROM record_metrics('s3://no-such-bucket-x/p', INTERVAL 1 SECOND, endpoint := '{server.endpoint}', spool := '{tmp_path}/kept')"
        ).fetchall()
    assert list((tmp_path / "kept").rglob("*")) == []


def test_wrong_credentials_are_a_clear_error(con, tmp_path):
    # A server that checks credentials (moto's IAM auth, on from the first request): ours are unknown.
    s = Server({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        with pytest.raises(duckdb.Error) as e:
            con.execute(
                f"SELECT * FROM record_metrics('s3://some-bucket/p', INTERVAL 1 SECOND, endpoint := '{s.endpoint}', spool := '{tmp_path}/s')"
            ).fetchall()
    finally:
        s.stop()
    msg = str(e.value)
    assert "cannot write to s3://some-bucket/p" in msg and ("InvalidAccessKeyId" in msg or "403" in msg), msg
    assert SECRET not in msg
    assert not os.path.exists(tmp_path / "s"), "a refused start leaves no spool behind"


def test_secret_never_appears_in_rows_errors_or_files(con, server, bucket, tmp_path):
    spool = tmp_path / "spool"
    rid = start_s3(con, server, bucket, spool)
    time.sleep(1.5)
    texts = [repr(con.execute("SELECT * FROM recordings()").fetchall())]
    try:
        con.execute(f"SELECT * FROM record_metrics('s3://no-such-bucket-y', INTERVAL 1 SECOND, endpoint := '{server.endpoint}', spool := '{tmp_path}/s2')").fetchall()
    except duckdb.Error as e:
        texts.append(str(e))
    texts.append(repr(stop_row(con, rid)))
    for f in glob.glob(f"{tmp_path}/**/*", recursive=True) + glob.glob(f"{tmp_path}/**/.*", recursive=True):
        if os.path.isfile(f):
            with open(f, "rb") as fh:
                assert SECRET.encode() not in fh.read(), f
    for k in keys(server, bucket):
        body = server.client().get_object(Bucket=bucket, Key=k)["Body"].read()
        assert SECRET.encode() not in body, k
    for t in texts:
        assert SECRET not in t


@pytest.mark.skipif(not SEES_LOCKDOWN, reason="DuckDB before 1.5.6 cannot tell sysmon enable_external_access")
def test_lockdown_refuses_a_remote_destination(tmp_path):
    con = connect()
    con.execute("SET enable_external_access = false")
    with pytest.raises(duckdb.Error, match="recording into object storage is network access"):
        con.execute(f"SELECT * FROM record_metrics('s3://abc/x', INTERVAL 1 SECOND, spool := '{tmp_path}/s')").fetchall()


def test_outage_of_30_seconds_loses_no_row(con, server, bucket, tmp_path):
    spool = tmp_path / "spool"
    rid = start_s3(con, server, bucket, spool, tables="['metrics']")
    time.sleep(2)
    server.proc.send_signal(signal.SIGSTOP)  # unreachable: connections hang, requests time out
    try:
        time.sleep(30)
        during = con.execute("SELECT samples_taken, upload_backlog_bytes, last_error, upload_lag_seconds FROM recordings() WHERE id = ?", [rid]).fetchall()[0]
    finally:
        server.proc.send_signal(signal.SIGCONT)
    assert during[1] > 0, "rows wait in the spool"
    assert during[3] > 10, during
    # The backlog is uploaded once the store answers again (retries back off to at most 64 s).
    # While recording the spool always holds the rows since the last publish (the write-ahead
    # log), so the backlog never stays at 0: what shows the outage is over is the lag.
    assert wait_for(
        lambda: con.execute("SELECT upload_lag_seconds < 10 AND objects_uploaded > 0 FROM recordings() WHERE id = ?", [rid]).fetchall()[0][0],
        timeout=120,
        step=0.5,
    )
    row = stop_row(con, rid)
    assert row["rows_dropped"] == 0 and row["upload_backlog_bytes"] == 0, row
    ts = bucket_ts(server, bucket)
    assert len(ts) == len(set(ts)) == row["rows_written"]
    # Continuous: no gap longer than a few ticks across the outage.
    assert max(b - a for a, b in zip(ts, ts[1:])) < 1_000_000


def _child_recording(server, bucket, spool, pause):
    return child(
        f"""
        con.execute("SELECT * FROM record_metrics('s3://{bucket}/fleet', INTERVAL '200 milliseconds', tables := {TABLES}, endpoint := '{server.endpoint}', spool := '{spool}', upload_interval := INTERVAL 1 SECOND, flush_interval := INTERVAL '400 milliseconds')").fetchall()
        time.sleep(120)
        """,
        env={"SYSMON_TEST_SHIP_PAUSE": f"{pause}:120"},
    )


def _wait_pause(p, step):
    lines = []
    deadline = time.time() + 60
    while time.time() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        lines.append(line)
        if f"shipper paused at {step}" in line:
            return
    pytest.fail(f"never paused at {step}: {''.join(lines)}")


def _kill(p):
    os.kill(p.pid, signal.SIGKILL)
    p.wait()


def test_kill_between_upload_and_local_delete_leaves_no_row_twice(con, server, bucket, tmp_path):
    spool = tmp_path / "spool"
    p = _child_recording(server, bucket, spool, "after_upload")
    try:
        _wait_pause(p, "after_upload")
    finally:
        _kill(p)
    uploaded = keys(server, bucket)
    assert uploaded and spool_parquet(spool), "killed with an object in the bucket and its local copy"
    before = set(bucket_ts(server, bucket))
    # The next recorder of this host re-uploads under the same key (an overwrite), then deletes.
    rid = start_s3(con, server, bucket, spool)
    time.sleep(1.5)
    stop_row(con, rid)
    ts = bucket_ts(server, bucket)
    assert len(ts) == len(set(ts)), "no row twice"
    assert before <= set(ts), "no row lost"
    assert not spool_parquet(spool)


def _past_day_parts(server, bucket, con, tmp_path):
    """Records a little, then copies two of its metrics objects into yesterday's folder."""
    rid = start_s3(con, server, bucket, tmp_path / "seed", tables="['metrics']")
    # Uploads every second: two metrics objects before the final one (longer on a loaded machine).
    assert wait_for(lambda: len([k for k in keys(server, bucket) if "/metrics/" in k]) >= 2, timeout=60, step=0.2)
    stop_row(con, rid)
    ks = [k for k in keys(server, bucket) if "/metrics/" in k]
    assert len(ks) >= 2, ks
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    c = server.client()
    out = []
    for k in ks[:2]:
        parts = k.split("/")
        parts[3] = f"date={yesterday}"
        dst = "/".join(parts)
        c.copy_object(Bucket=bucket, Key=dst, CopySource={"Bucket": bucket, "Key": k})
        c.delete_object(Bucket=bucket, Key=k)
        out.append(dst)
    rows = sum(c.get_object(Bucket=bucket, Key=k)["ContentLength"] > 0 for k in out)
    assert rows == 2
    day_prefix = "/".join(out[0].split("/")[:4]) + "/"
    return day_prefix, len(bucket_ts(server, bucket))


@pytest.mark.parametrize("step", ["day_before_rename", "day_after_upload"])
def test_kill_mid_day_compaction_loses_and_doubles_nothing(con, server, bucket, tmp_path, step):
    day_prefix, n_before = _past_day_parts(server, bucket, con, tmp_path)
    before = bucket_ts(server, bucket)
    spool = tmp_path / "spool"
    p = _child_recording(server, bucket, spool, step)
    try:
        _wait_pause(p, step)
    finally:
        _kill(p)
    if step == "day_after_upload":
        assert len(keys(server, bucket, day_prefix)) == 3, "day object and both parts: rows visible twice until the next start"
    rid = start_s3(con, server, bucket, spool)
    # The next recorder finishes the day's compaction (at once on an idle machine).
    def compacted():
        day = keys(server, bucket, day_prefix)
        return len(day) == 1 and day[0].split("/")[-1].startswith("D-")

    assert wait_for(compacted, timeout=60, step=0.2), keys(server, bucket, day_prefix)
    stop_row(con, rid)
    day = keys(server, bucket, day_prefix)
    assert len(day) == 1 and day[0].split("/")[-1].startswith("D-"), day
    ts = bucket_ts(server, bucket)
    assert len(ts) == len(set(ts)), "no row twice"
    assert set(before) <= set(ts), "no row lost"


def record_bin():
    for p in (os.environ.get("SYSMON_RECORD_BIN"), "build/release/sysmon-record", "target/release/sysmon-record",
              "target/debug/sysmon-record"):
        if p and os.path.exists(p):
            return os.path.abspath(p)
    pytest.skip("sysmon-record not built (make release builds build/release/sysmon-record)")


def test_service_binary_takes_every_duration_spelling_and_publishes_as_told(tmp_path):
    # publish_interval of 1 s (the default is minutes): Parquet files appear while it runs.
    dest = tmp_path / "rec"
    p = subprocess.Popen(
        [record_bin(), str(dest), "--interval", "'200 milliseconds'", "--tables", "metrics",
         "--flush-interval", "0.5", "--publish-interval=1 second", "--process-interval", "2 minutes",
         "--retention", "30d"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = p.stdout.readline()
        assert f"into {dest} every 0.2 s" in line, line + p.stderr.read()
        assert wait_for(lambda: glob.glob(str(dest / "metrics" / "**" / "*.parquet"), recursive=True), timeout=30)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, out + err
    fields = dict(l.split("=", 1) for l in out.splitlines() if "=" in l and not l.startswith("sysmon-record"))
    assert fields["state"] == "stopped" and int(fields["rows_written"]) > 0, out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--flush-interval", "5x"], "sysmon-record: --flush-interval: '5x' is not a duration ('x' is not a unit"),
        (["--interval", "5ms"], "sysmon-record: --interval must be from 10 ms to 1 day; got '5ms' (5 ms)"),
        (["--retention", "1 month"], "month has no fixed length: use days"),
        (["--publish-interval"], "sysmon-record: --publish-interval needs a value"),
        (["--bogus", "1"], "sysmon-record: unknown option --bogus; accepted: --interval, --tables, --process-interval"),
        (["--max-bytes", "lots"], "--max-bytes must be a positive whole number of bytes, such as 1073741824; got 'lots'"),
        (["--interval", "1", "--publish-interval", "1", "--flush-interval", "2"], "publish_interval must be at least flush_interval"),
    ],
)
def test_service_binary_usage_errors_say_what_is_accepted(tmp_path, args, message):
    r = subprocess.run([record_bin(), str(tmp_path / "rec"), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr, r
    assert not (tmp_path / "rec").exists(), "nothing started"


def test_service_binary_help_lists_every_record_metrics_option(con):
    r = subprocess.run([record_bin(), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    (params,) = con.execute("SELECT parameters FROM sysmon_functions() WHERE function_name = 'record_metrics'").fetchone()
    for name in params[1:]:
        assert f"--{name.replace('_', '-')}" in r.stdout, (name, r.stdout)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_service_binary_uploads_everything_on_stop_signal(server, bucket, tmp_path, sig):
    spool = tmp_path / "spool"
    p = subprocess.Popen(
        [record_bin(), f"s3://{bucket}/fleet", "--interval", "200ms", "--tables", "metrics,cpus",
         "--endpoint", server.endpoint, "--spool", str(spool), "--flush-interval", "400ms", "--upload-interval", "1m"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = p.stdout.readline()
        assert "recording s3://" in line, line + p.stderr.read()
        time.sleep(2.5)
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, out + err
    fields = dict(l.split("=", 1) for l in out.splitlines() if "=" in l and not l.startswith("sysmon-record"))
    assert fields["state"] == "stopped" and fields["last_error"] == "NULL", out
    assert fields["upload_backlog_bytes"] == "0" and int(fields["objects_uploaded"]) == 2, out
    # upload_interval is a minute: everything in the bucket came with the final upload.
    rows = sum(bucket_table(server, bucket, t).num_rows for t in ("metrics", "cpus"))
    assert rows == int(fields["rows_written"]) > 0
    assert SECRET not in out + err
    assert not spool_parquet(spool)


def test_normal_exit_uploads_what_is_left(server, bucket, tmp_path):
    spool = tmp_path / "spool"
    p = child(
        f"""
        con.execute("SELECT * FROM record_metrics('s3://{bucket}/fleet', INTERVAL '200 milliseconds', tables := {TABLES}, endpoint := '{server.endpoint}', spool := '{spool}', upload_interval := INTERVAL 1 MINUTE, flush_interval := INTERVAL '400 milliseconds')").fetchall()
        time.sleep(2)
        print(con.execute("SELECT sum(samples_taken) FROM recordings()").fetchall()[0][0], flush=True)
        """
    )
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    samples = int(out.strip().splitlines()[-1])
    # upload_interval is a minute: what is in the bucket came with the exit hook's final upload.
    ts = bucket_ts(server, bucket)
    assert len(ts) == len(set(ts)) >= samples
    assert not spool_parquet(spool)
