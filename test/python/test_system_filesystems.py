"""system_filesystems() against os.statvfs, and mount points with odd names."""

import subprocess
import tempfile
import os

import pytest

from conftest import rows


def test_root_agrees_with_statvfs(db):
    (r,) = rows(db, "SELECT * FROM system_filesystems() WHERE mount_point = '/'")
    s = os.statvfs("/")
    assert r["total_bytes"] == s.f_blocks * s.f_frsize
    assert abs(r["free_bytes"] - s.f_bfree * s.f_frsize) < 256 << 20
    assert abs(r["available_bytes"] - s.f_bavail * s.f_frsize) < 256 << 20
    assert r["used_bytes"] == r["total_bytes"] - r["free_bytes"]
    if s.f_files:
        assert r["inodes_total"] == s.f_files
    assert r["stat_error"] is None
    assert r["read_only"] is False


def test_mount_point_with_space_and_unicode(db):
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    d = tempfile.mkdtemp(prefix="sysmon test é ")
    try:
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,ro", "sysmon-test", d], capture_output=True)
        if m.returncode != 0:
            pytest.skip(f"cannot mount here: {m.stderr.decode().strip()}")
        try:
            got = rows(db, "SELECT * FROM system_filesystems(include_pseudo := true) WHERE mount_point = ?", [d])
            assert len(got) == 1, got
            r = got[0]
            assert r["device"] == "sysmon-test"
            assert r["fs_type"] == "tmpfs"
            assert r["read_only"] is True
            assert r["total_bytes"] == 4 << 20
            default = rows(db, "SELECT * FROM system_filesystems() WHERE mount_point = ?", [d])
            assert default == [], "tmpfs is a pseudo filesystem: only with include_pseudo"
        finally:
            subprocess.run(["umount", d], check=True)
    finally:
        os.rmdir(d)


def test_every_mount_is_listed_with_pseudo(db):
    got = [r["mount_point"] for r in rows(db, "SELECT mount_point FROM system_filesystems(include_pseudo := true)")]
    want = []
    for line in open("/proc/self/mountinfo"):
        mp = line.split()[4]
        want.append(mp.encode().decode("unicode_escape").encode("latin-1").decode())
    assert got == want


def test_root_agrees_with_df(db):
    """Sizes and Use% as coreutils df computes them (Use% = used / (used + available), rounded up)."""
    import math
    import shutil

    if not shutil.which("df"):
        pytest.skip("coreutils df not installed")

    def df():
        out = subprocess.run(["df", "-B1", "--output=size,used,avail,pcent", "/"], capture_output=True, text=True, check=True)
        size, used, avail, pct = out.stdout.splitlines()[1].split()
        return int(size), int(used), int(avail), int(pct.rstrip("%"))

    before = df()
    (r,) = rows(db, "SELECT * FROM system_filesystems() WHERE mount_point = '/'")
    after = df()
    assert r["total_bytes"] == before[0]
    slack = 256 << 20
    assert min(before[1], after[1]) - slack <= r["used_bytes"] <= max(before[1], after[1]) + slack
    assert min(before[2], after[2]) - slack <= r["available_bytes"] <= max(before[2], after[2]) + slack
    assert min(before[3], after[3]) - 1 <= math.ceil(r["used_pct"]) <= max(before[3], after[3]) + 1
