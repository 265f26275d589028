"""Resource usage of a running container, read from its cgroups (v1) and its network
namespace. No Django imports.

Our per-container cgroup `<parent>/<id>` sits above LXC's `payload` in every controller
(see cgroups.py), and v1 accounting is hierarchical, so reading ours counts everything in
the container, including processes that `lxc-attach` (exec) put there.

- Block I/O: the blkio controller's `blkio.throttle.io_service_bytes_recursive` and
  `…io_serviced_recursive` (independent of the I/O scheduler; v1 attributes reads and
  direct writes, not page-cache writeback). Recent kernels (seen on this host's 6.18) count
  there only on a disk where some cgroup has a throttle rule: `enable_io_accounting` gives
  the dockerweb parent a no-limit rule (0) on the disk under the state root, once per
  worker start, so that the counters count (dockerd, which reads the same files, would show
  0 B without a --device-read-bps limit somewhere on the disk).
- Network: `/proc/<pid>/net/dev` of a process of the container, which shows the counters
  of its own network namespace as the container sees them (rx = received by the
  container); `lo` is left out, as Docker does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from .cgroups import CGROUP_ROOT, read_int
from .cgroups import pids as cgroup_pids

NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class NetIO:
    """Cumulative counters of one interface, as seen inside the container."""

    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


@dataclass(frozen=True)
class BlkEntry:
    """One line of a v1 blkio recursive file: device, operation (Read, Write, Sync, Async,
    Discard, Total) and a cumulative value (bytes or I/O count)."""

    major: int
    minor: int
    op: str
    value: int


@dataclass(frozen=True)
class Sample:
    """One reading. CPU counters are cumulative nanoseconds; memory in bytes; network and
    block I/O counters cumulative since the container (its namespace, its cgroup) began."""

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
    networks: dict[str, NetIO] = field(default_factory=dict)  # by interface name, no lo
    blkio_bytes: tuple[BlkEntry, ...] = ()
    blkio_ios: tuple[BlkEntry, ...] = ()

    @property
    def memory_working_set(self) -> int:
        return max(0, self.memory_usage - self.memory_cache)

    def net_total(self, name: str) -> int:
        """Sum of counter `name` (e.g. "rx_bytes") over the interfaces."""
        return sum(getattr(n, name) for n in self.networks.values())

    @property
    def blk_read_bytes(self) -> int:
        return blk_total(self.blkio_bytes, "Read")

    @property
    def blk_write_bytes(self) -> int:
        return blk_total(self.blkio_bytes, "Write")

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
            "network": {"rx_bytes": self.net_total("rx_bytes"), "tx_bytes": self.net_total("tx_bytes"),
                        "rx_packets": self.net_total("rx_packets"),
                        "tx_packets": self.net_total("tx_packets"),
                        "interfaces": {k: vars(v) for k, v in self.networks.items()}},
            "blkio": {"read_bytes": self.blk_read_bytes, "write_bytes": self.blk_write_bytes,
                      "read_ops": blk_total(self.blkio_ios, "Read"),
                      "write_ops": blk_total(self.blkio_ios, "Write")},
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
    blk = cgroup_dir(parent, cid, "blkio")
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
        networks=container_networks(cgroup_pids(parent, cid)),
        blkio_bytes=blkio_entries(os.path.join(blk, "blkio.throttle.io_service_bytes_recursive")),
        blkio_ios=blkio_entries(os.path.join(blk, "blkio.throttle.io_serviced_recursive")),
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
    return percent_of(current.cpu_usage_ns - previous.cpu_usage_ns,
                      current.system_cpu_ns - previous.system_cpu_ns, current.online_cpus)


def percent_of(cpu_delta: int, system_delta: int, online_cpus: int) -> float:
    """CPU % from the container's and the host's CPU time deltas (0 when either is not
    positive)."""
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return round(cpu_delta / system_delta * online_cpus * 100.0, 2)


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


def parse_net_dev(text: str) -> dict[str, NetIO]:
    """Interfaces of a /proc/<pid>/net/dev text (two header lines), `lo` left out."""
    out: dict[str, NetIO] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        values = rest.split()
        name = name.strip()
        if not sep or name == "lo" or len(values) < 16 or not all(v.isdigit() for v in values):
            continue
        v = [int(x) for x in values]
        out[name] = NetIO(rx_bytes=v[0], rx_packets=v[1], rx_errors=v[2], rx_dropped=v[3],
                          tx_bytes=v[8], tx_packets=v[9], tx_errors=v[10], tx_dropped=v[11])
    return out


def container_networks(pids: list[int]) -> dict[str, NetIO]:
    """The network counters of the namespace of the first of `pids` still there ({} when
    none is, or the container has only `lo`). Every process of a container shares its
    network namespace (exec included: lxc-attach enters it)."""
    for pid in pids:
        text = _read_text(f"/proc/{pid}/net/dev")
        if text is not None:
            return parse_net_dev(text)
    return {}


def whole_disk(dev: int) -> tuple[int, int] | None:
    """major:minor of the disk that holds block device `dev` (a partition's disk; the
    device itself otherwise); None when `dev` is no block device (tmpfs, overlay…)."""
    base = f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"
    if not os.path.exists(base):
        return None
    if os.path.exists(os.path.join(base, "partition")):
        base = os.path.join(os.path.realpath(base), "..")
    text = _read_text(os.path.join(base, "dev")) or ""
    major, _, minor = text.partition(":")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def enable_io_accounting(parent: str, path: str) -> bool:
    """Make the v1 blkio throttle counters count on the disk under `path`: a rule of 0 (no
    limit) on it in the `parent` blkio cgroup (made if missing; cgroups.remove_parent removes
    it). Limits nothing. False when there is no such disk or no blkio controller."""
    disk = whole_disk(os.stat(path).st_dev)
    root = os.path.join(CGROUP_ROOT, "blkio")
    if disk is None or not os.path.isdir(root):
        return False
    cg = os.path.join(root, parent)
    try:
        os.makedirs(cg, exist_ok=True)
        with open(os.path.join(cg, "blkio.throttle.read_bps_device"), "w") as f:
            f.write(f"{disk[0]}:{disk[1]} 0\n")
    except OSError:
        return False
    return True


def parse_blkio(text: str) -> tuple[BlkEntry, ...]:
    """The "MAJ:MIN Op value" lines of a v1 blkio file (its "Total N" line left out)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0] or not parts[2].isdigit():
            continue
        major, _, minor = parts[0].partition(":")
        if major.isdigit() and minor.isdigit():
            out.append(BlkEntry(int(major), int(minor), parts[1], int(parts[2])))
    return tuple(out)


def blkio_entries(path: str) -> tuple[BlkEntry, ...]:
    return parse_blkio(_read_text(path) or "")


def blk_total(entries: tuple[BlkEntry, ...], op: str) -> int:
    """Sum of the `op` ("Read", "Write") values over the devices."""
    return sum(e.value for e in entries if e.op == op)


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
