"""system_gpus() and system_info()'s NVML columns against NVML read through ctypes (and
nvidia-smi where it is installed); the recorder records `gpus` by default only with a GPU."""

import ctypes
import shutil
import subprocess

import pytest

from conftest import one, rows
from recorder_helpers import wait_for


def nvml_gpu_count():
    """The GPUs NVML lists, read without sysmon; None where NVML cannot be initialised."""
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    if lib.nvmlInit_v2() != 0:
        return None
    n = ctypes.c_uint(0)
    if lib.nvmlDeviceGetCount_v2(ctypes.byref(n)) != 0:
        return None
    return n.value


def test_rows_match_nvml(db):
    n = nvml_gpu_count()
    info = one(db, "SELECT nvml_available, nvidia_driver_version FROM system_info()")
    got = rows(db, "SELECT * FROM system_gpus() ORDER BY index")
    if n is None:
        # No NVIDIA driver (CI): no rows, no error, and system_info() says so.
        assert got == []
        assert info == {"nvml_available": False, "nvidia_driver_version": None}
        return
    assert info["nvml_available"] and info["nvidia_driver_version"]
    assert [g["index"] for g in got] == list(range(n))
    for g in got:
        assert g["uuid"].startswith("GPU-") and g["name"], g
        assert 0 < g["memory_used_bytes"] <= g["memory_total_bytes"] or g["memory_used_bytes"] == 0, g
        assert g["processes"] is None or g["processes"] >= 0, g


def test_static_values_match_nvidia_smi(db):
    if shutil.which("nvidia-smi") is None or not nvml_gpu_count():
        pytest.skip("no NVIDIA GPU and nvidia-smi here")
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=index,uuid,name,memory.total,power.limit", "--format=csv,noheader,nounits"],
        capture_output=True, text=True, check=True,
    ).stdout
    smi = [[f.strip() for f in line.split(",")] for line in out.strip().splitlines()]
    got = rows(db, "SELECT index, uuid, name, memory_total_bytes, power_limit_watts FROM system_gpus() ORDER BY index")
    assert len(got) == len(smi)
    for g, s in zip(got, smi):
        assert [str(g["index"]), g["uuid"], g["name"]] == s[:3]
        assert g["memory_total_bytes"] // 2**20 == int(s[3])
        assert abs(g["power_limit_watts"] - float(s[4])) < 0.01


def test_recorder_records_gpus_by_default_only_with_a_gpu(db, tmp_path):
    with_gpu = bool(nvml_gpu_count())
    r = one(db, f"SELECT id, tables FROM record_metrics('{tmp_path}/default', INTERVAL 1 SECOND)")
    db.execute("SELECT * FROM stop_recording(?)", [r["id"]]).fetchall()
    assert ("gpus" in r["tables"]) == with_gpu, r
    # Named, it is accepted everywhere; without a GPU it writes no rows and no error.
    r = one(db, f"SELECT id, tables FROM record_metrics('{tmp_path}/named', INTERVAL '50 milliseconds', tables := ['gpus'])")
    # Stopped only once a few ticks were sampled: a recorder stopped at once may have sampled none.
    assert wait_for(lambda: one(db, "SELECT samples_taken FROM recordings() WHERE id = ?", [r["id"]])["samples_taken"] >= 3, timeout=60), \
        "the recorder took fewer than 3 samples in 60 s"
    stopped = one(db, "SELECT * FROM stop_recording(?)", [r["id"]])
    assert r["tables"] == ["gpus"]
    assert stopped["last_error"] is None, stopped
    assert (stopped["rows_written"] > 0) == with_gpu, stopped
