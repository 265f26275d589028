"""ASGI entry point: HTTP goes to Django (and /static/ to the staticfiles finders), websockets
to containers/streams (session or token auth), the engine channel to the worker."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerweb.settings")

from dockerweb.djangoapp import get_application  # noqa: E402

django_app = get_application()  # the middleware chain in one hop to the request's thread

from asgiref.sync import sync_to_async  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import SuspiciousOperation  # noqa: E402
from django.core.handlers.exception import response_for_exception  # noqa: E402

from containers import hosts  # noqa: E402
from containers.hostrelay import RelayMiddleware  # noqa: E402
from containers.streams.auth import socket_auth  # noqa: E402
from containers.streams.routing import websocket_urlpatterns  # noqa: E402
from containers.worker import EngineConsumer  # noqa: E402
from dockerweb import malloc  # noqa: E402
from dockerweb.requestthreads import RequestThreads, creates_and_starts  # noqa: E402

malloc.start()  # flat RSS over many requests (issue 12)


class StaticFiles(ASGIStaticFilesHandler):
    """/static/ as Django serves it, except that a path leaving the static dirs
    (`/static/../`: SuspiciousFileOperation, which Django's handler lets through as a 500)
    gets Django's answer to a suspicious request: 400."""

    async def get_response_async(self, request):
        try:
            return await super().get_response_async(request)
        except SuspiciousOperation as err:
            return await sync_to_async(response_for_exception, thread_sensitive=False)(request, err)


application = ProtocolTypeRouter({
    # each request's sync code on a pooled thread that keeps its database connection,
    # creates and starts paced; requests for another host's container are relayed to it
    # (issue 16); /static/: the dashboard's files
    "http": RequestThreads(RelayMiddleware(StaticFiles(django_app)), paced=creates_and_starts),
    "websocket": RelayMiddleware(socket_auth(URLRouter(websocket_urlpatterns))),
    # the worker listens on its host's own engine channel (issue 16)
    "channel": ChannelNameRouter({hosts.channel(settings.DOCKERWEB_HOST): EngineConsumer.as_asgi()}),
})
