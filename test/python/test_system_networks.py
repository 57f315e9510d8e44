"""system_networks() and system_net_protocols() against /proc/net and loopback traffic."""

import socket
import threading
import os

from conftest import rows


def proc_net_dev(name):
    for line in open("/proc/net/dev"):
        if ":" in line and line.split(":", 1)[0].strip() == name:
            f = [int(x) for x in line.split(":", 1)[1].split()]
            return {"rx_bytes": f[0], "rx_packets": f[1], "tx_bytes": f[8], "tx_packets": f[9]}
    raise AssertionError(name)


def loopback_traffic(nbytes):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = []

    def sink():
        c, _ = srv.accept()
        n = 0
        while n < nbytes:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        got.append(n)
        c.close()

    t = threading.Thread(target=sink)
    t.start()
    cli = socket.create_connection(srv.getsockname())
    cli.sendall(b"x" * nbytes)
    cli.close()
    t.join(10)
    srv.close()
    assert got == [nbytes]


def test_lo_agrees_with_proc_net_dev_and_grows(db):
    before = proc_net_dev("lo")
    (a,) = rows(db, "SELECT * FROM system_networks() WHERE interface = 'lo'")
    loopback_traffic(1 << 20)
    (b,) = rows(db, "SELECT * FROM system_networks() WHERE interface = 'lo'")
    after = proc_net_dev("lo")
    for k in ["rx_bytes", "tx_bytes", "rx_packets", "tx_packets"]:
        assert before[k] <= a[k] <= b[k] <= after[k], k
    assert b["rx_bytes"] - a["rx_bytes"] >= 1 << 20
    assert a["speed_bits_per_sec"] is None, "lo's sysfs speed is -1 or unreadable: NULL"
    assert a["mtu"] == int(open("/sys/class/net/lo/mtu").read())
    assert a["oper_state"] == open("/sys/class/net/lo/operstate").read().strip()
    assert a["is_physical"] is False


def test_lo_rate_sees_traffic(db):
    db.execute("SELECT * FROM system_networks()").fetchall()  # a kept sample to start from
    loopback_traffic(4 << 20)
    (r,) = rows(db, "SELECT rx_bytes_per_sec, window_seconds FROM system_networks() WHERE interface = 'lo'")
    assert r["window_seconds"] > 0
    assert r["rx_bytes_per_sec"] * r["window_seconds"] >= 4 << 20


def test_every_interface_is_listed(db):
    names = {r["interface"] for r in rows(db, "SELECT interface FROM system_networks()")}
    proc = {l.split(":", 1)[0].strip() for l in open("/proc/net/dev") if ":" in l}
    assert names == proc


def test_speed_matches_sysfs(db):
    for r in rows(db, "SELECT interface, speed_bits_per_sec FROM system_networks()"):
        try:
            mbps = int(open(f"/sys/class/net/{r['interface']}/speed").read())
        except (OSError, ValueError):
            mbps = -1
        assert r["speed_bits_per_sec"] == (mbps * 1_000_000 if mbps > 0 else None), r


def snmp():
    lines = open("/proc/net/snmp").read().splitlines()
    out = {}
    for h, v in zip(lines[::2], lines[1::2]):
        proto = h.split(":")[0]
        out.update({f"{proto}.{k}": int(x) for k, x in zip(h.split()[1:], v.split()[1:])})
    return out


def test_net_protocols_count_loopback_connections(db):
    before = snmp()
    (a,) = rows(db, "SELECT * FROM system_net_protocols()")
    loopback_traffic(1000)
    (b,) = rows(db, "SELECT * FROM system_net_protocols()")
    after = snmp()
    assert before["Tcp.ActiveOpens"] <= a["tcp_active_opens"] < b["tcp_active_opens"] <= after["Tcp.ActiveOpens"]
    assert before["Tcp.PassiveOpens"] < b["tcp_passive_opens"] + 1
    assert before["Udp.InDatagrams"] <= b["udp_in_datagrams"] <= after["Udp.InDatagrams"]
    assert b["tcp_in_segs_per_sec"] > 0
