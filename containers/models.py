"""Records: persistence plus guards. The engine's files are the truth; these are its cache.

State changes go through `Container.transition`, a conditional UPDATE that succeeds only
from a legal source state (healthchecks-style claim), so two racing actions cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from containers import rowsql
from containers.engine import ids
from containers.engine import state as sm
from containers.engine.errors import NotFound

STATE_CHOICES = [(s.value, s.value) for s in sm.State]


class Image(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    created = models.DateTimeField(default=timezone.now)
    layers = models.JSONField(default=list)
    config = models.JSONField(default=dict)
    size = models.BigIntegerField(default=0)
    comment = models.TextField(blank=True, default="")
    author = models.CharField(max_length=255, blank=True, default="")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="children")
    # who made it (null: the system, or made before owners were recorded); see lookup.py
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    def tags(self) -> list[str]:
        return [f"{t.repository}:{t.tag}" for t in self.tag_set.all()]

    def digests(self) -> list[str]:
        """"repository@sha256:..." of the manifests this image was pulled or pushed as."""
        return [f"{d.repository}@{d.digest}" for d in self.repodigest_set.all()]


class Tag(models.Model):
    repository = models.CharField(max_length=255)
    tag = models.CharField(max_length=128)
    image = models.ForeignKey(Image, on_delete=models.PROTECT)
    # who made it (null: the system, or made before owners were recorded); see lookup.py
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "tag"], name="unique_repo_tag"),
        ]


class RepoDigest(models.Model):
    """A registry manifest digest known to name this image (from a pull or a push)."""

    repository = models.CharField(max_length=255)
    digest = models.CharField(max_length=71)  # sha256:<64 hex>
    image = models.ForeignKey(Image, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="unique_repo_digest"),
        ]


class Container(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=255, unique=True)  # engine.ids.NAME_MAX
    image = models.ForeignKey(Image, on_delete=models.PROTECT)
    image_ref = models.CharField(max_length=512)  # engine.spec.IMAGE_REF_MAX
    spec = models.JSONField()
    hostname = models.CharField(max_length=253)
    host = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=sm.State.CREATED.value)
    created = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    oom_killed = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    supervisor_pid = models.IntegerField(null=True, blank=True)
    supervisor_start = models.BigIntegerField(null=True, blank=True)
    init_pid = models.IntegerField(null=True, blank=True)
    restart_count = models.IntegerField(default=0)
    # restart policies (containers/restarts.py): who stopped it ("" / "stop" / "kill": a
    # user's stop holds until the user's next start), when the policy restarts it next
    # (set while it waits out its back-off: Docker's "restarting"), the back-off in force,
    # and why the last run ended
    stopped_by = models.CharField(max_length=8, blank=True, default="")
    restart_at = models.DateTimeField(null=True, blank=True, db_index=True)
    restart_delay_ms = models.IntegerField(default=0)
    exit_reason = models.CharField(max_length=255, blank=True, default="")
    paused = models.BooleanField(default=False)  # freezer; only meaningful while running
    # who made it (null: the system, or made before owners were recorded); see lookup.py
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["state"])]
        ordering = ["-created"]

    @property
    def status(self) -> sm.State:
        return sm.State(self.state)

    @property
    def running(self) -> bool:
        return self.status in sm.ACTIVE

    @classmethod
    def transition(cls, cid: str, target: sm.State, action: str, *,
                   sources: Iterable[sm.State] | None = None, match: dict[str, Any] | None = None,
                   **fields: Any) -> None:
        """Move `cid` to `target` if its current state allows it; else raise
        IllegalTransition (409) or NotFound. Extra `fields` are written in the same UPDATE.
        `sources` narrows the states it may come from, `match` adds conditions on other
        columns (e.g. the supervisor whose exit is being recorded; equality, None is IS
        NULL): all in the one UPDATE, sent as plain SQL (containers/rowsql.py).
        """
        allowed = [s.value for s in sm.sources(target) if sources is None or s in set(sources)]
        if rowsql.update(cls, {"pk": cid, "state__in": allowed, **(match or {})},
                         {"state": target.value, **fields}):
            return
        current = cls.objects.filter(pk=cid).values_list("state", flat=True).first()
        if current is None:
            raise NotFound(f"No such container: {cid}")
        sm.check(current, target, action)  # raises: the state changed under us
        raise sm.IllegalTransition(f"cannot {action} container: it is {current}")


class Event(models.Model):
    """Durable, sequenced events; clients resume with since=<seq>."""

    seq = models.BigAutoField(primary_key=True)
    time = models.DateTimeField(default=timezone.now, db_index=True)  # the age prune's range
    type = models.CharField(max_length=16, default="container")
    action = models.CharField(max_length=32)
    actor_id = models.CharField(max_length=64)
    actor_name = models.CharField(max_length=512, blank=True, default="")  # repo:tag, name@digest
    attributes = models.JSONField(default=dict)
    # the owner of the object it is about (non-staff users see their own events only)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["seq"]


class Network(models.Model):
    """A bridge network: the default one (name "bridge", made by the worker at boot) or a
    user-defined one (its own bridge, subnet, nft rules and DNS; containers/networks.py).
    Subnets are unique by constraint; overlap is refused under the worker's network lock."""

    name = models.CharField(max_length=64)
    driver = models.CharField(max_length=16, default="bridge")
    bridge = models.CharField(max_length=15)
    subnet = models.CharField(max_length=43)  # unique (no two networks, on any host, share one)
    host = models.CharField(max_length=255, default="")  # its bridge is on this host (issue 16)
    gateway = models.GenericIPAddressField(protocol="IPv4")
    created = models.DateTimeField(default=timezone.now)
    # who made it (null: the system, or made before owners were recorded); see lookup.py
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    nid = models.CharField(max_length=64, unique=True, default=ids.new_id)  # Docker's network Id (64 hex)
    labels = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subnet"], name="unique_network_subnet"),
            models.UniqueConstraint(fields=["host", "name"], name="unique_network_name_per_host"),
            models.UniqueConstraint(fields=["host", "bridge"], name="unique_bridge_per_host"),
        ]

    @property
    def user_defined(self) -> bool:
        """False for the default bridge (no DNS by name, no aliases), as Docker's."""
        return self.name != "bridge"


