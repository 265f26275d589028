"""Where a new container runs (issue 16): the host chosen at create.

Explicit: the REST `host` field or the Docker API label `com.dockerweb.host` (pinned hosts
must be registered, up and not draining); a container on a user network goes to its host.
Otherwise the up, non-draining host with the fewest containers of the same name prefix
(replicas "web-1", "web-2" spread), then the fewest active containers, then by name. With
no Host rows (a worker that never beat, the fast tests) or only this one, it is this host,
at the cost of one small query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db.models import Count, Q
from django.utils import timezone

from containers import hosts
from containers.engine import state as sm
from containers.engine.errors import Conflict, InvalidArgument, Unavailable
from containers.models import Container, Host, Network
from containers.prepared import Prepared
from containers.runtime import host_name

PIN_LABEL = "com.dockerweb.host"
_REPLICA_SUFFIX = re.compile(r"[-_.]?\d+$")


def prefix(name: str) -> str:
    """The replica group of a container name: "web-3" -> "web" ("" for no name)."""
    return _REPLICA_SUFFIX.sub("", name)


# the hosts not draining, by name: compiled once (containers/prepared), read at every create.
# No parameter: the ORM writes a boolean filter as `NOT "draining"` (no SQL parameter), so a
# `draining` argument could never be prepared and compiled at every create.
_HOSTS = Prepared(Host, lambda: Host.objects.filter(draining=False))


def choose(pinned: str = "", name: str = "", networks: Iterable[Network] = ()) -> str:
    """The host for a new container (see the module docstring). A container on user
    networks runs where they are (networks do not span hosts): Conflict when they are on
    different hosts or elsewhere than the pin."""
    where = {n.host for n in networks if n.user_defined and n.host}
    if len(where) > 1:
        raise Conflict(f"the networks are on different hosts ({', '.join(sorted(where))}): "
                       "networks do not span hosts")
    if where:
        net_host = where.pop()
        if pinned and pinned != net_host:
            raise Conflict(f"the container's network is on host {net_host}, not {pinned}")
        pinned = net_host
    if pinned:
        return _pinned(pinned)
    now = timezone.now()
    candidates = [h for h in _HOSTS() if hosts.is_up(h, now)]
    if len(candidates) <= 1:
        return candidates[0].name if candidates else host_name()
    active = [s.value for s in sm.ACTIVE]
    group = prefix(name)
    counts = {"load": Count("id", filter=Q(state__in=active))}
    if group:
        counts["same"] = Count("id", filter=Q(name__startswith=group))
    rows = Container.objects.filter(host__in=[h.name for h in candidates]).values("host").annotate(**counts)
    by_host = {r["host"]: (r.get("same", 0), r["load"]) for r in rows}
    return min(candidates, key=lambda h: (*by_host.get(h.name, (0, 0)), h.name)).name


def _pinned(name: str) -> str:
    h = Host.objects.filter(name=name).first()
    if h is None:
        if name == host_name() and not Host.objects.exists():
            return name  # a single host whose worker has not registered yet
        raise InvalidArgument(f"No such host: {name}")
    if not hosts.is_up(h):
        raise Unavailable(f"host {name} is down")
    if h.draining:
        raise Conflict(f"host {name} is draining: no new containers are placed on it")
    return name
