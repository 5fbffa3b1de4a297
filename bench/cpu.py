"""Where the CPU goes while a load runs: per role (API process, projection worker, PostgreSQL,
load generator) and for the whole machine, in CPU milliseconds per request.

Read from /proc (Linux): per-process user+system ticks of the service's process tree and of
PostgreSQL's processes, the bench's own children (wrk, pgbench) from ``getrusage``, and the
machine's busy time from /proc/stat. A PostgreSQL backend that exits during the window takes its
ticks with it, so for pgbench (whose 64 connections close at the end) use the machine's figure.

This machine is a virtual one: the busy time of /proc/stat includes the time its hypervisor
gave to other guests while ours had work (steal). It is reported apart (``steal_ms``) and
``machine_without_steal_ms`` is the machine's figure without it.
"""
from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field

TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def _processes() -> dict[int, tuple[str, str, int, int]]:
    """pid -> (comm, cmdline, parent pid, user+system ticks)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline") as f:
                cmdline = f.read().replace("\0", " ")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry)] = (comm, cmdline, int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


def _machine() -> tuple[int, int, int]:
    """(busy, total, stolen) ticks of all cores. Busy includes stolen time: ticks in which this
    virtual machine had work but its hypervisor ran another guest instead."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is in user already
    total = sum(values[:8])
    return total - idle, total, values[7]


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _role(pid: int, procs: dict[int, tuple[str, str, int, int]], service_pid: int | None) -> str | None:
    comm, cmdline, _, _ = procs[pid]
    if comm.startswith("postgres"):
        return "postgres"
    ancestor = pid
    while service_pid and ancestor > 1 and ancestor in procs:
        if ancestor == service_pid:
            if "projections" in cmdline:
                return "projection_worker"
            return "writer" if "cli writer" in cmdline else "api"
        ancestor = procs[ancestor][2]
    return None


@dataclass
class CpuMeter:
    """``with CpuMeter(service_pid) as meter: run()`` then ``meter.per_request(n)``."""

    service_pid: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    machine_busy: float = 0.0
    machine_stolen: float = 0.0

    def __enter__(self) -> CpuMeter:
        self._procs = _processes()
        self._machine = _machine()
        self._children = _children_seconds()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._started
        after = _processes()
        busy, total, stolen = _machine()
        elapsed = max(total - self._machine[1], 1)
        self.machine_busy = (busy - self._machine[0]) / elapsed
        self.machine_stolen = (stolen - self._machine[2]) / elapsed
        by_role: dict[str, int] = {}
        for pid, (comm, cmdline, parent, ticks) in after.items():
            role = _role(pid, after, self.service_pid)
            if role is None:
                continue
            before = self._procs.get(pid)
            started = before[3] if before and before[0] == comm else 0
            by_role[role] = by_role.get(role, 0) + ticks - started
        self.seconds = {role: ticks / TICKS for role, ticks in by_role.items()}
        self.seconds["load_generator"] = _children_seconds() - self._children
        self.seconds["machine"] = self.machine_busy * CORES * self.wall
        # Of the machine's busy time, what the hypervisor gave to other guests: not our CPU.
        self.seconds["steal"] = self.machine_stolen * CORES * self.wall
        self.seconds["machine_without_steal"] = self.seconds["machine"] - self.seconds["steal"]

    def per_request(self, requests: int) -> dict[str, float]:
        """CPU milliseconds per request by role, the machine's busy share, and each role's share
        of one core."""
        requests = max(requests, 1)
        result: dict[str, float] = {f"{role}_ms": round(s * 1000 / requests, 3) for role, s in self.seconds.items()}
        result["machine_busy_pct_of_all_cores"] = round(self.machine_busy * 100, 1)
        result["steal_pct_of_all_cores"] = round(self.machine_stolen * 100, 1)
        for role, s in self.seconds.items():
            if role not in ("machine", "steal", "machine_without_steal"):
                result[f"{role}_pct_of_a_core"] = round(s / self.wall * 100, 1)
        return result
