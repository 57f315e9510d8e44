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
