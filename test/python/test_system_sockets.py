"""system_sockets() against the test's own sockets and `ss`; system_users() against utmp files
the test writes and `who`."""

import json
import os
import platform
import pwd
import re
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import extension_path, rows
from recorder_helpers import wait_for

needs_ss = pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")


def own_comm():
    return open("/proc/self/comm").read().rstrip("\n")


def socket_rows(db, where, params=None, kind="all"):
    return rows(db, f"SELECT * FROM system_sockets(kind := '{kind}') WHERE {where}", params)


def test_own_listener_with_pid_user_and_inode(db):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        port = s.getsockname()[1]
        (r,) = socket_rows(db, "protocol = 'tcp' AND local_port = ?", [port], kind="listening")
        assert r["state"] == "LISTEN"
        assert r["local_address"] == "127.0.0.1"
        assert (r["remote_address"], r["remote_port"]) == ("0.0.0.0", 0)
        assert r["pid"] == os.getpid()
        assert r["process_name"] == own_comm()
        assert r["inode"] == os.fstat(s.fileno()).st_ino
        assert r["uid"] == os.geteuid()
        assert r["user"] == pwd.getpwuid(os.geteuid()).pw_name
        assert r["path"] is None
        assert (r["rx_queue_bytes"], r["tx_queue_bytes"]) == (0, 0)


def test_connected_pair_and_queued_bytes(db):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        cli = socket.create_connection(("127.0.0.1", port))
        acc, _ = srv.accept()
        try:
            cli.sendall(b"hello")
            cport = cli.getsockname()[1]

            def pair():
                return {
                    r["local_port"]: r
                    for r in socket_rows(db, "protocol = 'tcp' AND state = 'ESTABLISHED' AND ? IN (local_port, remote_port) AND ? IN (local_port, remote_port)", [port, cport])
                }

            # The 5 bytes reach the accepting end's queue at once on loopback; a loaded machine
            # may take a moment.
            wait_for(lambda: pair().get(port, {}).get("rx_queue_bytes") == 5, timeout=30)
            got = pair()
            assert set(got) == {port, cport}
            assert got[port]["remote_port"] == cport and got[cport]["remote_port"] == port
            assert got[port]["rx_queue_bytes"] == 5, "5 bytes sent and not read"
            assert got[port]["inode"] == os.fstat(acc.fileno()).st_ino
            assert all(r["pid"] == os.getpid() for r in got.values())
            # Not listening: left out by kind := 'listening'.
            assert socket_rows(db, "local_port = ? AND state = 'ESTABLISHED'", [cport], kind="listening") == []
        finally:
            cli.close()
            acc.close()


def test_ipv6_loopback_and_v4_mapped(db):
    if not socket.has_ipv6 or not os.path.exists("/proc/net/tcp6"):
        pytest.skip("no IPv6")
    with socket.socket(socket.AF_INET6) as s6:
        s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            s6.bind(("::", 0))
        except OSError as e:
            pytest.skip(f"cannot bind IPv6: {e}")
        s6.listen(4)
        port = s6.getsockname()[1]
        cli = socket.create_connection(("127.0.0.1", port))
        acc, _ = s6.accept()
        try:
            (listener,) = socket_rows(db, "protocol = 'tcp6' AND local_port = ? AND state = 'LISTEN'", [port])
            assert listener["local_address"] == "::"
            (mapped,) = socket_rows(db, "protocol = 'tcp6' AND local_port = ? AND state = 'ESTABLISHED'", [port])
            assert mapped["local_address"] == "::ffff:127.0.0.1"
            assert mapped["remote_port"] == cli.getsockname()[1]
        finally:
            cli.close()
            acc.close()


def test_kind_is_case_insensitive_and_listening_leaves_out_what_all_keeps(db):
    # A listener, a connected pair and a Unix pair of this process: kind := 'ALL' has all of
    # them, kind := 'LISTENING' (the same as 'listening') only the listener.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        cli = socket.create_connection(("127.0.0.1", port))
        acc, _ = srv.accept()
        a, b = socket.socketpair()
        try:
            mine = {os.fstat(x.fileno()).st_ino: name for x, name in ((srv, "listener"), (cli, "client"), (acc, "accepted"), (a, "unix a"), (b, "unix b"))}
            inodes = ", ".join(map(str, mine))

            def found(kind):
                return sorted(mine[r["inode"]] for r in socket_rows(db, f"inode IN ({inodes})", kind=kind))

            assert found("ALL") == found("all") == sorted(mine.values())
            assert found("LISTENING") == found("listening") == ["listener"]
            (r,) = socket_rows(db, "protocol = 'tcp' AND local_port = ?", [port], kind="Listening")
            assert (r["state"], r["pid"]) == ("LISTEN", os.getpid())
        finally:
            cli.close()
            acc.close()
            a.close()
            b.close()


