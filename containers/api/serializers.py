"""Request parsing and response shapes of the native REST API."""

from __future__ import annotations

import copy
import shlex
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from containers.engine.spec import ContainerSpec
from containers.engine.state import State
from containers.lifecycle import describe_exit
from containers.models import Container, Event, Image
from containers.runtime import host_name


class CommandField(serializers.Field):
    """A list of strings, or one string split like a shell would."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                return shlex.split(data)
            except ValueError as err:
                raise serializers.ValidationError(f"cannot parse command: {err}") from None
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return data
        raise serializers.ValidationError("expected a list of strings or a string")

    def to_representation(self, value):
        return value


class CopiedFields:
    """Serializer mixin: its fields are shallow copies of the declared ones, not deep copies
    (DRF deep-copies, i.e. re-instantiates, every declared field of every serializer it
    makes: ~0.8 ms for the 40 fields of a create). A field's per-serializer state is what
    bind() sets on the copy; the declared field's validators and children (a list's item
    field) are shared, read only, as DRF's own ListSerializer shares its child."""

    def get_fields(self):
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


class SentFields(CopiedFields):
    """Serializer mixin: of a JSON object (a plain dict), only the fields it sends and the
    required ones are bound and validated; every other writable field takes its default,
    as DRF's validation gives it for an absent key (`Field.validate_empty_values`: the
    default, called when callable; a field without one is left out). A create sends a few
    of ~36 fields: DRF copied, bound and ran each one (~0.6 ms of a create's 3 ms of CPU).
    Errors, their messages and their order are DRF's: an absent optional field never errs.
    Form data (a QueryDict), a partial update and schema generation (no data) see all the
    fields. Contract: every declared field's source is its name (no `source=`)."""

    def _sent(self) -> dict | None:
        data = getattr(self, "initial_data", None)
        return data if type(data) is dict and not self.partial else None

    def get_fields(self):
        sent = self._sent()
        if sent is None:
            return super().get_fields()
        return {name: copy.copy(field) for name, field in self._declared_fields.items()
                if name in sent or field.required or field.read_only}

    def to_internal_value(self, data):
        ret = super().to_internal_value(data)
        if self._sent() is None:
            return ret
        out = {}
        for name, field in self._declared_fields.items():
            if name in ret:
                out[name] = ret[name]
            elif name not in self.fields and field.default is not empty:
                out[name] = field.default() if callable(field.default) else field.default
        return out


