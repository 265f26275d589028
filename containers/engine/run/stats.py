"""Resource usage of a running container, read from its cgroups (v1). No Django imports.

Our per-container cgroup `<parent>/<id>` sits above LXC's `payload` in every controller
(see cgroups.py), and v1 accounting is hierarchical, so reading ours counts everything in
the container, including processes that `lxc-attach` (exec) put there.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from .cgroups import CGROUP_ROOT, read_int

NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One reading. CPU counters are cumulative nanoseconds; memory in bytes."""

    read: str  # RFC 3339 time of the reading
    cpu_usage_ns: int  # cpuacct.usage: CPU time used by the container
    system_cpu_ns: int  # CPU time of the whole host (all CPUs), for percentages
    online_cpus: int
    memory_usage: int  # memory.usage_in_bytes (includes page cache)
    memory_cache: int  # inactive file pages: reclaimable, left out of the working set
    memory_max_usage: int  # memory.max_usage_in_bytes (high-water mark)
    memory_limit: int  # the cgroup limit, or the host's memory when unlimited
    memory_limited: bool
    pids: int
    pids_limit: int | None

    @property
    def memory_working_set(self) -> int:
        return max(0, self.memory_usage - self.memory_cache)

    def to_dict(self, previous: Sample | None = None) -> dict:
        """Docker-like document; `previous` (an earlier sample) adds cpu.percent."""
        return {
            "read": self.read,
            "cpu": {"usage_ns": self.cpu_usage_ns, "system_ns": self.system_cpu_ns,
                    "online_cpus": self.online_cpus,
                    "percent": cpu_percent(previous, self) if previous else None},
            "memory": {"usage": self.memory_usage, "cache": self.memory_cache,
                       "working_set": self.memory_working_set, "max_usage": self.memory_max_usage,
                       "limit": self.memory_limit, "limited": self.memory_limited},
            "pids": {"current": self.pids, "limit": self.pids_limit},
        }


def cgroup_dir(parent: str, cid: str, controller: str) -> str:
    return os.path.join(CGROUP_ROOT, controller, parent, cid)


def read(parent: str, cid: str) -> Sample | None:
    """A reading of container `cid`, or None when its cgroups do not exist (not running)."""
    mem = cgroup_dir(parent, cid, "memory")
    usage = read_int(os.path.join(mem, "memory.usage_in_bytes"))
    if usage is None:
        return None
    host_mem = host_memory()
    limit = read_int(os.path.join(mem, "memory.limit_in_bytes")) or host_mem
    pids_max = _read_text(os.path.join(cgroup_dir(parent, cid, "pids"), "pids.max"))
    return Sample(
        read=_now(),
        cpu_usage_ns=read_int(os.path.join(cgroup_dir(parent, cid, "cpuacct"), "cpuacct.usage")) or 0,
        system_cpu_ns=system_cpu_ns(),
        online_cpus=os.cpu_count() or 1,
        memory_usage=usage,
        memory_cache=_memory_stat(mem).get("total_inactive_file", 0),
        memory_max_usage=read_int(os.path.join(mem, "memory.max_usage_in_bytes")) or 0,
        memory_limit=min(limit, host_mem),
        memory_limited=limit < host_mem,
        pids=read_int(os.path.join(cgroup_dir(parent, cid, "pids"), "pids.current")) or 0,
        pids_limit=int(pids_max) if pids_max and pids_max.isdigit() else None,
    )


def readings(parent: str, cid: str, window: float = 0.1) -> tuple[Sample, Sample] | None:
    """Two samples `window` seconds apart (None: not running at either)."""
    first = read(parent, cid)
    if first is None:
        return None
    time.sleep(window)
    second = read(parent, cid)
    return (first, second) if second is not None else None


def snapshot(parent: str, cid: str, window: float = 0.1) -> dict | None:
    """One document with cpu.percent measured over `window` seconds (None: not running)."""
    pair = readings(parent, cid, window)
    return pair[1].to_dict(pair[0]) if pair is not None else None


def cpu_percent(previous: Sample, current: Sample) -> float:
    """Docker's formula: container CPU delta over host CPU delta, times the CPU count."""
    cpu = current.cpu_usage_ns - previous.cpu_usage_ns
    system = current.system_cpu_ns - previous.system_cpu_ns
    if cpu <= 0 or system <= 0:
        return 0.0
    return round(cpu / system * current.online_cpus * 100.0, 2)


def system_cpu_ns() -> int:
    """Total CPU time of the host (first line of /proc/stat), in nanoseconds."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    return sum(int(x) for x in fields[:8]) * NS_PER_TICK


def host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _memory_stat(mem_dir: str) -> dict[str, int]:
    out: dict[str, int] = {}
    text = _read_text(os.path.join(mem_dir, "memory.stat")) or ""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.isdigit():
            out[key] = int(value)
    return out


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _now() -> str:
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"