def test_udp_bound_is_listening(db):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        (r,) = socket_rows(db, "protocol = 'udp' AND local_port = ?", [port], kind="listening")
        assert (r["state"], r["pid"]) == ("UNCONN", os.getpid())


def test_unix_sockets_with_and_without_path(db, tmp_path):
    path = str(tmp_path / "sysmon test.sock")
    abstract = f"\0sysmon-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as named, socket.socket(socket.AF_UNIX) as abst:
        named.bind(path)
        named.listen(1)
        abst.bind(abstract)
        a, b = socket.socketpair()
        try:
            inodes = {os.fstat(x.fileno()).st_ino: x for x in (named, abst, a, b)}
            got = {r["inode"]: r for r in socket_rows(db, f"protocol = 'unix' AND inode IN ({', '.join(map(str, inodes))})")}
            assert set(got) == set(inodes)
            assert (got[os.fstat(named.fileno()).st_ino]["path"], got[os.fstat(named.fileno()).st_ino]["state"]) == (path, "LISTEN")
            assert got[os.fstat(abst.fileno()).st_ino]["path"] == "@" + abstract[1:]
            pair = got[os.fstat(a.fileno()).st_ino]
            assert (pair["path"], pair["state"]) == (None, "ESTABLISHED")
            assert all(r["pid"] == os.getpid() and r["local_port"] is None and r["remote_address"] is None for r in got.values())
            # Unix sockets are never "listening" in the kind := 'listening' sense (TCP and UDP only).
            assert socket_rows(db, "protocol = 'unix'", kind="listening") == []
        finally:
            a.close()
            b.close()


SS_STATE = {"ESTAB": "ESTABLISHED"}


def split_endpoint(text):
    """`127.0.0.1:80`, `[::1]:22`, `0.0.0.0:*`, `127.0.0.53%lo:53`, `*:*` -> (address, port)."""
    host, port = text.rsplit(":", 1)
    host = host.strip("[]").split("%")[0]
    return host, 0 if port == "*" else int(port)


def ss_inet():
    """Sockets of `ss -tanpue` by inode: (state, local, peer, pids with names)."""
    out = subprocess.run(["ss", "-tanpuieH"], capture_output=True, text=True, check=True, timeout=30).stdout
    found = {}
    for line in out.splitlines():
        ino = re.search(r"\bino:(\d+)", line)
        f = line.split()
        if not ino or len(f) < 6 or int(ino.group(1)) == 0:
            continue
        users = {int(p): n for n, p in re.findall(r'\("([^"]*)",pid=(\d+),', line)}
        found[int(ino.group(1))] = (f[0], SS_STATE.get(f[1], f[1]), split_endpoint(f[4]), split_endpoint(f[5]), users)
    return found


def normal(addr):
    return {"*": None, "0.0.0.0": None, "::": None}.get(addr, addr)


