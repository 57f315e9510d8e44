"""Memory and CPU of this process, for scripts/stress.py and scripts/soak.py.

`heap_in_use` asks glibc's malloc (mallinfo2) how many bytes are allocated and not freed:
RSS that grows while it stays flat is memory the allocator keeps cached, not a leak.
"""

import ctypes
import ctypes.util
import os

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
    ]


def rss_bytes():
    """Resident memory (VmRSS, as ps and top show it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds():
    """User + system CPU time of every thread of this process."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def threads():
    return len(os.listdir("/proc/self/task"))


def fds():
    return len(os.listdir("/proc/self/fd"))


def heap_in_use():
    """Bytes glibc malloc has handed out and not had back (small blocks + mmapped blocks);
    None where mallinfo2 is missing (glibc before 2.33, musl)."""
    try:
        fn = _libc.mallinfo2
    except AttributeError:
        return None
    fn.restype = _Mallinfo2
    m = fn()
    return m.uordblks + m.hblkhd


def malloc_trim():
    """Returns glibc malloc's free memory to the kernel (all arenas)."""
    try:
        _libc.malloc_trim(ctypes.c_size_t(0))
    except AttributeError:
        pass


def mb(n):
    return "n/a" if n is None else f"{n / 1e6:.1f} MB"


def thread_sched(name):
    """For the threads of this process called `name`: (cpu seconds, seconds waited runnable
    on a run queue, voluntary switches, involuntary switches), summed; None if none exists."""
    found = None
    for tid in os.listdir("/proc/self/task"):
        base = f"/proc/self/task/{tid}"
        try:
            with open(f"{base}/comm") as f:
                if f.read().strip() != name:
                    continue
            with open(f"{base}/schedstat") as f:
                run_ns, wait_ns = (int(x) for x in f.read().split()[:2])
            vol = invol = 0
            with open(f"{base}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        vol = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        invol = int(line.split()[1])
        except OSError:
            continue
        cur = (run_ns / 1e9, wait_ns / 1e9, vol, invol)
        found = cur if found is None else tuple(a + b for a, b in zip(found, cur))
    return found


def row(cur):
    """The single (next) row of a DuckDB cursor as a dict."""
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone()))


def live_tables(con):
    """Every live table the loaded extension registers (sysmon_functions(), so a new table is
    covered without editing the scripts)."""
    return [
        r[0]
        for r in con.execute(
            "SELECT function_name FROM sysmon_functions() WHERE function_name LIKE 'system\\_%' ESCAPE '\\' "
            "ORDER BY function_name"
        ).fetchall()
    ]


def default_recorded_tables(con):
    """The tables record_metrics records when `tables` is not given, as the catalog states them
    (the first list of its default: tables recorded only where present, such as gpus, are left out)."""
    import ast

    text = con.execute(
        "SELECT parameter_defaults[list_position(parameters, 'tables')] FROM sysmon_functions() "
        "WHERE function_name = 'record_metrics'"
    ).fetchone()[0]
    return ast.literal_eval(text[: text.index("]") + 1])
