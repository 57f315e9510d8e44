"""A real recording, put into a local S3 server (moto) as the shipper puts it, read back by
DuckDB 1.4.4 + httpfs (from PyPI's duckdb-ext-httpfs, loaded by path) and by pyarrow's
S3FileSystem: the same rows as the local files, the same types, and partition pruning."""

import datetime
import re

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

import s3_duckdb

# Columns checked value by value in every table that has them (on top of whole-table equality).
SPOT = ["ts", "hostname", "mem_total_bytes", "cpu_busy_pct", "cpu", "device", "interface", "rx_bytes", "pid"]


def local_sql(recording, table):
    return f"read_parquet('{recording['dir']}/{table}/*/*/*.parquet', hive_partitioning := true)"


def s3_sql(bucket, table):
    return f"read_parquet('{bucket['root']}/{table}/*/*/*.parquet', hive_partitioning := true)"


def sorted_table(con, src):
    return con.execute(f"SELECT * FROM {src} ORDER BY ALL").fetch_arrow_table()


def test_bucket_holds_the_recording_layout(recording, bucket):
    tables = {k.split("/")[1] for k in bucket["keys"]}
    assert tables == set(recording["present"])
    for k in bucket["keys"]:
        _, table, host, date, name = k.split("/")
        assert host.startswith("host=") and date.startswith("date=") and name.endswith(".parquet"), k
        datetime.date.fromisoformat(date.removeprefix("date="))


def test_duckdb_httpfs_reads_the_same_rows(recording, s3, bucket):
    local = duckdb.connect()
    remote = s3_duckdb.connect(s3)
    assert remote.execute("SELECT extension_version FROM duckdb_extensions() WHERE extension_name = 'httpfs' AND loaded").fetchone()
    for table in recording["present"]:
        q = "SELECT count(*), min(ts), max(ts) FROM {}"
        want = local.execute(q.format(local_sql(recording, table))).fetchone()
        got = remote.execute(q.format(s3_sql(bucket, table))).fetchone()
        assert got == want and want[0] > 0, (table, got, want)
        lt, rt = sorted_table(local, local_sql(recording, table)), sorted_table(remote, s3_sql(bucket, table))
        assert rt.schema == lt.schema, table
        for col in SPOT:
            if col in lt.column_names:
                assert rt.column(col).to_pylist() == lt.column(col).to_pylist(), (table, col)
        assert rt.equals(lt), table


def test_duckdb_types_survive(recording, s3, bucket):
    remote = s3_duckdb.connect(s3)
    for table in recording["present"]:
        got = [(r[0], r[1]) for r in remote.execute(f"DESCRIBE SELECT * FROM {s3_sql(bucket, table)}").fetchall()]
        declared = [tuple(c) for c in recording["columns"][table]]
        # The hive keys follow the file's columns (DuckDB puts `date` first). users has a column
        # named `host`: the partition key takes its place (test_users_host_column_needs_partitioning_off).
        if table != "users":
            assert got[: len(declared)] == declared, table
            assert sorted(got[len(declared):]) == [("date", "DATE"), ("host", "VARCHAR")], table
    got = dict(remote.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {s3_sql(bucket, 'metrics')})").fetchall())
    assert got["ts"] == "TIMESTAMP WITH TIME ZONE" and got["mem_total_bytes"] == "UBIGINT"


def objects_read(con, s3, bucket):
    reqs = s3_duckdb.http_requests(con)
    return {r["path"].removeprefix(f"/{s3.bucket}/") for r in reqs if r["method"] == "GET" and "list-type" not in r["query"]}


@pytest.fixture(scope="module")
def other_partitions(s3, bucket):
    """Copies of the metrics objects as another host's and as an earlier day's (server-side
    copies), so that a query for one host and day has partitions to skip."""
    client = s3.client()
    copies = []
    for k in bucket["keys"]:
        prefix, table, host, date, name = k.split("/")
        if table != "metrics":
            continue
        day = datetime.date.fromisoformat(date.removeprefix("date="))
        for new in (f"pruning/{table}/host=zz-other/{date}/{name}",
                    f"pruning/{table}/{host}/date={day - datetime.timedelta(days=1)}/{name}",
                    f"pruning/{table}/{host}/{date}/{name}"):
            client.copy_object(Bucket=s3.bucket, Key=new, CopySource={"Bucket": s3.bucket, "Key": k})
            copies.append(new)
    return copies


def test_duckdb_prunes_by_host_and_date(recording, s3, bucket, other_partitions):
    local = duckdb.connect()
    h, d = local.execute(f"SELECT any_value(host), any_value(date)::VARCHAR FROM {local_sql(recording, 'metrics')}").fetchone()
    want = local.execute(f"SELECT count(*) FROM {local_sql(recording, 'metrics')}").fetchone()[0]
    src = f"read_parquet('s3://{s3.bucket}/pruning/metrics/*/*/*.parquet', hive_partitioning := true)"
    con = s3_duckdb.connect(s3, log_http=True)
    assert con.execute(f"SELECT count(DISTINCT (host, date)) FROM {src}").fetchone()[0] == 3
    con = s3_duckdb.connect(s3, log_http=True)
    got = con.execute(f"SELECT count(*) FROM {src} WHERE host = ? AND date = ?", [h, d]).fetchone()[0]
    assert got == want
    read = objects_read(con, s3, bucket)
    skipped = [k for k in other_partitions if f"host={h}/date={d}/" not in k]
    wanted = [k for k in other_partitions if f"host={h}/date={d}/" in k]
    # The first file of the glob is opened for the schema; nothing else outside the partition.
    assert set(wanted) <= read, read
    assert len(read & set(skipped)) <= 1, read
    plan = con.execute(f"EXPLAIN ANALYZE SELECT count(*) FROM {src} WHERE host = ? AND date = ?", [h, d]).fetchall()
    text = "\n".join(r[1] for r in plan)
    m = re.search(r"Scanning Files:\s*(\d+)/(\d+)", text)
    assert m, text
    assert (int(m[1]), int(m[2])) == (len(wanted), len(other_partitions)), text


