"""CPU time by process group around one benchmark cell, from /proc (Linux only).

Groups: the gunicorn server under test (master and workers), PostgreSQL (every ``postgres``
process: other users of the machine's PostgreSQL count too), Redis, the load generator (wrk,
the only child the benchmark waits for meanwhile) and the whole machine.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: str) -> tuple[str, int, int] | None:
    """(comm, ppid, utime+stime ticks) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, int(fields[1]), int(fields[11]) + int(fields[12])


def _machine_busy_ticks() -> int:
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values[:8]) - idle


def snapshot(server_pids: set[int]) -> dict[str, float]:
    """CPU seconds so far of each group (monotonic, except for processes that exit)."""
    groups = {"app": 0, "postgresql": 0, "redis": 0}
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        pids = []
    for pid in pids:
        info = _stat(pid)
        if info is None:
            continue
        comm, ppid, ticks = info
        if int(pid) in server_pids or ppid in server_pids:
            groups["app"] += ticks
        elif comm == "postgres":
            groups["postgresql"] += ticks
        elif comm.startswith("redis-server"):
            groups["redis"] += ticks
    out = {k: v / TICK for k, v in groups.items()}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["wrk"] = usage.ru_utime + usage.ru_stime
    out["machine"] = _machine_busy_ticks() / TICK
    return out


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: max(0.0, after[k] - before[k]) for k in before}


def busy_fraction(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` (call it while the benchmark itself is idle)."""
    import time

    def ticks() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values[:8]) - idle, sum(values[:8])

    try:
        busy0, total0 = ticks()
        time.sleep(seconds)
        busy1, total1 = ticks()
    except OSError:
        return 0.0
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_for_quiet(threshold: float, max_wait: float, log=print) -> float:
    """Wait (at most ``max_wait`` s) until other work leaves the CPUs; returns the last share."""
    import time

    deadline = time.monotonic() + max_wait
    share = busy_fraction()
    announced = False
    while share > threshold and time.monotonic() < deadline:
        if not announced:
            log(f"  the machine is {share:.0%} busy with other work: waiting (max {max_wait:g} s)")
            announced = True
        share = busy_fraction(2.0)
    return share