@needs_ss
def test_inet_sockets_match_ss(db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        port = s.getsockname()[1]
        before = ss_inet()
        ours = {r["inode"]: r for r in rows(db, "SELECT * FROM system_sockets() WHERE protocol <> 'unix' AND inode <> 0")}
        after = ss_inet()
        stable = {i: v for i, v in before.items() if after.get(i) == v}
        mine = [i for i, v in stable.items() if v[2][1] == port]
        assert len(mine) == 1, "the test's listener is found in ss by port"
        assert ours[mine[0]]["pid"] == os.getpid()
        assert stable, "ss listed sockets"
        for ino, (netid, state, local, peer, users) in stable.items():
            r = ours.get(ino)
            assert r is not None, (ino, netid, state, local)
            assert r["protocol"].rstrip("6") == netid
            assert r["state"] == state, (ino, r["state"], state)
            assert (normal(r["local_address"]), r["local_port"]) == (normal(local[0]), local[1])
            assert (normal(r["remote_address"]), r["remote_port"]) == (normal(peer[0]), peer[1])
            if users:
                assert r["pid"] == min(users), (r, users)
                assert r["process_name"] == users[min(users)]
            else:
                assert r["pid"] is None, r


@needs_ss
def test_unix_sockets_match_ss(db):
    def ss_unix():
        out = subprocess.run(["ss", "-xapH"], capture_output=True, text=True, check=True, timeout=30).stdout
        found = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) < 8 or not f[5].isdigit():
                continue  # a path with spaces: not compared
            users = {int(p): n for n, p in re.findall(r'\("([^"]*)",pid=(\d+),', line)}
            found[int(f[5])] = (f[0], f[1], None if f[4] == "*" else f[4], users)
        return found

    with socket.socket(socket.AF_UNIX) as named:
        named.bind(f"\0sysmon-ss-{os.getpid()}")
        named.listen(1)
        before = ss_unix()
        ours = {r["inode"]: r for r in rows(db, "SELECT * FROM system_sockets() WHERE protocol = 'unix'")}
        after = ss_unix()
        stable = {i: v for i, v in before.items() if after.get(i) == v}
        assert os.fstat(named.fileno()).st_ino in stable
        for ino, (netid, state, path, users) in stable.items():
            r = ours.get(ino)
            assert r is not None, (ino, netid, path)
            assert r["path"] == path, (r, path)
            if netid == "u_str":
                assert r["state"] == SS_STATE.get(state, state), (r, state)
            if users:
                assert r["pid"] == min(users), (r, users)
            else:
                assert r["pid"] is None, r


