"""The base of every stream consumer: authentication, parameters, errors, close codes.

A consumer accepts the socket, checks the user (4401 when anonymous), then runs its
`stream()` coroutine as a task; typed engine errors close the socket with a 44xx code and
a final {"type": "error", "message"} frame. Input frames skip Channels' per-message
database clean-up (they never touch the database), which keeps keystrokes fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import QueryDict
from django.utils.functional import LazyObject

from containers.asyncstream import in_thread
from containers.engine.errors import Ambiguous, Conflict, EngineError, InvalidArgument, NotFound

log = logging.getLogger("dockerweb.streams")

NO_CHANNEL_LAYER = "__none__"  # an alias that is not configured: no layer, no Redis
CLOSE_NORMAL = 1000
CLOSE_INTERNAL = 1011
CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_NOT_FOUND = 4404
CLOSE_CONFLICT = 4409
CLOSE_CODES: list[tuple[type[EngineError], int]] = [
    (InvalidArgument, CLOSE_BAD_REQUEST),
    (Ambiguous, CLOSE_BAD_REQUEST),
    (NotFound, CLOSE_NOT_FOUND),
    (Conflict, CLOSE_CONFLICT),
]


class StreamConsumer(AsyncWebsocketConsumer):
    """Authenticated websocket whose work is the `stream()` coroutine."""

    channel_layer_alias = NO_CHANNEL_LAYER

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.stream()
        except asyncio.CancelledError:
            raise
        except EngineError as e:
            code = next((c for cls, c in CLOSE_CODES if isinstance(e, cls)), CLOSE_INTERNAL)
            await self._fail(code, e.message)
        except OSError as e:
            # the client went away while we were sending (the server's "disconnected" is an
            # OSError), or a read failed (a log file, a socket): a client still there is
            # told, never left with an open socket that sends nothing
            if await self._fail(CLOSE_INTERNAL, f"the stream failed: {e.strerror or type(e).__name__}"):
                log.warning("%s failed: %s", type(self).__name__, e)
        except Exception:
            log.exception("%s failed", type(self).__name__)
            await self._fail(CLOSE_INTERNAL, "the stream failed (see the server's log)")

    async def _fail(self, code: int, message: str) -> bool:
        """Send the error frame and close with `code`; False when the client is gone."""
        try:
            await self.send_json({"type": "error", "message": message})
            await self.close(code=code)
        except OSError:
            return False
        return True

    async def stream(self) -> None:
        """The consumer's work: send frames until done, then close."""
        raise NotImplementedError

    async def disconnect(self, code: int) -> None:
        task = getattr(self, "task", None)
        if task is not None:
            task.cancel()

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)  # no database clean-up per keystroke
        else:
            await super().dispatch(message)

    # ---- helpers -----------------------------------------------------------------------
    @property
    def query(self) -> QueryDict:
        return QueryDict(self.scope.get("query_string", b""))

    @property
    def user(self):
        """Who opened the socket (authenticated by then): the object lookup.py filters by."""
        user = self.scope.get("user")
        return user._wrapped if isinstance(user, LazyObject) else user

    async def audit(self, verb: str, target: str, status: int) -> None:
        """One audit row for a session that can change things (stdin, exec), at its open."""
        from containers import audit

        await in_thread(audit.socket_record)(self.scope, user=self.user, verb=verb, target=target,
                                             via="ws", status=status)

    def url_arg(self, name: str) -> str:
        return self.scope["url_route"]["kwargs"][name]

    async def send_json(self, doc: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(doc))
