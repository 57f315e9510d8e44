"""History from an S3 bucket (issue 10 with issue 9's bucket): report_metrics('s3://...') and
serve_metrics(dir := 's3://...') read what record_metrics('s3://...') uploaded, against a local
moto server (test/python/s3_server.py, 127.0.0.1, stops by itself)."""

import json
import os
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import duckdb
import pytest

from recorder_helpers import SEES_LOCKDOWN, connect, wait_for
from s3_server import bucketless_server, set_aws_env

SECRET = "sysmon-test-SECRET-h1st0ry"
KEY_ID = "AKIASYSMONTEST000002"
TABLES = ("metrics", "cpus")


def Server(extra_env=None):
    return bucketless_server(KEY_ID, SECRET, extra_env)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    set_aws_env(monkeypatch, KEY_ID, SECRET)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


# The bucket is created, listed and read with plain HTTP and DuckDB's own read_parquet, so the
# test needs neither boto3 nor pyarrow and runs with every pinned client. moto checks no
# signature unless told to (INITIAL_NO_AUTH_ACTION_COUNT), but answers a request without an
# Authorization header as an anonymous one (403 on private objects): this header names the account.
AUTH = {
    "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
}


def s3_get(url, method="GET"):
    with urllib.request.urlopen(urllib.request.Request(url, headers=AUTH, method=method), timeout=30) as r:
        assert r.status == 200
        return r.read()


def create_bucket(server, bucket):
    s3_get(f"{server.endpoint}/{bucket}", method="PUT")


def bucket_rows(server, bucket, table, tmp):
    """The table's rows in the bucket: every object under fleet/<table>/ fetched and counted by
    DuckDB's read_parquet (not by sysmon)."""
    url = f"{server.endpoint}/{bucket}?list-type=2&prefix=fleet/{table}/"
    root = ET.fromstring(s3_get(url))
    ns = {"s3": root.tag.split("}")[0].strip("{")}
    assert root.findtext("s3:IsTruncated", namespaces=ns) == "false"
    keys = [k.text for k in root.iterfind("s3:Contents/s3:Key", ns)]
    assert keys and all(k.endswith(".parquet") for k in keys), keys
    files = []
    for i, k in enumerate(keys):
        path = os.path.join(tmp, f"{table}-{i}.parquet")
        with open(path, "wb") as f:
            f.write(s3_get(f"{server.endpoint}/{bucket}/{k}"))
        files.append(path)
    return duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchall()[0][0]


