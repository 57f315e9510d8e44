"""system_cpus() against /proc/stat's per-CPU lines and cpufreq."""

import os

from conftest import proc_stat_cpu

HZ = os.sysconf("SC_CLK_TCK")


def test_one_row_per_cpu_matching_proc_stat(con):
    before = {n: proc_stat_cpu(f"cpu{n} ") for n in range(os.cpu_count())}
    rows = con.execute("SELECT cpu, cpu_user_seconds, cpu_idle_seconds, cpu_busy_pct, freq_mhz "
                       "FROM system_cpus() ORDER BY cpu").fetchall()
    after = {n: proc_stat_cpu(f"cpu{n} ") for n in range(os.cpu_count())}
    assert [r[0] for r in rows] == list(range(os.cpu_count()))
    for cpu, user, idle, busy, freq in rows:
        assert before[cpu][0] / HZ <= user <= after[cpu][0] / HZ
        assert before[cpu][3] / HZ <= idle <= after[cpu][3] / HZ
        assert busy is None or 0 <= busy <= 100
        sysfs = f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq"
        if os.path.exists(sysfs):
            assert freq is not None and freq > 0
        else:
            with open("/proc/cpuinfo") as f:
                has_mhz = any(l.startswith("cpu MHz") for l in f)
            assert (freq is not None) == has_mhz


def test_window_is_shared_with_system_metrics(con):
    con.execute("SELECT * FROM system_metrics()").fetchall()
    rows = con.execute("SELECT window_seconds FROM system_cpus()").fetchall()
    assert all(r[0] >= 0.1 for r in rows)
