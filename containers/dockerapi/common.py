"""Docker Engine API: what every resource module shares (versions, the view decorator,
the request helpers, Docker's stream framing). The API is served only on the Docker socket
(see docker_asgi.py); errors are {"message": ...} with the status from containers/api/errors.py."""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from containers.api.errors import status_for
from containers.engine.errors import EngineError, InvalidArgument

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
VERSION = "0.1.0-dockerweb"
STOP_MARGIN = 30.0


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


def docker_view(fn: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """CSRF-exempt (a local socket, like docker.sock), engine errors as Docker errors."""

    @functools.wraps(fn)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return fn(request, *args, **kwargs)
        except EngineError as e:
            code = status_for(e)
            return HttpResponse(status=304) if code == 304 else error(e.message, code)
        except (ValueError, json.JSONDecodeError) as e:
            return error(f"invalid request: {e}", 400)

    return csrf_exempt(wrapper)


def actor_of(request: HttpRequest):
    """Who acts (dockerapi/middleware.py): the token's user over TCP, None (the system) on
    the unix socket."""
    return request.docker_actor


def body_of(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    doc = json.loads(request.body)
    if not isinstance(doc, dict):
        raise InvalidArgument("request body must be a JSON object")
    return doc


def filters_of(request: HttpRequest) -> dict[str, list[str]]:
    raw = request.GET.get("filters")
    if not raw:
        return {}
    doc = json.loads(raw)
    # both {"status": ["running"]} and the old {"status": {"running": true}} forms
    return {k: list(v.keys()) if isinstance(v, dict) else list(v) for k, v in doc.items()}


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed-stream frame: [stream, 0, 0, 0, len uint32 BE] + data."""
    return struct.pack(">BxxxI", stream, len(data)) + data


ZERO = "0001-01-01T00:00:00Z"