def get(port, target, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{target}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def recorded(server, tmp_path_factory):
    """A few seconds recorded into a fresh bucket by record_metrics('s3://...'), stopped."""
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        bucket = f"history-{os.getpid()}"
        create_bucket(server, bucket)
        spool = tmp_path_factory.mktemp("spool")
        con = connect()
        tables = ", ".join(f"'{t}'" for t in TABLES)
        rid = con.execute(
            f"SELECT id FROM record_metrics('s3://{bucket}/fleet', INTERVAL '200 milliseconds', tables := [{tables}], "
            f"endpoint := '{server.endpoint}', spool := '{spool}', upload_interval := INTERVAL 1 SECOND, "
            "flush_interval := INTERVAL '400 milliseconds')"
        ).fetchall()[0][0]
        # Some 3 s recorded (15 ticks; longer on a loaded machine).
        assert wait_for(
            lambda: con.execute("SELECT samples_taken FROM recordings() WHERE id = ?", [rid]).fetchall()[0][0] >= 15,
            timeout=60,
        )
        cur = con.execute("SELECT * FROM stop_recording(?)", [rid])
        row = dict(zip([c[0] for c in cur.description], cur.fetchall()[0]))
        assert row["last_error"] is None and row["upload_backlog_bytes"] == 0, row
        host = con.execute("SELECT hostname FROM system_info()").fetchall()[0][0]
        con.close()
        tmp = tmp_path_factory.mktemp("objects")
        rows = {t: bucket_rows(server, bucket, t, str(tmp)) for t in TABLES}
        assert rows["metrics"] >= 10, rows
        yield bucket, rows, host
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_report_reads_the_bucket(server, recorded, tmp_path):
    bucket, rows, host = recorded
    con = connect()
    out = tmp_path / "r.html"
    cur = con.execute(
        f"SELECT * FROM report_metrics('s3://{bucket}/fleet', '{out}', endpoint := '{server.endpoint}', region := 'us-east-1')"
    )
    row = dict(zip([c[0] for c in cur.description], cur.fetchall()[0]))
    assert row["rows_read"] == sum(rows.values()), (row, rows)
    assert row["bytes_written"] == os.path.getsize(out)
    html = out.read_text()
    assert '"metrics":{"table":"metrics"' in html and '"cpus":{"table":"cpus"' in html
    assert SECRET not in html


def test_server_answers_hosts_and_history_from_the_bucket(server, recorded):
    bucket, rows, host = recorded
    con = connect()
    cur = con.execute(f"SELECT * FROM serve_metrics(port := 0, dir := 's3://{bucket}/fleet', endpoint := '{server.endpoint}')")
    srv = dict(zip([c[0] for c in cur.description], cur.fetchall()[0]))
    token = srv["url"].split("token=", 1)[1]
    try:
        assert srv["dir"] == f"s3://{bucket}/fleet"
        status, hosts = get(srv["port"], "/api/hosts", token)
        assert status == 200, hosts
        assert hosts["dir"] == f"s3://{bucket}/fleet"
        (h,) = hosts["hosts"]
        assert sorted(h["tables"]) == sorted(TABLES) and h["first_ms"] <= h["last_ms"], h
        target = f"/api/history?table=metrics&host={h['host']}&from={h['first_ms'] - 1000}&to={h['last_ms'] + 1000}&width=50"
        status, hist = get(srv["port"], target, token)
        assert status == 200, hist
        assert hist["rows_read"] == rows["metrics"]
        assert len(hist["t"]) > 1 and hist["series"], hist
        cpu = [s for s in hist["series"] if s["column"] == "cpu_user_pct"][0]
        assert any(v is not None for v in cpu["avg"])
        status, err = get(srv["port"], "/api/history?table=metrics&host=nope", token)
        assert status == 404 and "no recording of host 'nope'" in err["error"], err
        assert con.execute("SELECT dir FROM servers() WHERE id = ?", [srv["id"]]).fetchall()[0][0] == f"s3://{bucket}/fleet"
    finally:
        con.execute("SELECT * FROM stop_serving(?)", [srv["id"]]).fetchall()


def _refused(con, sql):
    with pytest.raises(duckdb.Error) as e:
        con.execute(sql).fetchall()
    msg = str(e.value)
    assert SECRET not in msg
    return msg


def test_missing_or_empty_bucket_is_a_clear_error_at_start(server, tmp_path):
    con = connect()
    before = con.execute("SELECT count(*) FROM servers()").fetchall()[0][0]
    for sql in [
        f"SELECT * FROM report_metrics('s3://no-such-bucket-h/p', '{tmp_path}/r.html', endpoint := '{server.endpoint}')",
        f"SELECT * FROM serve_metrics(port := 0, dir := 's3://no-such-bucket-h/p', endpoint := '{server.endpoint}')",
    ]:
        msg = _refused(con, sql)
        assert "cannot read the recording in s3://no-such-bucket-h/p" in msg and "NoSuchBucket" in msg, msg
    empty = f"empty-{os.getpid()}"
    create_bucket(server, empty)
    msg = _refused(con, f"SELECT * FROM serve_metrics(port := 0, dir := 's3://{empty}/p', endpoint := '{server.endpoint}')")
    assert f"s3://{empty}/p holds no recording" in msg, msg
    msg = _refused(con, f"SELECT * FROM report_metrics('s3://{empty}', '{tmp_path}/r.html', endpoint := '{server.endpoint}')")
    assert f"s3://{empty} holds no recording" in msg, msg
    assert con.execute("SELECT count(*) FROM servers()").fetchall()[0][0] == before, "nothing started"
    assert not os.path.exists(tmp_path / "r.html")
    msg = _refused(con, f"SELECT * FROM report_metrics('{tmp_path}', '{tmp_path}/r.html', endpoint := 'http://127.0.0.1:1')")
    assert "endpoint applies only to a dir of the form 's3://" in msg, msg
    msg = _refused(con, "SELECT * FROM serve_metrics(port := 0, dir := 's3://abc/p', endpoint := 'ftp://x')")
    assert "endpoint must be an http:// or https:// URL" in msg, msg


def test_wrong_credentials_are_a_clear_error(tmp_path):
    s = Server({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        con = connect()
        for sql in [
            f"SELECT * FROM report_metrics('s3://some-bucket/p', '{tmp_path}/r.html', endpoint := '{s.endpoint}')",
            f"SELECT * FROM serve_metrics(port := 0, dir := 's3://some-bucket/p', endpoint := '{s.endpoint}')",
        ]:
            msg = _refused(con, sql)
            assert "cannot read the recording in s3://some-bucket/p" in msg, msg
            assert "InvalidAccessKeyId" in msg or "403" in msg, msg
    finally:
        s.stop()


@pytest.mark.skipif(not SEES_LOCKDOWN, reason="DuckDB before 1.5.6 cannot tell sysmon enable_external_access")
def test_lockdown_refuses_a_bucket(tmp_path):
    con = connect()
    con.execute(f"SET allowed_directories = ['{tmp_path}']")
    con.execute("SET enable_external_access = false")
    msg = _refused(con, f"SELECT * FROM report_metrics('s3://abc/x', '{tmp_path}/r.html')")
    assert "reading a recording from object storage is network access" in msg, msg
    msg = _refused(con, "SELECT * FROM serve_metrics(port := 0, dir := 's3://abc/x')")
    assert "enable_external_access is false" in msg, msg
