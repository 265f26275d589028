"""ASGI entry point: HTTP goes to Django (and /static/ to the staticfiles finders), websockets
to containers/streams (session or token auth), the engine channel to the worker."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerweb.settings")
django_app = get_asgi_application()

from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from containers.streams.auth import socket_auth  # noqa: E402
from containers.streams.routing import websocket_urlpatterns  # noqa: E402
from containers.worker import EngineConsumer  # noqa: E402

application = ProtocolTypeRouter({
    "http": ASGIStaticFilesHandler(django_app),  # /static/: the dashboard's files
    "websocket": socket_auth(URLRouter(websocket_urlpatterns)),
    "channel": ChannelNameRouter({"dockerweb.engine": EngineConsumer.as_asgi()}),
})
