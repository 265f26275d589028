"""Django as an ASGI app whose request work (middleware, view, rendering) runs in one hop
to the request's thread, for the web server and the Docker API server.

Django's own ASGI handler runs the middleware chain in async mode: each middleware that is
not natively async (ours and most of Django's) costs two thread hops per request, a
sync-only one in the chain turns the rest into sync_to_async / async_to_sync sandwiches, and
the view and the rendering of its response cost one hop each (each hop ~0.15-0.25 ms of CPU
for the handoff alone, plus its futures and wake-ups in the event loop). `SyncChainHandler`
loads the chain in sync mode (as under WSGI) and calls it with one `sync_to_async`: every
middleware, the view and the rendering run on the request's thread (dockerweb.requestthreads)
in one go. What stays async is Django's: reading the body, the request_started signal,
sending the response (streaming bodies are async iterators: containers/asyncstream) and
closing it. Behaviour is Django's sync handler's: the same middleware, in the same order,
with the same exception handling (views are sync; an async view would run through
async_to_sync on the event loop).
"""

from __future__ import annotations

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler


class SyncChainHandler(ASGIHandler):
    """Django's ASGIHandler with the middleware chain loaded and run synchronously, in one
    hop to the request's thread."""

    def __init__(self) -> None:
        BaseHandler.__init__(self)  # not ASGIHandler's: it loads the chain in async mode
        self.load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_application() -> SyncChainHandler:
    """`django.core.asgi.get_asgi_application` with `SyncChainHandler`."""
    django.setup(set_prefix=False)
    return SyncChainHandler()
