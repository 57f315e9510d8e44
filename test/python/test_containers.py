"""Container columns of system_processes() and system_cgroups() on a live cgroup: a child
process moved into a cgroup named as Docker's cgroupfs driver names a container's
(`.../docker/<64 hex>`) is reported as that container. Needs a writable cgroupfs (root);
skipped elsewhere. Every runtime's naming is covered by the fixture tree
test/fixtures/containers in the unit tests."""

import os
import secrets
import subprocess

import pytest

from conftest import one, rows


def own_cgroup_dir():
    """(directory, cgroup path) of the hierarchy whose path `system_processes().cgroup` shows
    for this process: the v2 path unless it is the root, else the v1 memory path."""
    paths = {}
    for line in open("/proc/self/cgroup"):
        _, ctl, path = line.rstrip("\n").split(":", 2)
        paths["v2" if ctl == "" else ctl] = path
    mounts = {}
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        sep = f.index("-")
        fstype, opts = f[sep + 1], f[sep + 3].split(",")
        if fstype == "cgroup2":
            mounts.setdefault("v2", (f[4], f[3]))
        elif fstype == "cgroup" and "memory" in opts:
            mounts.setdefault("memory", (f[4], f[3]))
    v2 = paths.get("v2")
    memory = next((p for c, p in paths.items() if "memory" in c.split(",")), None)
    if v2 not in (None, "/") and "v2" in mounts:
        key, path = "v2", v2
    elif memory is not None and "memory" in mounts:
        key, path = "memory", memory
    else:
        return None
    mount, root = mounts[key]
    rel = path[len(root.rstrip("/")):] if root != "/" else path
    return os.path.join(mount, rel.lstrip("/")), path.rstrip("/")


@pytest.fixture
def docker_cgroup():
    found = own_cgroup_dir()
    if found is None or not os.access(found[0], os.W_OK):
        pytest.skip("no writable cgroup hierarchy here")
    base, path = found
    cid = secrets.token_hex(32)
    parent = os.path.join(base, "docker")
    made_parent = not os.path.exists(parent)
    try:
        os.makedirs(os.path.join(parent, cid))
    except OSError as e:
        pytest.skip(f"cannot create a cgroup: {e}")
    child = subprocess.Popen(["sleep", "60"])
    try:
        with open(os.path.join(parent, cid, "cgroup.procs"), "w") as f:
            f.write(str(child.pid))
        yield child.pid, cid, f"{path}/docker/{cid}"
    finally:
        child.kill()
        child.wait()
        os.rmdir(os.path.join(parent, cid))
        if made_parent:
            os.rmdir(parent)


def test_process_in_a_docker_cgroup(db, docker_cgroup):
    pid, cid, path = docker_cgroup
    r = one(db, "SELECT cgroup, container_runtime, container_id FROM system_processes() WHERE pid = ?", [pid])
    assert r == {"cgroup": path, "container_runtime": "docker", "container_id": cid}
    # Only the container columns asked for: the cgroup file is still read.
    assert one(db, "SELECT container_id FROM system_processes() WHERE pid = ?", [pid])["container_id"] == cid
    # This test process is not in that container.
    me = one(db, "SELECT container_id FROM system_processes() WHERE pid = ?", [os.getpid()])
    assert me["container_id"] != cid
    got = rows(db, "SELECT hierarchy, container_runtime, container_id FROM system_cgroups() WHERE path = ?", [path])
    assert got and all(g["container_runtime"] == "docker" and g["container_id"] == cid for g in got), got
    parent = rows(db, "SELECT container_id FROM system_cgroups() WHERE path = ?", [path.rsplit("/", 1)[0]])
    assert parent and all(g["container_id"] is None for g in parent), parent
