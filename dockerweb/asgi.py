"""ASGI entry point: HTTP goes to Django; websockets are added by the streams issue."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerweb.settings")
django_app = get_asgi_application()

from channels.routing import ChannelNameRouter, ProtocolTypeRouter  # noqa: E402

from containers.worker import EngineConsumer  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_app,
    "channel": ChannelNameRouter({"dockerweb.engine": EngineConsumer.as_asgi()}),
})