def pyarrow_fs(s3):
    return pafs.S3FileSystem(access_key=s3.client_key_id, secret_key=s3.client_secret, region=s3.region,
                             endpoint_override=s3.host_port, scheme="http")


HIVE = ds.partitioning(pa.schema([("host", pa.string()), ("date", pa.date32())]), flavor="hive")


def test_pyarrow_reads_the_same_rows_and_types(recording, s3, bucket):
    fs = pyarrow_fs(s3)
    local = duckdb.connect()
    for table in recording["present"]:
        if table == "users":
            continue  # its `host` column collides with the partition key (see below)
        dataset = ds.dataset(f"{s3.bucket}/{bucket['prefix']}/{table}", filesystem=fs, format="parquet", partitioning=HIVE)
        got = dataset.to_table()
        want = local.execute(f"SELECT * FROM {local_sql(recording, table)}").fetch_arrow_table()
        assert got.num_rows == want.num_rows > 0, table
        assert got.schema.field("ts").type == pa.timestamp("us", tz="UTC"), table
        for name, ty in recording["columns"][table]:
            if ty == "UBIGINT":
                assert got.schema.field(name).type == pa.uint64(), (table, name)
            if ty == "TIMESTAMP WITH TIME ZONE":
                assert got.schema.field(name).type == pa.timestamp("us", tz="UTC"), (table, name)
        keys = [c for c in ("ts", "cpu", "device", "interface", "mount_point", "resource", "kind", "sensor", "pid") if c in got.column_names]
        g = got.sort_by([(k, "ascending") for k in keys])
        w = want.sort_by([(k, "ascending") for k in keys])
        assert g.column("ts").to_pylist() == w.column("ts").to_pylist(), table
        for col in SPOT:
            if col in g.column_names:
                assert g.column(col).to_pylist() == w.column(col).to_pylist(), (table, col)


def test_pyarrow_prunes_by_host_and_date(recording, s3, other_partitions):
    fs = pyarrow_fs(s3)
    dataset = ds.dataset(f"{s3.bucket}/pruning/metrics", filesystem=fs, format="parquet", partitioning=HIVE)
    local = duckdb.connect()
    h, d = local.execute(f"SELECT any_value(host), any_value(date) FROM {local_sql(recording, 'metrics')}").fetchone()
    want = local.execute(f"SELECT count(*) FROM {local_sql(recording, 'metrics')}").fetchone()[0]
    flt = (ds.field("host") == h) & (ds.field("date") == d)
    fragments = [f.path for f in dataset.get_fragments(filter=flt)]
    assert fragments and all(f"/host={h}/date={d}/" in p for p in fragments), fragments
    assert len(fragments) < len(list(dataset.get_fragments()))
    assert dataset.to_table(filter=flt).num_rows == want


def test_users_host_column_needs_partitioning_off(tmp_path):
    """`system_users` has a column `host` (the remote host of a session); in a recording the hive
    key `host` (the recording host) hides it in every engine that adds partition columns. Read
    users with partitioning off (its `hostname` column names the recording host). A stand-in file
    with the users columns (this machine may have no login session to record)."""
    d = tmp_path / "users" / "host=web-1" / "date=2026-11-25"
    d.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT TIMESTAMPTZ '2026-11-25 10:00:00+00' AS ts, 'web-1' AS hostname, 'alice' AS "user",
                      'pts/0' AS tty, '192.0.2.7' AS host, TIMESTAMPTZ '2026-11-25 09:00:00+00' AS login_time,
                      42 AS pid, 'ssh' AS session_type) TO '{d}/L0-1-2.parquet' (FORMAT parquet)""")
    glob = f"{tmp_path}/users/*/*/*.parquet"
    hidden = con.execute(f"SELECT host FROM read_parquet('{glob}', hive_partitioning := true)").fetchone()[0]
    assert hidden == "web-1"  # the partition value, not the session's remote host
    kept = con.execute(f"SELECT hostname, host FROM read_parquet('{glob}', hive_partitioning := false)").fetchone()
    assert kept == ("web-1", "192.0.2.7")
    t = ds.dataset(str(tmp_path / "users"), format="parquet", partitioning=HIVE).to_table()
    assert t.column("host").to_pylist() == ["web-1"]  # hidden in pyarrow too
    t = ds.dataset(str(tmp_path / "users"), format="parquet").to_table()  # no partitioning given
    assert t.column("host").to_pylist() == ["192.0.2.7"]