class ContainerCreateSerializer(SentFields, serializers.Serializer):
    image = serializers.CharField(max_length=512)
    cmd = CommandField(required=False, default=list)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=256,
                                 trim_whitespace=False)  # "a\n" is refused, not trimmed
    hostname = serializers.CharField(required=False, allow_blank=True, default="", max_length=253)
    user = serializers.CharField(required=False, allow_blank=True, default="", max_length=65)
    env = serializers.ListField(child=serializers.CharField(allow_blank=False, trim_whitespace=False),
                                required=False, default=list)
    working_dir = serializers.CharField(required=False, allow_blank=True, default="", max_length=4096)
    memory = serializers.IntegerField(required=False, default=0, min_value=0)
    memory_swap = serializers.IntegerField(required=False, default=0, min_value=-1)
    tty = serializers.BooleanField(required=False, default=False)
    open_stdin = serializers.BooleanField(required=False, default=False)
    stdin_once = serializers.BooleanField(required=False, default=False)
    ports = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    entrypoint = CommandField(required=False, default=list)
    auto_remove = serializers.BooleanField(required=False, default=False)
    network_mode = serializers.CharField(required=False, default="bridge", max_length=64,
                                         help_text='"bridge", "none" or a user network\'s name')
    networks = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(max_length=63), max_length=64),
        required=False, default=dict,
        help_text="user networks to join besides network_mode's: {name: [aliases]} "
                  "(network_mode's own aliases under its name)")
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False,
                                   default=dict)
    cap_add = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                    default=list, max_length=64)
    cap_drop = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                     default=list, max_length=64)
    privileged = serializers.BooleanField(required=False, default=False)
    pids_limit = serializers.IntegerField(required=False, default=0, min_value=-1,
                                          help_text="0: the engine's default; -1: unlimited")
    nano_cpus = serializers.IntegerField(required=False, default=0, min_value=0)
    cpu_shares = serializers.IntegerField(required=False, default=0, min_value=0)
    cpu_period = serializers.IntegerField(required=False, default=0, min_value=0)
    cpu_quota = serializers.IntegerField(required=False, default=0, min_value=-1)
    log_opts = serializers.DictField(
        child=serializers.CharField(max_length=32), required=False, default=dict,
        help_text='json-file rotation: {"max-size": "10m", "max-file": "3"} (default: the '
                  "engine's, DOCKERWEB_LOG_MAX_SIZE / DOCKERWEB_LOG_MAX_FILE)")
    log_driver = serializers.CharField(required=False, default="json-file", max_length=64,
                                       help_text="json-file (default), local, or none (no logs kept)")
    restart_policy = serializers.CharField(
        required=False, default="no", max_length=64,
        help_text='no, always, unless-stopped, on-failure (or "on-failure:N")')
    restart_max_retries = serializers.IntegerField(required=False, default=0,
                                                   help_text="on-failure's maximum; 0: none")
    stop_timeout = serializers.IntegerField(required=False, default=None, allow_null=True,
                                            help_text="s a stop waits by default (-1: no limit)")
    memory_swappiness = serializers.IntegerField(required=False, default=None, allow_null=True,
                                                 help_text="0-100; null: the host's")

    volumes = serializers.ListField(
        child=serializers.CharField(max_length=8192, trim_whitespace=False), required=False,
        default=list, max_length=128,
        help_text='docker run -v: "name:/ctr[:ro]" (a volume, made on first use), "/ctr" (an '
                  'anonymous volume) or "/host:/ctr[:ro]" (a host path: staff only)')

    tmpfs = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=256), required=False, default=dict,
        help_text='docker run --tmpfs: {"/run": "size=64m,mode=1777"} (noexec,nosuid,nodev by default)')
    host = serializers.CharField(required=False, allow_blank=True, default="", max_length=255,
                                 help_text="the host to run on (default: placement chooses)")

    def spec(self) -> ContainerSpec:
        from containers.engine.fs.mounts import parse_bind, parse_tmpfs

        data = _policy(dict(self.validated_data))
        data.pop("name")
        data.pop("networks", None)
        data.pop("host")
        binds, tmpfs = data.pop("volumes"), data.pop("tmpfs")
        return ContainerSpec(**data, binds=binds, mounts=[
            *(parse_bind(b) for b in binds), *(parse_tmpfs(p, o) for p, o in tmpfs.items())])

    def endpoints(self) -> dict[str, dict[str, list[str]]]:
        """`networks` in Docker's EndpointsConfig shape (lifecycle.create's `endpoints`)."""
        return {name: {"Aliases": list(aliases)} for name, aliases in self.validated_data["networks"].items()}


def _policy(data: dict) -> dict:
    """restart_policy "on-failure:3" -> restart_policy "on-failure", restart_max_retries 3."""
    from containers.engine import restart

    if ":" in (data.get("restart_policy") or ""):
        data["restart_policy"], data["restart_max_retries"] = restart.parse(data["restart_policy"])
    return data


class ContainerUpdateSerializer(serializers.Serializer):
    """docker update's fields; only those given change."""

    memory = serializers.IntegerField(required=False, min_value=0)
    memory_swap = serializers.IntegerField(required=False, min_value=-1)
    memory_swappiness = serializers.IntegerField(required=False, allow_null=True)
    pids_limit = serializers.IntegerField(required=False, min_value=-1)
    nano_cpus = serializers.IntegerField(required=False, min_value=0)
    cpu_shares = serializers.IntegerField(required=False, min_value=0)
    cpu_period = serializers.IntegerField(required=False, min_value=0)
    cpu_quota = serializers.IntegerField(required=False, min_value=-1)
    restart_policy = serializers.CharField(required=False, max_length=64)
    restart_max_retries = serializers.IntegerField(required=False)

    def changes(self) -> dict:
        data = _policy(dict(self.validated_data))
        if "restart_policy" in data:
            data.setdefault("restart_max_retries", 0)
        return data


def shown_state(c: Container, context: dict) -> str:
    """The record's state, or "unknown" for a running container on a host that is down
    (the down hosts are read once per serializer context, and never for this host)."""
    if c.host == host_name() or c.state not in ("running", "stopping", "starting"):
        return c.state
    if "down_hosts" not in context:
        from containers.hosts import down_hosts

        context["down_hosts"] = down_hosts()
    return "unknown" if c.host in context["down_hosts"] else c.state


