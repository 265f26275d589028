"""ASGI app for the Docker socket: Django, with requests marked for the Docker urlconf.
Hijacked connections (attach, exec) never reach this app: see containers/dockerapi/hijack.py."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerweb.settings")

from dockerweb.djangoapp import get_application  # noqa: E402

django_app = get_application()  # the middleware chain in one hop to the request's thread

from containers.dockerapi.attach import attach_ws  # noqa: E402
from containers.dockerapi.auth import UNAUTHORIZED, allowed  # noqa: E402
from containers.dockerapi.middleware import DOCKER_SCOPE_KEY  # noqa: E402
from containers.hostrelay import peer_of, relay_http  # noqa: E402
from dockerweb import malloc  # noqa: E402
from dockerweb.requestthreads import RequestThreads  # noqa: E402

malloc.start()  # flat RSS over many requests (issue 12)


async def _application(scope, receive, send):
    if scope["type"] == "websocket":
        await attach_ws(scope, receive, send)
        return
    if scope["type"] != "http":
        return
    if not await allowed(scope):
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": UNAUTHORIZED})
        return
    if (peer := await peer_of(scope, docker=True)) is not None:  # another host's container
        await relay_http(scope, receive, send, peer, docker=True)
        return
    await django_app({**scope, DOCKER_SCOPE_KEY: "docker"}, receive, send)


# each request's sync code on a pooled thread that keeps its database connection
application = RequestThreads(_application)
