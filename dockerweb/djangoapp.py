"""Django as an ASGI app whose request work (middleware, view, rendering) runs in one hop
to the request's thread, for the web server and the Docker API server.

Django's own ASGI handler runs the middleware chain in async mode: each middleware that is
not natively async (ours and most of Django's) costs two thread hops per request, a
sync-only one in the chain turns the rest into sync_to_async / async_to_sync sandwiches, and
the view and the rendering of its response cost one hop each (each hop ~0.15-0.25 ms of CPU
for the handoff alone, plus its futures and wake-ups in the event loop). `SyncChainHandler`
loads the chain in sync mode (as under WSGI) and calls it with one `sync_to_async`: every
middleware, the view and the rendering run on the request's thread (dockerweb.requestthreads)
in one go. Django's handler also hops to that thread twice more per request, for the
request_started signal's receivers before the chain and for `response.close()` (the
request_finished signal) after sending; here both run in the same hop as the chain:
request_started's receivers right before it, and the close of a response whose body is
already rendered (not streaming) right after it, before the bytes are sent (a streaming
response is closed after its stream, in a hop of its own, as Django does). What stays
async is Django's: reading the body, sending the response (streaming bodies are async
iterators: containers/asyncstream), watching for the client's disconnect. Behaviour is
Django's sync handler's: the same middleware, in the same order, with the same exception
handling (views are sync; an async view would run through async_to_sync on the event loop).
"""

from __future__ import annotations

import asyncio
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.urls import set_script_prefix


class SyncChainHandler(ASGIHandler):
    """Django's ASGIHandler with the middleware chain loaded and run synchronously, in one
    hop to the request's thread, with request_started and (for a rendered response) the
    close in that hop too."""

    def __init__(self) -> None:
        BaseHandler.__init__(self)  # not ASGIHandler's: it loads the chain in async mode
        self.load_middleware(is_async=False)

    def _serve(self, request: HttpRequest, scope: dict[str, Any]) -> HttpResponseBase:
        """On the request's thread: request_started, the chain, and the close of a response
        that is not streamed (marked `_closed_in_hop`)."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        response = self.get_response(request)
        if not response.streaming:
            response.close()
            response._closed_in_hop = True
        return response

    async def handle(self, scope, receive, send):
        """Django's `ASGIHandler.handle` (5.2) with its three hops to the request's thread
        (request_started, the chain, the close) made one (see the module)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            await signals.request_started.asend(sender=self.__class__, scope=scope)
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request, send):
            response = await sync_to_async(self._serve, thread_sensitive=True)(request, scope)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):  # ASGI servers chunk: larger blocks
                response.block_size = self.chunk_size
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client disconnected while it was sent
            return response

        # as Django: a disconnect while the response is made cancels it
        tasks = [asyncio.create_task(self.listen_for_disconnect(receive)),
                 asyncio.create_task(process_request(request, send))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            if not getattr(response, "_closed_in_hop", False):
                await sync_to_async(response.close)()
        body_file.close()


def get_application() -> SyncChainHandler:
    """`django.core.asgi.get_asgi_application` with `SyncChainHandler`."""
    django.setup(set_prefix=False)
    return SyncChainHandler()