UNPRIVILEGED = textwrap.dedent("""
    import json, os, socket, sys
    import duckdb
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{sys.argv[1]}'")
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    own = socket.socket()
    own.bind(("127.0.0.1", 0))
    own.listen(1)
    q = "SELECT local_port, pid, process_name, uid, user FROM system_sockets(kind := 'listening') WHERE protocol = 'tcp' AND local_port IN (?, ?)"
    print(json.dumps({"pid": os.getpid(), "port": own.getsockname()[1],
                      "comm": open("/proc/self/comm").read().rstrip("\\n"),
                      "rows": con.execute(q, [int(sys.argv[2]), own.getsockname()[1]]).fetchall()}))
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_other_users_sockets_have_null_pid_not_zero():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-c", UNPRIVILEGED, extension_path(), str(port)],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout
    result = json.loads(out)
    by_port = {r[0]: r for r in result["rows"]}
    assert set(by_port) == {port, result["port"]}, by_port
    assert by_port[port][1:] == [None, None, 0, "root"], "root's socket: owner unreadable for nobody"
    assert by_port[result["port"]][1:4] == [result["pid"], result["comm"], 65534], "its own socket: readable"


# ---------------------------------------------------------------- users


def utmp_record(ut_type, pid, line, user, host, tv_sec, tv_usec=0):
    """One glibc `struct utmp` in this machine's layout."""
    wide = platform.machine() in ("aarch64", "s390x", "loongarch64")
    if wide:
        fmt = "@hi32s4s32s256shhqqq4i20s"
        size = 400
    else:
        fmt = "@hi32s4s32s256shhiii4i20s"
        size = 384
    b = struct.pack(fmt, ut_type, pid, line.encode(), b"", user.encode(), host.encode(), 0, 0, 0,
                    tv_sec, tv_usec, 0, 0, 0, 0, b"")
    return b.ljust(size, b"\0")


def write_users_root(root, records, cgroups=None, sessions=None):
    (root / "var/run").mkdir(parents=True, exist_ok=True)
    (root / "var/run/utmp").write_bytes(b"".join(utmp_record(*r) for r in records))
    for pid, cg in (cgroups or {}).items():
        (root / f"proc/{pid}").mkdir(parents=True, exist_ok=True)
        (root / f"proc/{pid}/cgroup").write_text(cg)
    (root / "run/systemd/sessions").mkdir(parents=True, exist_ok=True)
    for sid, text in (sessions or {}).items():
        (root / f"run/systemd/sessions/{sid}").write_text(text)


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_users_from_a_written_utmp(tmp_path, monkeypatch):
    from conftest import connect

    me = os.getpid()
    gone = dead_pid()
    write_users_root(
        tmp_path,
        [
            (2, 0, "~", "reboot", "6.1.0", 1_600_000_000),
            (7, me, "pts/0", "alice", "192.0.2.7", 1_700_000_000, 250_000),
            (7, me, "tty1", "bob", "", 1_700_000_100),
            (7, me, ":0", "carol", ":0", 1_700_000_200),
            (7, gone, "pts/5", "ghost", "198.51.100.1", 1_700_000_300),
            (8, me, "pts/6", "", "", 1_700_000_400),
        ],
        cgroups={me: "0::/user.slice/user-1000.slice/session-7.scope\n"},
        sessions={"7": "UID=1000\nUSER=alice\nTYPE=tty\nREMOTE=1\n"},
    )
    monkeypatch.setenv("SYSMON_TEST_HOOKS", "1")
    monkeypatch.setenv("SYSMON_TEST_USERS_ROOT", str(tmp_path))
    con = connect()
    try:
        got = rows(con, "SELECT user, tty, host, epoch_us(login_time) AS us, pid, session_type FROM system_users()")
    finally:
        con.close()
    assert got == [
        {"user": "alice", "tty": "pts/0", "host": "192.0.2.7", "us": 1_700_000_000_250_000, "pid": me, "session_type": "tty"},
        {"user": "bob", "tty": "tty1", "host": None, "us": 1_700_000_100_000_000, "pid": me, "session_type": "tty"},
        {"user": "carol", "tty": ":0", "host": None, "us": 1_700_000_200_000_000, "pid": me, "session_type": "tty"},
    ], "the ghost (process gone) and non-login records are left out"
    # Without the hook variable the real utmp is read, whatever SYSMON_TEST_USERS_ROOT says.
    monkeypatch.setenv("SYSMON_TEST_HOOKS", "0")
    con = connect()
    try:
        real = rows(con, "SELECT user FROM system_users()")
    finally:
        con.close()
    assert all(r["user"] not in ("alice", "bob", "carol") for r in real) or os.path.exists("/var/run/utmp")


def who_rows(path=None):
    out = subprocess.run(["who"] + ([path] if path else []), capture_output=True, text=True, check=True, timeout=30).stdout
    found = []
    for line in out.splitlines():
        m = re.match(r"(\S+)\s+(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d)(?:\s+\((.*)\))?", line)
        assert m, line
        found.append((m.group(1), m.group(2), m.group(3), m.group(4)))
    return found


@pytest.mark.skipif(shutil.which("who") is None, reason="who (coreutils) is not installed")
def test_users_match_who_on_a_written_utmp(tmp_path, monkeypatch):
    from conftest import connect

    me = os.getpid()
    now = int(time.time())
    write_users_root(tmp_path, [
        (7, me, "pts/0", "alice", "192.0.2.7", now - 3600),
        (7, me, "tty1", "bob", "", now - 60),
        (7, me, "pts/1", "dave", "host.example", now),
    ], cgroups={me: "0::/\n"})
    monkeypatch.setenv("SYSMON_TEST_HOOKS", "1")
    monkeypatch.setenv("SYSMON_TEST_USERS_ROOT", str(tmp_path))
    con = connect()
    try:
        ours = rows(con, "SELECT user, tty, host, epoch(login_time) AS t FROM system_users()")
    finally:
        con.close()
    who = who_rows(str(tmp_path / "var/run/utmp"))
    assert [(r[0], r[1], r[3]) for r in who] == [(o["user"], o["tty"], o["host"]) for o in ours]
    # who prints local time to the minute.
    assert [o["t"] for o in ours] == [now - 3600, now - 60, now]
    assert [r[2] for r in who] == [time.strftime("%Y-%m-%d %H:%M", time.localtime(o["t"])) for o in ours]


@pytest.mark.skipif(shutil.which("who") is None, reason="who (coreutils) is not installed")
def test_users_match_who_on_this_host(db):
    who = who_rows()
    ours = rows(db, "SELECT user, tty, host FROM system_users()")
    assert [(r[0], r[1]) for r in who] == [(o["user"], o["tty"]) for o in ours]
