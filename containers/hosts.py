"""Hosts (issue 16): the machines whose workers share one database and one Redis.

Each worker registers its host at boot (`register`) and refreshes it every
settings.DOCKERWEB_HOST_BEAT_S seconds (`beat`): last_seen, running containers, free space.
A host not seen for settings.DOCKERWEB_HOST_STALE_S seconds is down: commands for its
containers are refused at once (`down_reason`), its running containers are shown `unknown`,
and it is reconciled by its own worker when it returns. A host can be drained (no new
placements) and removed once no container record names it.

One host (the default, `make run`) costs one indexed UPDATE per beat and nothing per command:
the local host is judged by the worker's file heartbeat (containers/heartbeat.py), as before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from containers.engine import state as sm
from containers.engine.errors import Conflict, Elsewhere, NotFound
from containers.models import Container, Host
from containers.runtime import host_name

CHANNEL_SAFE = re.compile(r"[^a-zA-Z0-9_.-]")


@dataclass(frozen=True)
class HostView:
    """A host as the APIs show it."""

    name: str
    status: str  # "up", "down"
    draining: bool
    addresses: list[str]
    cpus: int
    memory: int
    free_space: int
    running: int
    containers: int
    registered: datetime
    last_seen: datetime

    def as_dict(self) -> dict:
        d = self.__dict__.copy()
        d["registered"], d["last_seen"] = self.registered.isoformat(), self.last_seen.isoformat()
        return d


def channel(host: str) -> str:
    """The engine channel of `host`'s worker (channel names allow [a-zA-Z0-9_.-] only)."""
    return f"{settings.DOCKERWEB_ENGINE_CHANNEL}.{CHANNEL_SAFE.sub('_', host)}"[:99]


def facts() -> dict:
    """This machine's figures: addresses, CPUs, memory, free space of the state root."""
    st = os.statvfs(settings.STATE_ROOT)
    return {"addresses": _addresses(), "cpus": os.cpu_count() or 0, "memory": _memory(),
            "free_space": st.f_bavail * st.f_frsize, "web_url": settings.DOCKERWEB_WEB_URL,
            "docker_tcp": settings.DOCKERWEB_DOCKER_TCP}


def _memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _addresses() -> list[str]:
    """The host's global addresses (not loopback, not our bridges or veths)."""
    from pyroute2 import IPRoute

    ours = settings.DOCKERWEB_BRIDGE
    out = []
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for addr in ipr.get_addr():
            name = names.get(addr["index"], "")
            if name == "lo" or name == ours or name.startswith(("veth", "dw")) or addr["scope"] != 0:
                continue
            out.append(addr.get_attr("IFA_ADDRESS"))
    return out


def _running_here() -> int:
    return Container.objects.filter(host=host_name(), state=sm.State.RUNNING.value).count()


def register() -> Host:
    """Record this host (the worker's boot): its figures, seen now. Keeps `draining`."""
    now = timezone.now()
    values = {**facts(), "last_seen": now, "running": _running_here()}
    try:
        h, made = Host.objects.get_or_create(name=host_name(), defaults={**values, "registered": now})
    except IntegrityError:  # two workers of one host name racing: the row exists now
        h, made = Host.objects.get(name=host_name()), False
    if not made:
        Host.objects.filter(pk=h.pk).update(**values)
    return h


def beat() -> None:
    """Refresh this host's row (one UPDATE; a row removed meanwhile is registered again)."""
    st = os.statvfs(settings.STATE_ROOT)
    n = Host.objects.filter(name=host_name()).update(
        last_seen=timezone.now(), running=_running_here(), free_space=st.f_bavail * st.f_frsize)
    if not n:
        register()


def here(c: Container) -> Container:
    """`c`, when it is on this host; Elsewhere (421) when it runs on another: its logs,
    attach, exec, stats, files, changes and export are served by that host's own API (the
    cross-host relay of issue 16 is not built yet)."""
    if c.host and c.host != host_name():
        raise Elsewhere(f"container {c.name} is on host {c.host}: its logs, attach, exec, stats, "
                        f"files and export are served by that host's API")
    return c


def is_up(h: Host, now: datetime | None = None) -> bool:
    return (now or timezone.now()) - h.last_seen <= timedelta(seconds=settings.DOCKERWEB_HOST_STALE_S)


def down_reason(name: str) -> str | None:
    """Why commands cannot reach host `name` now (None: its worker is seen). The local host
    is left to the file heartbeat (rpc), which knows sooner."""
    if not name or name == host_name():
        return None
    h = Host.objects.filter(name=name).first()
    if h is None:
        return f"host {name} is not registered"
    if not is_up(h):
        ago = (timezone.now() - h.last_seen).total_seconds()
        return f"host {name} is down (last seen {ago:.0f}s ago)"
    return None


def down_hosts() -> set[str]:
    """Names of the hosts that are down now (one query; empty on a single host)."""
    cutoff = timezone.now() - timedelta(seconds=settings.DOCKERWEB_HOST_STALE_S)
    return set(Host.objects.filter(last_seen__lt=cutoff).values_list("name", flat=True))


def views() -> list[HostView]:
    """Every registered host with its status and container count."""
    now = timezone.now()
    counts: dict[str, int] = {}
    for host in Container.objects.values_list("host", flat=True):
        counts[host] = counts.get(host, 0) + 1
    return [_view(h, now, counts.get(h.name, 0)) for h in Host.objects.all()]


def _view(h: Host, now: datetime, containers: int) -> HostView:
    return HostView(name=h.name, status="up" if is_up(h, now) else "down", draining=h.draining,
                    addresses=list(h.addresses), cpus=h.cpus, memory=h.memory,
                    free_space=h.free_space, running=h.running, containers=containers,
                    registered=h.registered, last_seen=h.last_seen)


def get(name: str) -> HostView:
    h = Host.objects.filter(name=name).first()
    if h is None:
        raise NotFound(f"No such host: {name}")
    return _view(h, timezone.now(), Container.objects.filter(host=name).count())


def drain(name: str, draining: bool = True) -> HostView:
    """Stop (or resume) placing new containers on host `name`."""
    if not Host.objects.filter(name=name).update(draining=draining):
        raise NotFound(f"No such host: {name}")
    return get(name)


def remove(name: str) -> None:
    """Forget host `name`: only when it is down (its worker would register it again) and no
    container record names it (409 otherwise)."""
    if get(name).status == "up":
        raise Conflict(f"host {name} is up: drain it and stop its worker before removing it")
    left = Container.objects.filter(host=name).count()
    if left:
        raise Conflict(f"host {name} still has {left} container(s): remove them first")
    Host.objects.filter(name=name).delete()
