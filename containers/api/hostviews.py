"""/api/hosts/ (issue 16): the hosts sharing this database. Any user lists and reads them;
staff drain and remove them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from containers import hosts


class HostSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["up", "down"])
    draining = serializers.BooleanField()
    addresses = serializers.ListField(child=serializers.CharField())
    cpus = serializers.IntegerField()
    memory = serializers.IntegerField()
    free_space = serializers.IntegerField()
    running = serializers.IntegerField()
    containers = serializers.IntegerField()
    registered = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()


class DrainSerializer(serializers.Serializer):
    draining = serializers.BooleanField(default=True)


class HostList(APIView):
    @extend_schema(responses=HostSerializer(many=True))
    def get(self, request):
        return Response(HostSerializer(hosts.views(), many=True).data)


class HostDetail(APIView):
    def get_permissions(self):
        return [IsAdminUser()] if self.request.method == "DELETE" else [IsAuthenticated()]

    @extend_schema(responses=HostSerializer)
    def get(self, request, name):
        return Response(HostSerializer(hosts.get(name)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, name):
        hosts.remove(name)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HostDrain(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(request=DrainSerializer, responses=HostSerializer)
    def post(self, request, name):
        ser = DrainSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return Response(HostSerializer(hosts.drain(name, ser.validated_data["draining"])).data)
