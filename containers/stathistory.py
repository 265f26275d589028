"""The last hour of each container's resource usage (issue 15): sampled, pruned, read.

The worker of each host runs `run()`: every DOCKERWEB_STATS_INTERVAL seconds it reads each
running container of its host (engine/run/stats.read: a few small cgroup and /proc files)
and writes one row per container in one INSERT, then deletes the rows older than
DOCKERWEB_STATS_KEEP seconds in one DELETE on the `at` index. The store is bounded by time:
KEEP/INTERVAL rows per container (360 at the defaults, 36,000 rows at 100 containers), and
a removed container's rows go with it (CASCADE). It lives in the database, so a page opened
after a web or worker restart, or through another host, still shows the past hour.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from containers.asyncstream import in_thread
from containers.engine.run import stats
from containers.engine.state import State
from containers.models import Container, StatSample

log = logging.getLogger("dockerweb.stathistory")


def row(cid: str, at: Any, s: stats.Sample) -> StatSample:
    """The history row of reading `s` of container `cid` taken at `at`."""
    return StatSample(
        container_id=cid, at=at, cpu_ns=s.cpu_usage_ns, system_ns=s.system_cpu_ns,
        online_cpus=s.online_cpus, memory=s.memory_working_set, memory_limit=s.memory_limit,
        memory_limited=s.memory_limited, pids=s.pids,
        net_rx=s.net_total("rx_bytes"), net_tx=s.net_total("tx_bytes"),
        net_rx_packets=s.net_total("rx_packets"), net_tx_packets=s.net_total("tx_packets"),
        blk_read=s.blk_read_bytes, blk_write=s.blk_write_bytes)


def sample(host: str) -> int:
    """Record one reading of every running container of `host` (one INSERT); how many."""
    from containers.runtime import engine

    parent = engine().config.cgroup_parent
    at = timezone.now()
    rows = []
    for cid in Container.objects.filter(host=host, state=State.RUNNING.value).values_list("id", flat=True):
        s = stats.read(parent, cid)
        if s is not None:  # it stopped meanwhile
            rows.append(row(cid, at, s))
    try:
        StatSample.objects.bulk_create(rows, ignore_conflicts=True)
    except IntegrityError:  # a container was removed since it was read: keep the others
        there = set(Container.objects.filter(pk__in=[r.container_id for r in rows])
                    .values_list("id", flat=True))
        rows = [r for r in rows if r.container_id in there]
        StatSample.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def prune(keep_s: float) -> int:
    """Delete the readings older than `keep_s` seconds; how many went."""
    return StatSample.objects.filter(at__lt=timezone.now() - timedelta(seconds=keep_s)).delete()[0]


def history(cid: str, seconds: float, interval: float | None = None) -> list[dict[str, Any]]:
    """The readings of container `cid` of the last `seconds`, oldest first, as documents of
    the live stats shape (engine/run/stats.Sample.to_dict's keys: cpu, memory, pids,
    network, blkio, read). cpu.percent is over the reading before it, null for the first
    one and after a gap (more than 2.5 intervals: it was not running, or no worker sampled)
    or a restart (counters went back)."""
    gap = 2.5 * (interval or settings.DOCKERWEB_STATS_INTERVAL)
    since = timezone.now() - timedelta(seconds=seconds)
    out: list[dict[str, Any]] = []
    prev: StatSample | None = None
    for r in StatSample.objects.filter(container_id=cid, at__gte=since).order_by("at"):
        joined = (prev is not None and (r.at - prev.at).total_seconds() <= gap
                  and r.cpu_ns >= prev.cpu_ns)
        pct = stats.percent_of(r.cpu_ns - prev.cpu_ns, r.system_ns - prev.system_ns,
                               r.online_cpus) if joined and prev is not None else None
        out.append({
            "read": r.at.isoformat().replace("+00:00", "Z"),
            "cpu": {"usage_ns": r.cpu_ns, "system_ns": r.system_ns, "online_cpus": r.online_cpus,
                    "percent": pct},
            "memory": {"working_set": r.memory, "limit": r.memory_limit, "limited": r.memory_limited},
            "pids": {"current": r.pids},
            "network": {"rx_bytes": r.net_rx, "tx_bytes": r.net_tx, "rx_packets": r.net_rx_packets,
                        "tx_packets": r.net_tx_packets},
            "blkio": {"read_bytes": r.blk_read, "write_bytes": r.blk_write},
        })
        prev = r
    return out


async def run() -> None:
    """The worker's sampling loop: sample this host, prune, sleep; never ends (errors are
    logged: a lost reading is a gap in a chart, not a reason to stop)."""
    from containers.runtime import engine

    interval = settings.DOCKERWEB_STATS_INTERVAL
    if not await in_thread(stats.enable_io_accounting)(engine().config.cgroup_parent, settings.STATE_ROOT):
        log.info("no block I/O accounting: no disk under %s, or no blkio cgroup", settings.STATE_ROOT)
    while True:
        try:
            await in_thread(sample)(settings.DOCKERWEB_HOST)
            await in_thread(prune)(settings.DOCKERWEB_STATS_KEEP)
        except Exception:
            log.exception("stats sampling failed")
        await asyncio.sleep(interval)
