"""Request shapes of the exec endpoints."""

from __future__ import annotations

from rest_framework import serializers

from containers.api.serializers import CommandField
from containers.engine.run.exec import ExecConfig


class ExecCreateSerializer(serializers.Serializer):
    cmd = CommandField()
    tty = serializers.BooleanField(required=False, default=False)
    stdin = serializers.BooleanField(required=False, default=False)
    env = serializers.ListField(child=serializers.CharField(trim_whitespace=False), required=False,
                                default=list)
    user = serializers.CharField(required=False, allow_blank=True, default="", max_length=65)
    working_dir = serializers.CharField(required=False, allow_blank=True, default="", max_length=4096)
    console_size = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=65535),
                                         required=False, default=list, min_length=2, max_length=2)

    def config(self) -> ExecConfig:
        return ExecConfig(**self.validated_data).validated()


class ExecStartSerializer(serializers.Serializer):
    detach = serializers.BooleanField(required=False, default=False)