_TIME = serializers.DateTimeField()  # DRF's own rendering of a time (ISO 8601, "Z")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class ContainerSerializer(serializers.ModelSerializer):
    """Inspect: config, state and exit info. The fields below are the schema; the document
    itself is built directly by `to_representation` (inspect answers start, stop, kill and
    every GET: DRF would build and copy eleven field objects per container first)."""

    image_id = serializers.CharField(read_only=True)  # the foreign key itself: no query for the image
    image = serializers.CharField(source="image_ref")
    config = serializers.JSONField(source="spec")
    state = serializers.SerializerMethodField()
    network_settings = serializers.SerializerMethodField()

    class Meta:
        model = Container
        fields = ["id", "name", "image", "image_id", "hostname", "host", "created", "config",
                  "state", "restart_count", "network_settings"]

    def to_representation(self, c: Container) -> dict[str, Any]:
        """What the fields above give (same keys, order and formats), without building them."""
        return {
            "id": _text(c.id), "name": _text(c.name), "image": _text(c.image_ref),
            "image_id": _text(c.image_id), "hostname": _text(c.hostname), "host": _text(c.host),
            "created": _TIME.to_representation(c.created) if c.created else None,
            "config": c.spec, "state": self.get_state(c),
            "restart_count": None if c.restart_count is None else int(c.restart_count),
            "network_settings": self.get_network_settings(c),
        }

    def get_network_settings(self, c: Container) -> dict:
        from containers.networking import describe

        return describe(c)

    def get_state(self, c: Container) -> dict:
        return {
            "status": shown_state(c, self.context),
            "running": c.running,
            "paused": c.paused,
            "pid": _main_pid(c),
            "restarting": c.restart_at is not None and not c.running,
            "exit_reason": c.exit_reason,
            "started_at": c.started_at,
            "finished_at": c.finished_at,
            **describe_exit(c),
        }


def _main_pid(c: Container) -> int | None:
    """The container's main process (not LXC's init) while it runs."""
    if c.status not in (State.RUNNING, State.STOPPING):
        return None
    from containers.runtime import engine

    return engine().main_pid(c.id)


class ImageSerializer(serializers.ModelSerializer):
    repo_tags = serializers.SerializerMethodField()
    repo_digests = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["id", "repo_tags", "repo_digests", "created", "size", "config", "layers", "comment",
                  "author", "parent"]

    def get_repo_tags(self, img: Image) -> list[str]:
        """The tags the asking user sees (context "user"; the system's view without one)."""
        from containers import lookup

        user = self.context.get("user")
        return [f"{t.repository}:{t.tag}" for t in img.tag_set.all() if lookup.sees_tag(user, t)]

    def get_repo_digests(self, img: Image) -> list[str]:
        return img.digests()


class ImagePullSerializer(serializers.Serializer):
    image = serializers.CharField(max_length=1024, help_text="name[:tag][@sha256:digest]")
    username = serializers.CharField(required=False, allow_blank=True, write_only=True)
    password = serializers.CharField(required=False, allow_blank=True, write_only=True)


class VolumeSerializer(serializers.ModelSerializer):
    mountpoint = serializers.SerializerMethodField()
    in_use_by = serializers.SerializerMethodField()

    class Meta:
        from containers.models import Volume

        model = Volume
        fields = ["name", "driver", "labels", "anonymous", "created", "mountpoint", "in_use_by"]

    def get_mountpoint(self, v) -> str:
        from containers.runtime import engine

        return engine().volumes.data(v.name)

    def get_in_use_by(self, v) -> list[str]:
        return list(v.uses.values_list("container_id", flat=True))


class VolumeCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=255,
                                 trim_whitespace=False)
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False,
                                   default=dict)


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["seq", "time", "type", "action", "actor_id", "actor_name", "attributes"]


class NetworkSerializer(serializers.ModelSerializer):
    containers = serializers.SerializerMethodField()

    class Meta:
        from containers.models import Network

        model = Network
        fields = ["id", "name", "host", "driver", "bridge", "subnet", "gateway", "labels", "created",
                  "containers"]

    id = serializers.CharField(source="nid", read_only=True)

    def get_containers(self, net) -> dict:
        """The running containers on it that the asking user sees (context "user")."""
        from containers import lookup

        seen = lookup.containers(self.context.get("user"))
        aliases = dict(net.memberships.values_list("container_id", "aliases"))
        return {ep.container_id: {"name": ep.container.name, "ip": ep.ip, "mac": ep.mac,
                                  "aliases": aliases.get(ep.container_id, [])}
                for ep in net.endpoint_set.select_related("container").filter(container__in=seen)}


class NetworkCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    subnet = serializers.CharField(required=False, default="", allow_blank=True, max_length=43)
    gateway = serializers.CharField(required=False, default="", allow_blank=True, max_length=15)
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False,
                                   default=dict)


class NetworkConnectSerializer(serializers.Serializer):
    container = serializers.CharField(max_length=255)
    aliases = serializers.ListField(child=serializers.CharField(max_length=63), required=False,
                                    default=list, max_length=64)
    force = serializers.BooleanField(required=False, default=False)
