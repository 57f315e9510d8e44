"""Apache Spark (pyspark from PyPI on Debian's JDK, local[1]) reads a real recording's layout,
hive partitions included: the Spark type of every column of every recorded table, the values,
and docs/fleet.md's fleet queries (Spark's and DuckDB's, over the same rows, agree).

Spark reads the local copy of the recording: reading the bucket needs Hadoop's S3A connector
(hadoop-aws and the AWS SDK bundle jars), which no PyPI package ships (docs/fleet.md, "Reading the fleet").
"""

import os
import re
import shutil

import duckdb
import pytest

import s3_duckdb

# How Spark 4 sees each SQL type of a recorded column (Parquet logical type -> Spark type).
SPARK_TYPE = {
    "BOOLEAN": "boolean",
    "INTEGER": "int",
    "UINTEGER": "bigint",  # INT32 (INTEGER(32, unsigned)): widened, exact
    "BIGINT": "bigint",
    "UBIGINT": "decimal(20,0)",  # INT64 (INTEGER(64, unsigned)): exact, Spark has no unsigned type
    "DOUBLE": "double",
    "VARCHAR": "string",
    "VARCHAR[]": "array<string>",
    "TIMESTAMP WITH TIME ZONE": "timestamp",  # TIMESTAMP(MICROS, isAdjustedToUTC): an instant
}

FLEET_DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "docs", "fleet.md")

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="no java (Debian: openjdk-17-jre-headless); .ci/run installs it")


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    s = (
        SparkSession.builder.master("local[1]")
        .appName("sysmon-fleet-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.memory", "512m")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def test_spark_types_and_values_of_every_column(spark, recording):
    """Every column of every recorded table: its Spark type, and the rows (count, first and last
    `ts`, the exact sum and maximum of every unsigned counter) against DuckDB's read."""
    assert recording["present"], recording
    local = duckdb.connect()
    for table in recording["present"]:
        if table == "users":
            continue  # its `host` column collides with the partition key (test_s3_readback.py)
        df = spark.read.parquet(f"{recording['dir']}/{table}")
        got = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
        want = [(name, SPARK_TYPE[ty]) for name, ty in recording["columns"][table]]
        assert got == want + [("host", "string"), ("date", "date")], table
        src = f"read_parquet('{recording['dir']}/{table}/*/*/*.parquet', hive_partitioning := true)"
        counters = [name for name, ty in recording["columns"][table] if ty == "UBIGINT"]
        exprs = ["count(*)", "unix_micros(min(ts))", "unix_micros(max(ts))"]
        exprs += [f"CAST({f}({c}) AS STRING)" for c in counters for f in ("sum", "max")]
        df.createOrReplaceTempView("t")
        spark_row = list(spark.sql(f"SELECT {', '.join(exprs)} FROM t").collect()[0])
        duck = ["count(*)", "epoch_us(min(ts))", "epoch_us(max(ts))"]
        duck += [f"{f}({c})::VARCHAR" for c in counters for f in ("sum", "max")]
        duck_row = list(local.execute(f"SELECT {', '.join(duck)} FROM {src}").fetchone())
        assert spark_row == duck_row and duck_row[0] > 0, table


def fleet_doc_block(marker):
    """The fenced code block right after `<!-- marker -->` in docs/fleet.md."""
    text = open(FLEET_DOC).read()
    m = re.search(r"<!-- " + re.escape(marker) + r" -->\s*```\w*\n(.*?)```", text, re.S)
    assert m, f"docs/fleet.md lacks the block marked {marker}"
    return m.group(1)


def test_fleet_doc_queries_agree(spark, recording, s3, bucket):
    # DuckDB over S3, docs/fleet.md's query with the bucket of this test.
    duck_sql = fleet_doc_block("fleet-query-duckdb")
    duck_sql = re.sub(r"s3://[^/']+/[^']*?/metrics/", f"{bucket['root']}/metrics/", duck_sql)
    duck = s3_duckdb.connect(s3).execute(duck_sql).fetchall()
    assert duck, duck_sql
    # Spark, docs/fleet.md's code with the local copy (Spark has no S3 connector here).
    code = fleet_doc_block("fleet-query-spark")
    code = re.sub(r"s3a://[^\"']+/metrics", f"{recording['dir']}/metrics", code)
    code = code.replace("SparkSession.builder", "SparkSession.builder.master('local[1]')")
    scope = {}
    exec(compile(code, "docs/fleet.md (Spark fleet query)", "exec"), scope)
    rows = [tuple(r) for r in scope["top"].collect()]
    assert [r[0] for r in rows] == [r[0] for r in duck]
    for (h1, cpu1, mem1), (h2, cpu2, mem2) in zip(rows, duck):
        assert cpu1 == pytest.approx(cpu2, rel=1e-9) and mem1 == pytest.approx(mem2, rel=1e-12)


def test_users_host_column_in_spark(spark, tmp_path):
    """users' own `host` column is hidden by the partition key in Spark too, and kept with
    recursiveFileLookup (no partition discovery), as docs/fleet.md says. A stand-in file with the
    users columns (this machine may have no login session to record)."""
    d = tmp_path / "users" / "host=web-1" / "date=2026-11-25"
    d.mkdir(parents=True)
    duckdb.connect().execute(
        f"""COPY (SELECT TIMESTAMPTZ '2026-11-25 10:00:00+00' AS ts, 'web-1' AS hostname, 'alice' AS "user",
                  '192.0.2.7' AS host) TO '{d}/L0-1-2.parquet' (FORMAT parquet)""")
    hidden = spark.read.parquet(str(tmp_path / "users")).select("host").collect()
    assert [r.host for r in hidden] == ["web-1"]
    kept = spark.read.option("recursiveFileLookup", "true").parquet(str(tmp_path / "users")).collect()
    assert [(r.hostname, r.host) for r in kept] == [("web-1", "192.0.2.7")]
