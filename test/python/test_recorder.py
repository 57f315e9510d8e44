"""End-to-end tests of the recorder in a real DuckDB: record_metrics, recordings, stop_recording."""

import glob
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from recorder_helpers import (
    EXT,
    SEES_LOCKDOWN,
    await_samples,
    child,
    connect,
    kill_reporting,
    missing_slots,
    parquet_files,
    reporting_child,
    read_ts,
    start,
    status,
    stop,
    wait_for,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def con():
    c = connect()
    yield c
    # Stop whatever a failed test left running, so later tests start clean.
    for (rid,) in c.execute("SELECT id FROM recordings() WHERE state = 'running'").fetchall():
        c.execute("SELECT * FROM stop_recording(?)", [rid]).fetchall()
    c.close()


def test_rows_match_elapsed_time_and_interval(con, tmp_path):
    t0 = time.time()
    rid = start(con, tmp_path, "100 milliseconds", flush_interval="INTERVAL '300 milliseconds'",
                tables="['metrics', 'cpus']")
    t1 = time.time()
    time.sleep(2.0)
    t2 = time.time()
    row = stop(con, rid)
    t3 = time.time()
    assert row["state"] == "stopped"
    assert row["last_error"] is None
    taken, missed = row["samples_taken"], row["samples_missed"]
    # One tick per 100 ms slot of the time it ran, give or take the slots at both ends: at least
    # from the return of record_metrics to the call of stop_recording, at most from the call of
    # the one to the return of the other (the same span on an idle machine; on a loaded one
    # starting and stopping take a while).
    assert (t2 - t1) / 0.1 - 3 <= taken + missed <= (t3 - t0) / 0.1 + 3, (taken, missed, t1 - t0, t2 - t1, t3 - t2)
    ts = read_ts(con, tmp_path)
    assert len(ts) == taken, "one metrics row per sample"
    # Every slot without a row is a tick counted as missed. (Not "no two rows more than 1.5
    # intervals apart": a tick woken 60 ms late is in its own slot, 160 ms after the one before.)
    assert missing_slots(ts, 100_000) <= missed, (missing_slots(ts, 100_000), missed)
    # Ticks are aligned on the wall clock: one per 100 ms slot, carrying the slot's due time when
    # its reads began within the 2 ms tolerance (all ticks or nearly on an idle machine), else
    # the moment they began (a tick woken late: on a loaded machine many are, by 4 to 60 ms).
    late = [t % 100_000 for t in ts]
    assert len({t // 100_000 for t in ts}) == len(ts), late
    assert all(x == 0 or x > 2_000 for x in late), late
    assert 0 in late, late
    ncpu = con.execute("SELECT count(*) FROM system_cpus()").fetchone()[0]
    assert len(read_ts(con, tmp_path, "cpus")) == taken * ncpu
    assert row["rows_written"] == taken * (1 + ncpu)
    assert row["files_written"] >= 2 and row["bytes_written"] > 0


def recordable_tables(con, tmp_path):
    """The recordable tables, as the extension lists them (its registry), not a copy here."""
    try:
        con.execute(f"SELECT * FROM record_metrics('{tmp_path}/none', INTERVAL 1 SECOND, tables := ['?'])")
    except duckdb.Error as e:
        accepted = str(e).split("accepted: ", 1)[1].split(" (", 1)[0]
        return accepted.split(", ")
    raise AssertionError("an unknown table name was accepted")


def test_every_table_records_the_live_tables_columns(con, tmp_path):
    ALL_TABLES = recordable_tables(con, tmp_path)
    assert {"metrics", "processes", "cgroups"} <= set(ALL_TABLES) and "info" not in ALL_TABLES
    names = ", ".join(f"'{n}'" for n in ALL_TABLES)
    rid = start(con, tmp_path, "100 milliseconds", tables=f"[{names}]",
                process_interval="INTERVAL '200 milliseconds'", flush_interval="INTERVAL '300 milliseconds'")
    # 12 ticks span at least six 200 ms process slots: several process snapshots.
    assert wait_for(lambda: status(con, rid)["samples_taken"] >= 12, timeout=60)
    row = stop(con, rid)
    assert row["last_error"] is None, row["last_error"]
    assert row["tables"] == ALL_TABLES
    for n in ALL_TABLES:
        files = parquet_files(tmp_path, n)
        if n == "alerts":
            # Transitions of alerts started with this dir only (none here): test_alerts.py
            # reads recorded ones back.
            assert files == [], "no alert names this folder"
            continue
        function = f"system_{n}"
        if con.execute(f"SELECT count(*) FROM {function}()").fetchone()[0] == 0:
            assert files == [], f"{n} has no live rows here, so no files"
            continue
        assert files, n
        live = con.execute(f"DESCRIBE SELECT * FROM {function}()").fetchall()
        rec = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{tmp_path}/{n}/**/*.parquet', hive_partitioning := false)"
        ).fetchall()
        assert [(c[0], c[1]) for c in rec] == [(c[0], c[1]) for c in live], n
    # This process is in the process history, with its command line and a CPU share from the
    # second snapshot on.
    me = con.execute(
        f"SELECT count(*), count(cpu_pct), any_value(cmdline) FROM read_parquet('{tmp_path}/processes/**/*.parquet') "
        "WHERE pid = ?", [os.getpid()]
    ).fetchone()
    assert me[0] >= 2 and me[1] >= 1, me
    assert me[2][0].endswith("python") or "python" in me[2][0], me


def test_files_are_read_by_duckdb_with_the_live_columns(con, tmp_path):
    rid = start(con, tmp_path, "50 milliseconds", flush_interval="INTERVAL '200 milliseconds'")
    assert wait_for(lambda: status(con, rid)["samples_taken"] >= 10, timeout=60)
    stop(con, rid)
    live = con.execute("DESCRIBE SELECT * FROM system_metrics()").fetchall()
    rec = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{tmp_path}/metrics/**/*.parquet', hive_partitioning := false)").fetchall()
    assert [(c[0], c[1]) for c in rec] == [(c[0], c[1]) for c in live]
    assert dict((c[0], c[1]) for c in rec)["ts"] == "TIMESTAMP WITH TIME ZONE"
    host, date, hostname, n = con.execute(
        f"SELECT host, date::VARCHAR, any_value(hostname), count(*) FROM read_parquet('{tmp_path}/cpus/**/*.parquet', hive_partitioning := true) GROUP BY ALL"
    ).fetchone()
    assert n > 0
    assert date == time.strftime("%Y-%m-%d", time.gmtime()) or n > 0
    assert hostname.replace("/", "_") == host
    kv = dict(
        con.execute(
            f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{parquet_files(tmp_path)[0]}')"
        ).fetchall()
    )
    assert kv["sysmon.table"] == "metrics"
    assert kv["sysmon.host"] == host
    assert kv["sysmon.schema_version"] == "1"
    assert float(kv["sysmon.interval_seconds"]) == 0.05
    assert "sysmon.version" in kv
    # Temporary files never match a *.parquet glob, and none is left after a stop.
    assert not glob.glob(f"{tmp_path}/**/*.tmp", recursive=True)


def test_files_are_read_by_pyarrow(con, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    ds = pytest.importorskip("pyarrow.dataset")
    rid = start(con, tmp_path, "50 milliseconds", flush_interval="INTERVAL '200 milliseconds'")
    assert wait_for(lambda: status(con, rid)["samples_taken"] >= 10, timeout=60)
    stop(con, rid)
    t = ds.dataset(f"{tmp_path}/metrics", format="parquet", partitioning="hive").to_table()
    assert t.num_rows == len(read_ts(con, tmp_path))
    assert str(t.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert str(t.schema.field("mem_total_bytes").type) == "uint64"
    md = pq.read_metadata(parquet_files(tmp_path)[0])
    assert md.metadata[b"sysmon.table"] == b"metrics"
    encodings = md.row_group(0).column(0).encodings
    assert "DELTA_BINARY_PACKED" in encodings, encodings


def test_sigkill_leaves_only_valid_files_and_continuous_data(con, tmp_path):
    p = reporting_child(
        f"""
        con.execute("SELECT * FROM record_metrics('{tmp_path}', INTERVAL '50 milliseconds', flush_interval := INTERVAL '300 milliseconds')").fetchall()
        """
    )
    # About 2 s recorded (40 ticks; longer on a loaded machine), then killed.
    killed_at, (reported_at, _, missed) = kill_reporting(p, await_samples(p, 40))
    # Every visible file is complete and readable (with the default publish_interval the
    # flushed rows are still in the hidden write-ahead logs).
    for f in parquet_files(tmp_path) + parquet_files(tmp_path, "cpus"):
        assert con.execute(f"SELECT count(*) FROM read_parquet('{f}')").fetchone()[0] > 0
    assert glob.glob(f"{tmp_path}/*/host=*/.wal")
    # A new recorder in the same directory starts (the lock died with the process) and
    # publishes what the killed one had flushed.
    rid = start(con, tmp_path)
    stop(con, rid)
    ts = [t for t in read_ts(con, tmp_path) if t / 1e6 < killed_at]
    assert ts
    assert len(ts) == len(set(ts))
    # Up to the child's last report, every slot without a row is a tick it counted as missed
    # (none on an idle machine).
    assert missing_slots([t for t in ts if t / 1e6 < reported_at], 50_000) <= missed, \
        "data is continuous up to the last flush"
    # What is lost is bounded by the flush interval (and the time to write the log).
    assert killed_at - ts[-1] / 1e6 < 0.3 + 0.5, killed_at - ts[-1] / 1e6
    assert read_ts(con, tmp_path, "cpus")
    assert not glob.glob(f"{tmp_path}/**/.*.tmp", recursive=True)


def wal_ts(path):
    """The `ts` of every row in a write-ahead log (records: "SMW1", length, CRC-32, day, first
    and last ts, Arrow IPC stream), up to its last valid record; None without pyarrow."""
    try:
        import pyarrow.ipc
    except ImportError:
        return None
    import struct
    import zlib

    data = open(path, "rb").read()
    out, at = [], 0
    while at + 12 <= len(data) and data[at:at + 4] == b"SMW1":
        n, crc = struct.unpack_from("<II", data, at + 4)
        payload = data[at + 12:at + 12 + n]
        if len(payload) < n or zlib.crc32(payload) != crc:
            break
        batch = pyarrow.ipc.open_stream(payload[24:]).read_all()
        out += [t.value for t in batch.column("ts")]
        at += 12 + n
    return out


@pytest.mark.parametrize("when", ["publish", "replay"])
def test_kill_during_publish_or_replay_loses_and_doubles_nothing(con, tmp_path, when):
    """Killed with a level-0 file visible and its rows still in the log (the publish's
    `publish_after_rename` pause), by a recorder publishing on schedule or replaying the log
    of a killed one: the next recorder leaves every flushed row exactly once."""
    pause = {"SYSMON_TEST_MERGE_PAUSE": "publish_after_rename:60"}
    publish = "1 second" if when == "publish" else "1 hour"
    p = reporting_child(
        f"""
        con.execute("SELECT * FROM record_metrics('{tmp_path}', INTERVAL '50 milliseconds', tables := ['metrics'], flush_interval := INTERVAL '150 milliseconds', publish_interval := INTERVAL '{publish}')").fetchall()
        """,
        env=pause if when == "publish" else None,
    )
    last = await_samples(p, 1)
    try:
        if when == "publish":
            assert wait_for(lambda: parquet_files(tmp_path), timeout=60), "no publish"
            time.sleep(0.3)
        else:
            # About 1.5 s recorded (30 ticks; longer on a loaded machine).
            last = await_samples(p, 30)
    finally:
        killed_at, (reported_at, _, missed) = kill_reporting(p, last)
    log = glob.glob(f"{tmp_path}/metrics/host=*/.wal")
    assert log and os.path.getsize(log[0]) > 0, "the killed recorder's rows are in its log"
    logged = wal_ts(log[0])
    if when == "replay":
        # The next recorder replays the log and is killed with the replayed file visible.
        q = child(
            f"""
            con.execute("SELECT * FROM record_metrics('{tmp_path}', INTERVAL '50 milliseconds', tables := ['metrics'], flush_interval := INTERVAL '150 milliseconds')").fetchall()
            print('started', flush=True)
            time.sleep(60)
            """,
            env=pause,
        )
        try:
            assert wait_for(lambda: parquet_files(tmp_path), timeout=60), q.stderr.read() if q.poll() is not None else "no replay"
            time.sleep(0.3)
        finally:
            os.kill(q.pid, signal.SIGKILL)
            q.wait()
        assert os.path.getsize(log[0]) > 0, "killed before the log was emptied"
    seen = read_ts(con, tmp_path)
    assert seen and len(seen) == len(set(seen))
    rid = start(con, tmp_path, "50 milliseconds", tables="['metrics']")
    stop(con, rid)
    ts = read_ts(con, tmp_path)
    assert len(ts) == len(set(ts)), "no row visible twice"
    assert set(seen) <= set(ts), "no row lost"
    if logged is not None:
        assert logged and set(logged) <= set(ts), "every row of the killed recorder's log published"
    if when == "replay":
        # (A publish paused on purpose holds the writer, so neither continuity nor the flush's
        # bound applies to the rows sampled during the pause.)
        first = [t for t in ts if t / 1e6 < killed_at]
        # Every slot without a row up to the child's last report is a tick it counted as missed.
        assert missing_slots([t for t in first if t / 1e6 < reported_at], 50_000) <= missed, \
            "continuous up to the first kill"
        assert killed_at - first[-1] / 1e6 < 0.15 + 0.5, killed_at - first[-1] / 1e6
    assert not glob.glob(f"{tmp_path}/**/.*.tmp", recursive=True)


def test_normal_exit_without_stop_loses_nothing(con, tmp_path):
    p = child(
        f"""
        con.execute("SELECT * FROM record_metrics('{tmp_path}', INTERVAL '50 milliseconds', flush_interval := INTERVAL '1 hour')").fetchall()
        # About 1 s recorded (20 ticks; longer on a loaded machine), then the process exits.
        deadline = time.time() + 60
        while con.execute("SELECT samples_taken FROM recordings()").fetchone()[0] < 20 and time.time() < deadline:
            time.sleep(0.02)
        ended = time.time()
        print(ended, con.execute("SELECT samples_missed FROM recordings()").fetchone()[0], flush=True)
        """
    )
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    ended, missed = out.split()
    ended, missed = float(ended), int(missed)
    ts = read_ts(con, tmp_path)
    assert len(ts) >= 15, "the exit hook wrote the buffered rows"
    # Every slot without a row up to the end is a tick it counted as missed (none when idle).
    assert missing_slots([t for t in ts if t / 1e6 < ended], 50_000) <= missed
    assert ended - ts[-1] / 1e6 < 0.2
    assert read_ts(con, tmp_path, "cpus")


def test_closing_a_file_backed_database_lets_another_process_open_it(tmp_path):
    db = tmp_path / "user.duckdb"
    rec = tmp_path / "rec"
    p = child(
        f"""
        c = duckdb.connect('{db}', config={{'allow_unsigned_extensions': 'true'}})
        c.execute("LOAD '{EXT}'")
        c.execute("CREATE TABLE t AS SELECT 1 AS x")
        c.execute("SELECT * FROM record_metrics('{rec}', INTERVAL '50 milliseconds', flush_interval := INTERVAL '200 milliseconds')").fetchall()
        c.close()
        print('closed', flush=True)
        sys.stdin.readline()
        # The recorder outlived the database that started it.
        print(con.execute("SELECT state, samples_taken FROM recordings()").fetchall(), flush=True)
        """,
        stdin=subprocess.PIPE,
    )
    assert p.stdout.readline().strip() == "closed", p.stderr.read()
    other = subprocess.run(
        [sys.executable, "-c", f"import duckdb; c = duckdb.connect('{db}'); c.execute('INSERT INTO t VALUES (2)'); print(c.execute('SELECT count(*) FROM t').fetchone()[0])"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "2"
    out, err = p.communicate("go\n", timeout=60)
    assert p.returncode == 0, err
    assert "'running'" in out
    assert read_ts(connect(), rec)


def test_lockdown_refuses_a_directory_outside_allowed_directories(tmp_path):
    if not SEES_LOCKDOWN:
        pytest.skip("DuckDB before 1.5.6 cannot tell an extension its settings (documented)")
    c = connect()
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    # /proc and /sys: what the recorded tables read (test_lockdown.py tests them).
    c.execute(f"SET allowed_directories = ['{allowed}', '/proc', '/sys']")
    c.execute("SET enable_external_access = false")
    with pytest.raises(Exception, match="DuckDB's configuration denies access to '.*denied'"):
        c.execute(f"SELECT * FROM record_metrics('{tmp_path}/denied', INTERVAL 1 SECOND)")
    assert c.execute("SELECT count(*) FROM recordings() WHERE state = 'running'").fetchone()[0] == 0
    assert not (tmp_path / "denied").exists()
    rid = c.execute(f"SELECT id FROM record_metrics('{allowed}/rec', INTERVAL 1 SECOND)").fetchone()[0]
    c.execute("SELECT * FROM stop_recording(?)", [rid]).fetchall()


BAD = [
    ("record_metrics(NULL, INTERVAL 1 SECOND)", "dir must be a directory path"),
    ("record_metrics('', INTERVAL 1 SECOND)", "got an empty string"),
    ("record_metrics('{tmp}/afile', INTERVAL 1 SECOND)", "is a file, not a directory"),
    ("record_metrics('{tmp}/afile/sub', INTERVAL 1 SECOND)", "cannot be created"),
    ("record_metrics('/proc', INTERVAL 1 SECOND)", "'/proc' is on a proc file system, a view of the kernel that cannot hold files"),
    ("record_metrics('/proc/sysmon-x', INTERVAL 1 SECOND)", "cannot be created: '/proc' is on a proc file system"),
    ("record_metrics('{tmp}/d', NULL)", "interval must be an INTERVAL from 10 ms to 1 day"),
    ("record_metrics('{tmp}/d', INTERVAL 0 SECOND)", "got '00:00:00'"),
    ("record_metrics('{tmp}/d', INTERVAL '-1 second')", "interval must be an INTERVAL"),
    ("record_metrics('{tmp}/d', INTERVAL 5 MILLISECOND)", "interval must be an INTERVAL from 10 ms to 1 day"),
    ("record_metrics('{tmp}/d', INTERVAL 2 DAY)", "got '2 days'"),
    ("record_metrics('{tmp}/d', INTERVAL 1 MONTH)", "month part"),
    ("record_metrics('{tmp}/d', INTERVAL 1 SECOND, tables := ['metrics', 'bogus'])", "unknown table 'bogus'; accepted: metrics, cpus"),
    ("record_metrics('{tmp}/d', INTERVAL 1 SECOND, tables := [])", "at least one table"),
    ("record_metrics('{tmp}/d', INTERVAL 1 SECOND, tables := NULL)", "tables must be a list"),
    ("record_metrics('{tmp}/d', INTERVAL 1 SECOND, flush_interval := INTERVAL 1 MILLISECOND)", "flush_interval must be an INTERVAL from 100 ms"),
    ("record_metrics('{tmp}/d', INTERVAL 2 SECOND, process_interval := INTERVAL 1 SECOND)", "process_interval must be at least interval"),
    ("record_metrics('{tmp}/d', INTERVAL 1 SECOND, retention := INTERVAL 1 SECOND)", "retention must be an INTERVAL from 1 minute"),
    ("record_metrics('{tmp}/d', INTERVAL 1 SECOND, max_bytes := 0)", "max_bytes must be a positive number"),
    ("record_metrics('{tmp}/d', INTERVAL 1 SECOND, max_bytes := NULL)", "max_bytes must be a positive number"),
    ("record_metrics('{tmp}/d', INTERVAL 1 SECOND, max_bytes := 1)", "max_bytes must be at least 8388608 bytes"),
    ("stop_recording(NULL)", "id must be the id of a running recorder"),
    ("stop_recording(987654)", "no recorder has id 987654"),
]


@pytest.mark.parametrize("call,message", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_input_is_a_clear_error_and_starts_nothing(con, tmp_path, call, message):
    (tmp_path / "afile").write_text("x")
    before = con.execute("SELECT count(*) FROM recordings()").fetchone()[0]
    with pytest.raises(Exception) as e:
        con.execute(f"SELECT * FROM {call.format(tmp=tmp_path)}")
    assert message in str(e.value)
    assert con.execute("SELECT count(*) FROM recordings()").fetchone()[0] == before
    assert not (tmp_path / "d").exists()


def test_relative_dir_is_resolved_and_reported(con, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rid, d = con.execute("SELECT id, dir FROM record_metrics('rel/x', INTERVAL 1 SECOND)").fetchone()
    stop(con, rid)
    assert d == str(tmp_path / "rel" / "x")


@pytest.mark.parametrize("first", ["new_recorder", "old_recorder"])
def test_a_deleted_folder_taken_over_by_another_recorder_never_gets_a_row_twice(con, tmp_path, first):
    # Issue 20: recorder A records, its folder is deleted, recorder B (another process) records
    # into the same path and stops; A's stop published its whole journal into B's folder, so
    # the (host, ts) of the ticks both sampled appeared twice. Both orders of stop. A flushes
    # every 5 s (and finds a lost folder at a flush): B, started beforehand and waiting, takes
    # the new folder within milliseconds of the delete, well before A's next flush.
    import shutil

    d = tmp_path / "race"
    opts = "tables := ['metrics'], publish_interval := INTERVAL 1 HOUR"
    b = child(
        f"""
        sys.stdin.readline()
        (bid,) = con.execute("SELECT id FROM record_metrics('{d}', INTERVAL '100 milliseconds', {opts})").fetchone()
        deadline = time.time() + 60
        while con.execute("SELECT samples_taken FROM recordings() WHERE id = ?", [bid]).fetchone()[0] < 10:
            assert time.time() < deadline, "B took no samples"
            time.sleep(0.05)
        print('recording', flush=True)
        sys.stdin.readline()
        print(con.execute("SELECT state, last_error FROM stop_recording(?)", [bid]).fetchone(), flush=True)
        """,
        stdin=subprocess.PIPE,
    )
    rid = con.execute(
        f"SELECT id FROM record_metrics('{d}', INTERVAL '100 milliseconds', flush_interval := INTERVAL 5 SECONDS, {opts})"
    ).fetchone()[0]
    assert wait_for(lambda: status(con, rid)["rows_journaled"] > 0, timeout=60)
    shutil.rmtree(d)
    b.stdin.write("go\n")
    b.stdin.flush()
    assert b.stdout.readline().strip() == "recording", b.stderr.read()

    def stop_a():
        # A may have found the takeover at a flush and stopped by itself already.
        if status(con, rid)["state"] == "running":
            stop(con, rid)
        return status(con, rid)

    if first == "new_recorder":
        out, err = b.communicate("stop\n", timeout=120)
        assert "'stopped', None" in out, (out, err)
        a = stop_a()
    else:
        a = stop_a()
        out, err = b.communicate("stop\n", timeout=120)
        assert "'stopped', None" in out, (out, err)
    # A stopped without writing into the partition B took over, and says what it dropped.
    assert a["state"] == "stopped" and "another recorder" in (a["last_error"] or ""), a
    assert a["rows_dropped"] > 0, a
    ts = read_ts(con, d)
    assert ts, "B's rows are there"
    assert len(ts) == len(set(ts)), "no (host, ts) twice"


def test_journaled_rows_are_counted_before_they_are_published(con, tmp_path):
    # recordings() said rows_written 0, files_written 0 for the first minutes: flushes go to the
    # write-ahead log, and only a publish writes files. Each is counted now.
    d = tmp_path / "j"
    rid = con.execute(
        f"SELECT id FROM record_metrics('{d}', INTERVAL '100 milliseconds', tables := ['metrics'], "
        "flush_interval := INTERVAL '200 milliseconds', publish_interval := INTERVAL 1 HOUR)"
    ).fetchone()[0]
    assert wait_for(lambda: status(con, rid)["rows_journaled"] > 0, timeout=60)
    s = status(con, rid)
    assert s["rows_written"] == 0 and s["files_written"] == 0 and not parquet_files(d), s
    row = stop(con, rid)
    # The stop publishes the log: every journaled row is then in a file, once.
    assert row["rows_written"] == row["rows_journaled"] == row["samples_taken"], row
    assert len(read_ts(con, d)) == row["rows_written"]


def test_tilde_is_the_home_directory_and_tilde_user_is_refused(con, tmp_path, monkeypatch):
    # As a shell and DuckDB's own file functions expand it (it used to make a folder named '~').
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    rid, d = con.execute("SELECT id, dir FROM record_metrics('~/hist', INTERVAL 1 SECOND)").fetchone()
    stop(con, rid)
    assert d == str(home / "hist")
    assert (home / "hist" / "metrics").is_dir() and not (cwd / "~").exists()
    with pytest.raises(duckdb.Error, match="'~user' paths are not expanded"):
        con.execute("SELECT * FROM record_metrics('~root/hist', INTERVAL 1 SECOND)")
    assert not (cwd / "~root").exists()


def test_second_recorder_on_the_same_dir_is_refused(con, tmp_path):
    rid = start(con, tmp_path)
    with pytest.raises(Exception, match=f"recorder {rid} is already recording"):
        start(con, tmp_path)
    stop(con, rid)
    with pytest.raises(Exception, match="already stopped"):
        stop(con, rid)
    # Another process holding the partition locks: refused by flock.
    p = child(
        f"""
        con.execute("SELECT * FROM record_metrics('{tmp_path}', INTERVAL 1 SECOND)").fetchall()
        print('started', flush=True)
        time.sleep(60)
        """
    )
    try:
        assert p.stdout.readline().strip() == "started"
        with pytest.raises(Exception, match="another recorder"):
            start(con, tmp_path)
    finally:
        p.kill()
        p.wait()


def test_injected_write_fault_that_clears(con, tmp_path, monkeypatch):
    fault = tmp_path / "fault"
    fault.write_text("")
    monkeypatch.setenv("SYSMON_TEST_FAULT_FILE", str(fault))
    rid = start(con, tmp_path / "rec", "50 milliseconds", flush_interval="INTERVAL '200 milliseconds'", publish_interval="INTERVAL '200 milliseconds'")
    monkeypatch.delenv("SYSMON_TEST_FAULT_FILE")
    assert wait_for(lambda: (status(con, rid)["last_error"] or "").find("injected") >= 0)
    s = status(con, rid)
    assert s["state"] == "running" and s["rows_written"] == 0
    assert parquet_files(tmp_path / "rec") == []
    fault.unlink()
    assert wait_for(lambda: status(con, rid)["rows_written"] > 0)
    row = stop(con, rid)
    assert row["rows_dropped"] == 0
    assert "No space left on device" in row["last_error"], "the error stays reported after it clears"
    ts = read_ts(con, tmp_path / "rec")
    assert len(ts) == row["samples_taken"], "rows buffered during the fault were written after it"
    assert missing_slots(ts, 50_000) <= row["samples_missed"], "every slot without a row is a missed tick"


def test_bounded_buffer_drops_and_counts_during_a_long_fault(con, tmp_path, monkeypatch):
    fault = tmp_path / "fault"
    fault.write_text("")
    monkeypatch.setenv("SYSMON_TEST_FAULT_FILE", str(fault))
    monkeypatch.setenv("SYSMON_TEST_BUFFER_ROWS", "5")
    rid = start(con, tmp_path / "rec", "50 milliseconds", tables="['metrics']", flush_interval="INTERVAL '200 milliseconds'", publish_interval="INTERVAL '200 milliseconds'")
    monkeypatch.delenv("SYSMON_TEST_FAULT_FILE")
    monkeypatch.delenv("SYSMON_TEST_BUFFER_ROWS")
    assert wait_for(lambda: status(con, rid)["rows_dropped"] >= 5)
    fault.unlink()
    assert wait_for(lambda: status(con, rid)["rows_written"] >= 10)
    row = stop(con, rid)
    assert row["rows_written"] + row["rows_dropped"] == row["samples_taken"]
    assert len(read_ts(con, tmp_path / "rec")) == row["rows_written"]


@pytest.mark.parametrize("step", ["after_rename", "before_rename"])
def test_kill_during_merge_loses_and_doubles_nothing(con, tmp_path, step):
    p = child(
        f"""
        con.execute("SELECT * FROM record_metrics('{tmp_path}', INTERVAL '50 milliseconds', tables := ['metrics'], flush_interval := INTERVAL '150 milliseconds', publish_interval := INTERVAL '150 milliseconds')").fetchall()
        time.sleep(60)
        """,
        env={"SYSMON_TEST_MERGE_FANIN": "3", "SYSMON_TEST_MERGE_PAUSE": f"{step}:60"},
    )

    def in_merge():
        if step == "after_rename":
            return any(os.path.basename(f).startswith("L1-") for f in parquet_files(tmp_path))
        return glob.glob(f"{tmp_path}/metrics/**/.L1-*.tmp", recursive=True)

    try:
        assert wait_for(in_merge, timeout=60), p.stderr.read() if p.poll() is not None else "no merge"
        time.sleep(0.1)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    seen = read_ts(con, tmp_path)
    if step == "after_rename":
        assert len(seen) > len(set(seen)), "killed between rename and delete: inputs still visible"
    # The next recorder of the partition recovers before anything else.
    rid = start(con, tmp_path, "50 milliseconds", tables="['metrics']")
    stop(con, rid)
    ts = read_ts(con, tmp_path)
    assert len(ts) == len(set(ts)), "no row visible twice"
    assert set(seen) <= set(ts), "no row lost"
    assert not glob.glob(f"{tmp_path}/**/.*.tmp", recursive=True)


def _old_file(con, src, host_dir, day, first_us):
    """A copy of a real recorded file, named as if it held rows of `day`."""
    d = os.path.join(host_dir, f"date={day}")
    os.makedirs(d, exist_ok=True)
    dst = os.path.join(d, f"L0-{first_us}-{first_us + 1000}.parquet")
    with open(src, "rb") as a, open(dst, "wb") as b:
        b.write(a.read())
    return dst


def test_retention_deletes_only_old_files_of_this_host(con, tmp_path):
    rid = start(con, tmp_path, "50 milliseconds", tables="['metrics']", flush_interval="INTERVAL '200 milliseconds'")
    assert wait_for(lambda: status(con, rid)["samples_taken"] >= 8, timeout=60)
    stop(con, rid)
    src = parquet_files(tmp_path)[0]
    host_dir = os.path.dirname(os.path.dirname(src))
    other_dir = os.path.join(tmp_path, "metrics", "host=some-other-host")
    old_us = int((time.time() - 3 * 86400) * 1e6)
    old_day = time.strftime("%Y-%m-%d", time.gmtime(old_us / 1e6))
    mine_old = _old_file(con, src, host_dir, old_day, old_us)
    other_old = _old_file(con, src, other_dir, old_day, old_us)
    recent = parquet_files(tmp_path)
    rid = start(con, tmp_path, "50 milliseconds", tables="['metrics']", retention="INTERVAL 1 DAY", flush_interval="INTERVAL '200 milliseconds'")
    assert wait_for(lambda: status(con, rid)["files_deleted"] >= 1, timeout=60)
    row = stop(con, rid)
    assert not os.path.exists(mine_old)
    assert not os.path.exists(os.path.dirname(mine_old)), "the emptied date folder is removed"
    assert os.path.exists(other_old), "another host's files are never touched"
    assert row["files_deleted"] == 1
    assert all(os.path.exists(f) for f in recent if f not in (mine_old, other_old))


def test_max_bytes_deletes_oldest_files_of_this_host(con, tmp_path):
    rid = start(con, tmp_path, "50 milliseconds", tables="['metrics']", flush_interval="INTERVAL '100 milliseconds'")
    assert wait_for(lambda: status(con, rid)["samples_taken"] >= 12, timeout=60)
    stop(con, rid)
    recent = parquet_files(tmp_path)
    host_dir = os.path.dirname(os.path.dirname(recent[0]))
    other = os.path.join(tmp_path, "metrics", "host=some-other-host", "date=2020-01-01")
    os.makedirs(other)
    foreign = os.path.join(other, "L0-1-2.parquet")
    with open(foreign, "wb") as f:
        f.write(b"x" * 100_000)
    # Three older files of this host, 600 kB each (retention reads only names and sizes).
    old = []
    for days_ago in (5, 4, 3):
        us = int((time.time() - days_ago * 86400) * 1e6)
        d = os.path.join(host_dir, "date=" + time.strftime("%Y-%m-%d", time.gmtime(us / 1e6)))
        os.makedirs(d, exist_ok=True)
        old.append(os.path.join(d, f"L0-{us}-{us + 1000}.parquet"))
        with open(old[-1], "wb") as f:
            f.write(b"x" * 600_000)
    # The floor for one table is 1 MiB: the two oldest go, the rest fits.
    rid = start(con, tmp_path, "1 second", tables="['metrics']", max_bytes=1 << 20)
    row = stop(con, rid)
    assert os.path.exists(foreign), "another host's files are never touched"
    assert [os.path.exists(f) for f in old] == [False, False, True]
    assert all(os.path.exists(f) for f in recent)
    assert row["files_deleted"] == 2
    left = [f for f in parquet_files(tmp_path) if f != foreign]
    assert sum(os.path.getsize(f) for f in left) <= 1 << 20


def test_max_bytes_below_the_floor_is_refused_with_the_reason(con, tmp_path):
    with pytest.raises(Exception) as e:
        start(con, tmp_path, tables="['metrics', 'cpus']", max_bytes=1)
    msg = str(e.value)
    assert "max_bytes must be at least 2097152 bytes (1 MiB per recorded table, 2 tables)" in msg, msg
    assert "delete the newest files as soon as they are written; got 1" in msg, msg
    assert not (tmp_path / "metrics").exists()


def test_record_metrics_twice_in_one_statement_names_the_recorder_left_running(con, tmp_path):
    for sql in [
        "SELECT * FROM record_metrics('{d}', INTERVAL 1 SECOND) UNION ALL SELECT * FROM record_metrics('{d}', INTERVAL 1 SECOND)",
        "WITH r AS NOT MATERIALIZED (SELECT * FROM record_metrics('{d}', INTERVAL 1 SECOND)) SELECT * FROM r UNION ALL SELECT * FROM r",
    ]:
        d = tmp_path / str(len(sql))
        before = {r[0] for r in con.execute("SELECT id FROM recordings()").fetchall()}
        with pytest.raises(Exception) as e:
            con.execute(sql.format(d=d)).fetchall()
        running = con.execute("SELECT id FROM recordings() WHERE state = 'running' AND dir = ?", [str(d)]).fetchall()
        assert len(running) == 1, running
        (rid,) = running[0]
        assert rid not in before
        msg = str(e.value)
        assert f"recorder {rid} is already recording" in msg and "this statement" in msg, msg
        assert f"it keeps running after this error: stop it with stop_recording({rid})" in msg, msg
        stop(con, rid)


def _remove_tree(path):
    """shutil.rmtree, retried: a recorder may add a file while the tree is being removed."""
    import shutil
    for _ in range(100):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"cannot remove {path}")


def _files_below(path):
    out = []
    for root, dirs, files in os.walk(path):
        out += [os.path.join(root, f) for f in files]
    return out


def _exchange(a, b):
    """Swaps two paths atomically (renameat2 RENAME_EXCHANGE): the recorder, which recreates a
    folder it finds missing, never sees a moment with neither in place."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(a), None, str(b))


def _swap_in_link(path, target):
    """Replaces `path` by a symbolic link to `target` in one step; returns where `path` went."""
    link = path.parent / (path.name + ".link")
    os.symlink(target, link)
    _exchange(path, link)
    return link


def test_links_swapped_in_while_recording_never_redirect_writes(con, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    d = tmp_path / "rec"
    rid = start(con, d, "50 milliseconds", tables="['metrics', 'cpus']", flush_interval="INTERVAL '100 milliseconds'", publish_interval="INTERVAL '100 milliseconds'")
    assert wait_for(lambda: status(con, rid)["rows_written"] > 0)
    # A table folder replaced by a link to elsewhere: refused, never followed.
    _remove_tree(_swap_in_link(d / "cpus", outside))
    assert wait_for(lambda: "is a symbolic link" in (status(con, rid)["last_error"] or ""))
    assert "1 of 2 tables (cpus)" in status(con, rid)["last_error"]
    # The recording directory itself replaced by a link: nothing is written, rows stay buffered.
    moved = _swap_in_link(d, outside)
    assert wait_for(lambda: "replaced by a symbolic link" in (status(con, rid)["last_error"] or ""))
    written = status(con, rid)["rows_written"]
    time.sleep(0.4)
    assert status(con, rid)["rows_written"] == written
    assert status(con, rid)["state"] == "running"
    assert _files_below(outside) == []
    # Put back without the cpus link: the buffered rows are written.
    _exchange(moved, d)
    os.unlink(moved)
    os.unlink(d / "cpus")
    assert wait_for(lambda: status(con, rid)["rows_written"] > written)
    row = stop(con, rid)
    assert row["rows_dropped"] == 0
    assert len(read_ts(con, d)) == row["samples_taken"], "no metrics row lost"
    assert _files_below(outside) == []


def test_lockdown_is_not_escaped_through_a_link(tmp_path):
    if not SEES_LOCKDOWN:
        pytest.skip("DuckDB before 1.5.6 cannot tell an extension its settings (documented)")
    c = connect()
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, allowed / "link")
    c.execute(f"SET allowed_directories = ['{allowed}']")
    c.execute("SET enable_external_access = false")
    with pytest.raises(Exception) as e:
        c.execute(f"SELECT * FROM record_metrics('{allowed}/link', INTERVAL 1 SECOND)")
    msg = str(e.value)
    assert f"denies access to '{outside}'" in msg and "through a symbolic link" in msg, msg
    with pytest.raises(Exception, match="denies access"):
        c.execute(f"SELECT * FROM record_metrics('{allowed}/link/sub', INTERVAL 1 SECOND)")
    assert _files_below(outside) == [] and os.listdir(outside) == []
    assert c.execute("SELECT count(*) FROM recordings() WHERE state = 'running'").fetchone()[0] == 0


def _slots(con, d, table, interval_us, key=""):
    rows = con.execute(
        f"SELECT epoch_us(ts) // {interval_us}{key} FROM read_parquet('{d}/{table}/**/*.parquet')"
    ).fetchall()
    return [tuple(r) for r in rows]


def test_deleted_recording_with_a_second_process_waiting_keeps_one_writer(con, tmp_path):
    d = tmp_path / "rec"
    tables = "['metrics', 'cpus', 'net_protocols']"
    rid = start(con, d, "50 milliseconds", tables=tables, flush_interval="INTERVAL '3 seconds'", publish_interval="INTERVAL '3 seconds'")
    assert wait_for(lambda: status(con, rid)["samples_taken"] > 0)
    # A second process waits to start a recorder on the same directory: once told to, it tries
    # until it is accepted (or gives up after 30 s).
    p = child(
        f"""
        print('ready', flush=True)
        sys.stdin.readline()
        deadline = time.time() + 30
        while True:
            try:
                con.execute("SELECT * FROM record_metrics('{d}', INTERVAL '50 milliseconds', tables := {tables}, flush_interval := INTERVAL '200 milliseconds')").fetchall()
                print('started', flush=True)
                break
            except duckdb.Error as e:
                assert 'another recorder' in str(e), str(e)
                if time.time() > deadline:
                    print('refused', flush=True)
                    break
                time.sleep(0.02)
        sys.stdin.readline()
        """,
        stdin=subprocess.PIPE,
    )
    try:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
        # Removed just after one of the first recorder's flushes (3 s apart), however long the
        # second process took to start on a loaded machine.
        flushed = status(con, rid)["last_flush_at"]
        assert wait_for(lambda: status(con, rid)["last_flush_at"] != flushed, timeout=60)
        _remove_tree(d)
        p.stdin.write("go\n")
        p.stdin.flush()
        # Deleted with its locks, the directory is free: the waiting process starts, before the
        # first recorder's next flush (3 s).
        assert p.stdout.readline().strip() == "started", p.stderr.read()
        # At its next flush the first recorder finds that the lock on disk is not its own any
        # more and that another recorder holds it: it stops instead of writing there too.
        assert wait_for(lambda: status(con, rid)["state"] != "running")
        s = status(con, rid)
        assert s["state"] == "stopped"
        assert "another recorder" in s["last_error"] and "stopped" in s["last_error"], s["last_error"]
        time.sleep(1.0)
        out, err = p.communicate("go\n", timeout=60)
        assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "File exists" not in (s["last_error"] or "")
    for table, key in [("metrics", ""), ("cpus", ", cpu"), ("net_protocols", "")]:
        slots = _slots(con, d, table, 50_000, key)
        assert slots, table
        assert len(slots) == len(set(slots)), f"{table}: rows of one tick stored twice"
