"""Request parsing and response shapes of the native REST API."""

from __future__ import annotations

import shlex

from rest_framework import serializers

from containers.engine.spec import ContainerSpec
from containers.lifecycle import describe_exit
from containers.models import Container, Event, Image


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


class ContainerCreateSerializer(serializers.Serializer):
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
    network_mode = serializers.ChoiceField(choices=["bridge", "none"], required=False, default="bridge")
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

    def spec(self) -> ContainerSpec:
        data = dict(self.validated_data)
        data.pop("name")
        return ContainerSpec(**data)


class ContainerSerializer(serializers.ModelSerializer):
    """Inspect: config, state and exit info."""

    image_id = serializers.CharField(read_only=True)  # the foreign key itself: no query for the image
    image = serializers.CharField(source="image_ref")
    config = serializers.JSONField(source="spec")
    state = serializers.SerializerMethodField()
    network_settings = serializers.SerializerMethodField()

    class Meta:
        model = Container
        fields = ["id", "name", "image", "image_id", "hostname", "host", "created", "config",
                  "state", "restart_count", "network_settings"]

    def get_network_settings(self, c: Container) -> dict:
        from containers.networking import describe

        return describe(c)

    def get_state(self, c: Container) -> dict:
        return {
            "status": c.state,
            "running": c.running,
            "paused": c.paused,
            "pid": c.init_pid if c.running else None,
            "started_at": c.started_at,
            "finished_at": c.finished_at,
            **describe_exit(c),
        }


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


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["seq", "time", "type", "action", "actor_id", "actor_name", "attributes"]


class NetworkSerializer(serializers.ModelSerializer):
    containers = serializers.SerializerMethodField()

    class Meta:
        from containers.models import Network

        model = Network
        fields = ["name", "driver", "bridge", "subnet", "gateway", "created", "containers"]

    def get_containers(self, net) -> dict:
        """The endpoints of containers the asking user sees (context "user")."""
        from containers import lookup

        seen = lookup.containers(self.context.get("user")).filter(endpoint__network=net)
        return {ep.container_id: {"name": ep.container.name, "ip": ep.ip, "mac": ep.mac}
                for ep in net.endpoint_set.select_related("container").filter(container__in=seen)}