class Membership(models.Model):
    """A container's place on a user-defined network (create's NetworkingConfig, or a
    connect), with its network-scoped aliases. Kept while the container exists, running or
    not; the address itself is an Endpoint, held only while it runs."""

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="memberships")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="memberships")
    aliases = models.JSONField(default=list)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "id"]
        constraints = [models.UniqueConstraint(fields=["container", "network"],
                                               name="unique_membership")]


class Endpoint(models.Model):
    """A running container's address on one network (eth0 on its first network, eth1... on
    the others). IPs are unique per network by constraint; one endpoint per network."""

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="endpoints")
    network = models.ForeignKey(Network, on_delete=models.PROTECT)
    ip = models.GenericIPAddressField(protocol="IPv4")
    prefix = models.IntegerField()
    gateway = models.GenericIPAddressField(protocol="IPv4")
    mac = models.CharField(max_length=17)
    veth = models.CharField(max_length=15, unique=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["network", "ip"], name="unique_endpoint_ip"),
            models.UniqueConstraint(fields=["container", "network"], name="unique_endpoint_network"),
        ]


class PortBinding(models.Model):
    """A published port of a running container. One owner per (host port, protocol)."""

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="port_bindings")
    host_ip = models.CharField(max_length=45, blank=True, default="")
    host_port = models.IntegerField()
    proto = models.CharField(max_length=3)
    container_port = models.IntegerField()
    host = models.CharField(max_length=255, default="")  # the container's host: ports are per host

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "host_port", "proto"],
                                               name="unique_host_port")]


class AuditEntry(models.Model):
    """One state-changing call: who, what, on what, when, from where, through which door,
    and the answer's status. Written once (one INSERT) by containers/audit.py."""

    VIA = [(v, v) for v in ("rest", "dashboard", "docker", "ws")]

    time = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True, default="")  # kept if the user goes
    action = models.CharField(max_length=255)  # "POST api/containers/<str:ref>/stop/"
    target = models.CharField(max_length=255, blank=True, default="")
    remote_addr = models.CharField(max_length=64, blank=True, default="")
    via = models.CharField(max_length=16, choices=VIA)
    status = models.IntegerField()

    class Meta:
        ordering = ["-id"]


