"""Websocket URLs (wrapped with streams.auth.socket_auth in dockerweb/asgi.py)."""

from django.urls import path

from containers.streams.attach import ContainerAttachConsumer, ExecAttachConsumer
from containers.streams.events import EventsConsumer
from containers.streams.logs import LogsConsumer
from containers.streams.stats import StatsConsumer

websocket_urlpatterns = [
    path("ws/containers/<str:ref>/attach/", ContainerAttachConsumer.as_asgi()),
    path("ws/containers/<str:ref>/logs/", LogsConsumer.as_asgi()),
    path("ws/containers/<str:ref>/stats/", StatsConsumer.as_asgi()),
    path("ws/exec/<str:exec_id>/", ExecAttachConsumer.as_asgi()),
    path("ws/events/", EventsConsumer.as_asgi()),
]
