"""system_disks(), system_pressure(), system_sensors() and system_cgroups() against independent reads."""

import glob
import os

from conftest import rows


def diskstats():
    out = {}
    for line in open("/proc/diskstats"):
        f = line.split()
        out[f[2]] = [int(x) for x in f[3:]]
    return out


def test_disks_agree_with_diskstats(db):
    before = diskstats()
    got = rows(db, "SELECT * FROM system_disks()")
    after = diskstats()
    assert {r["device"] for r in got} == set(after)
    for r in got:
        b, a = before[r["device"]], after[r["device"]]
        assert b[2] * 512 <= r["read_bytes"] <= a[2] * 512
        assert b[6] * 512 <= r["written_bytes"] <= a[6] * 512
        assert b[0] <= r["reads_completed"] <= a[0]
        virtual = os.path.realpath(f"/sys/class/block/{r['device']}").startswith("/sys/devices/virtual/")
        assert r["is_virtual"] is virtual
    phys = rows(db, "SELECT device FROM system_disks(include_virtual := false)")
    assert {r["device"] for r in phys} == {r["device"] for r in got if not r["is_virtual"]}


def pressure_totals():
    out = {}
    for f in sorted(glob.glob("/proc/pressure/*")):
        for line in open(f):
            kind, *kv = line.split()
            out[(os.path.basename(f), kind)] = int(dict(x.split("=") for x in kv)["total"])
    return out


def test_pressure_agrees_with_proc_pressure(db):
    before = pressure_totals()
    got = rows(db, "SELECT * FROM system_pressure()")
    after = pressure_totals()
    assert {(r["resource"], r["kind"]) for r in got} == set(after), "zero rows exactly where no PSI"
    for r in got:
        key = (r["resource"], r["kind"])
        assert before[key] <= r["total_stall_us"] <= after[key], key
        assert 0 <= r["avg10_pct"] <= 100


def test_sensors_agree_with_sysfs(db):
    temps = glob.glob("/sys/class/hwmon/hwmon*/temp*_input") + glob.glob("/sys/class/hwmon/hwmon*/device/temp*_input")
    fans = glob.glob("/sys/class/hwmon/hwmon*/fan*_input") + glob.glob("/sys/class/hwmon/hwmon*/device/fan*_input")
    zones = glob.glob("/sys/class/thermal/thermal_zone*")
    got = rows(db, "SELECT * FROM system_sensors()")
    assert len(got) == len(temps) + len(fans) + len(zones)


def own_cgroups():
    out = []
    for line in open("/proc/self/cgroup"):
        _, ctl, path = line.rstrip("\n").split(":", 2)
        out.append(("v2" if ctl == "" else ctl, path))
    return out


def test_cgroups_have_own_paths_and_limits(db):
    got = rows(db, "SELECT * FROM system_cgroups()")
    keys = {(r["hierarchy"], r["path"]) for r in got}
    hierarchies = {r["hierarchy"] for r in got}
    for h, path in own_cgroups():
        if h in hierarchies:
            assert (h, path) in keys, (h, path)
    # The v1 memory hierarchy: limits as the files say, the unlimited sentinel as NULL.
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        sep = f.index("-")
        if f[sep + 1] == "cgroup" and "memory" in f[sep + 3].split(","):
            mount, root = f[4], f[3]
            for r in got:
                if r["hierarchy"] != "memory":
                    continue
                rel = r["path"][len(root.rstrip("/")):]
                d = mount + rel
                limit = int(open(f"{d}/memory.limit_in_bytes").read())
                assert r["mem_max_bytes"] == (None if limit >= 0x7FFF_FFFF_FFFF_0000 else limit), r
                # The peak only grows: what the table saw is at most what the file says now.
                assert 0 < r["mem_peak_bytes"] <= int(open(f"{d}/memory.max_usage_in_bytes").read()), r