class Volume(models.Model):
    """A local volume: its data is `<state>/volumes/<name>/_data` (engine/fs/volumes.py).
    Anonymous volumes are named by the engine (64 hex) and removed with their container by
    `docker run --rm` and `docker rm -v`."""

    name = models.CharField(max_length=255, unique=True)  # engine.fs.mounts.VOLUME_NAME_MAX
    driver = models.CharField(max_length=16, default="local")
    labels = models.JSONField(default=dict)
    anonymous = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)
    # who made it (null: the system); see lookup.py (users see their own volumes only)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")


class VolumeUse(models.Model):
    """A container's mount of a volume: a volume with uses cannot be removed (PROTECT, 409)."""

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="volume_uses")
    volume = models.ForeignKey(Volume, on_delete=models.PROTECT, related_name="uses")
    target = models.CharField(max_length=4096)


class Host(models.Model):
    """A machine with a dockerweb worker (issue 16). The worker registers its host at boot
    and refreshes `last_seen` and the figures every hosts.BEAT_S seconds; a host not seen for
    settings.DOCKERWEB_HOST_STALE_S seconds is down (containers/hosts.py decides)."""

    name = models.CharField(max_length=255, unique=True)
    addresses = models.JSONField(default=list)
    cpus = models.IntegerField(default=0)
    memory = models.BigIntegerField(default=0)  # bytes of RAM
    free_space = models.BigIntegerField(default=0)  # bytes free under its state root
    running = models.IntegerField(default=0)  # running containers at the last beat
    registered = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    draining = models.BooleanField(default=False)  # no new placements
    web_url = models.CharField(max_length=255, blank=True, default="")  # for relayed streams
    docker_tcp = models.CharField(max_length=255, blank=True, default="")  # its Docker API, host:port

    class Meta:
        ordering = ["name"]


class ExecRecord(models.Model):
    """Which container an exec belongs to, so any host finds the host that runs it (issue
    16: an exec's files live on its container's host only). Goes with the container."""

    id = models.CharField(primary_key=True, max_length=64)
    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="+")


class StatSample(models.Model):
    """One resource-usage reading of a running container, taken by its host's worker every
    DOCKERWEB_STATS_INTERVAL seconds (containers/stathistory.py) and pruned past
    DOCKERWEB_STATS_KEEP seconds: the last hour a page shows when it opens. Counters are
    cumulative as the engine reads them (engine/run/stats.Sample); rates are differences
    of consecutive rows. Goes with the container."""

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="+", db_index=False)
    at = models.DateTimeField(db_index=True)  # pruning reads by time
    cpu_ns = models.BigIntegerField()  # cgroup CPU time
    system_ns = models.BigIntegerField()  # the host's CPU time, for percentages
    online_cpus = models.PositiveSmallIntegerField()
    memory = models.BigIntegerField()  # working set
    memory_limit = models.BigIntegerField()
    memory_limited = models.BooleanField()
    pids = models.PositiveIntegerField()
    net_rx = models.BigIntegerField()  # bytes received by the container, all interfaces
    net_tx = models.BigIntegerField()
    net_rx_packets = models.BigIntegerField()
    net_tx_packets = models.BigIntegerField()
    blk_read = models.BigIntegerField()  # bytes
    blk_write = models.BigIntegerField()

    class Meta:
        constraints = [
            # one reading per container and time: the container's history is read by this index
            models.UniqueConstraint(fields=["container", "at"], name="unique_stat_sample_time"),
            models.CheckConstraint(
                condition=models.Q(cpu_ns__gte=0, system_ns__gte=0, memory__gte=0, memory_limit__gte=0,
                                   net_rx__gte=0, net_tx__gte=0, net_rx_packets__gte=0,
                                   net_tx_packets__gte=0, blk_read__gte=0, blk_write__gte=0),
                name="stat_sample_counters_nonnegative"),
        ]
