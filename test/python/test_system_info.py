"""system_info() against independent reads of the same facts."""

import datetime
import os
import re
import socket
import sys
from pathlib import Path

from conftest import meminfo, one


def test_values_match_the_kernel(con):
    r = one(con, "SELECT * FROM system_info()")
    u = os.uname()
    assert r["hostname"] == socket.gethostname() == u.nodename
    assert r["kernel_version"] == u.release
    assert r["arch"] == u.machine
    assert r["logical_cpus"] == os.cpu_count()
    assert 1 <= r["physical_cores"] <= r["logical_cpus"]
    assert r["mem_total_bytes"] == meminfo()["MemTotal"]
    assert r["page_size_bytes"] == os.sysconf("SC_PAGE_SIZE")
    assert r["clock_ticks_per_sec"] == os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        btime = next(int(l.split()[1]) for l in f if l.startswith("btime"))
    assert r["boot_time"].timestamp() == btime
    assert r["boot_time"].utcoffset() is not None, "TIMESTAMP WITH TIME ZONE"


def test_os_release(con):
    r = one(con, "SELECT os_name, os_version FROM system_info()")
    fields = {}
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    fields[k] = v.strip('"')
    assert r["os_name"] == fields.get("NAME")
    assert r["os_version"] == fields.get("VERSION_ID", fields.get("VERSION"))


def test_cpu_model(con):
    with open("/proc/cpuinfo") as f:
        models = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
    assert one(con, "SELECT cpu_model FROM system_info()")["cpu_model"] == (models[0] if models else None)


def test_extension_version_is_the_crates_and_the_footers(con):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from version import cargo_version

    r = one(con, "SELECT extension_version FROM system_info()")["extension_version"]
    footer = one(con, "SELECT extension_version FROM duckdb_extensions() WHERE extension_name = 'sysmon'")
    assert r == footer["extension_version"]
    # v<Cargo workspace version>, with -<git hash>[-dirty] for a build that is not a tagged release.
    assert re.fullmatch(re.escape(cargo_version()) + r"(-[0-9a-f]{7,}(-dirty)?)?", r), r
