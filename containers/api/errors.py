"""The one place where typed engine errors become HTTP statuses.

Every error body is {"message": "..."} (what Docker clients print), plus "errors" with
per-field messages for validation failures.
"""

from __future__ import annotations

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from containers.engine import errors as e

STATUS_BY_ERROR: list[tuple[type[e.EngineError], int]] = [
    (e.CommandNotFound, status.HTTP_400_BAD_REQUEST),
    (e.InvalidArgument, status.HTTP_400_BAD_REQUEST),
    (e.Ambiguous, status.HTTP_400_BAD_REQUEST),
    (e.NotFound, status.HTTP_404_NOT_FOUND),
    (e.Unauthorized, status.HTTP_401_UNAUTHORIZED),
    (e.Forbidden, status.HTTP_403_FORBIDDEN),
    (e.Conflict, status.HTTP_409_CONFLICT),  # includes IllegalTransition
    (e.Elsewhere, status.HTTP_421_MISDIRECTED_REQUEST),  # another host's files or streams
    (e.NotModified, status.HTTP_304_NOT_MODIFIED),
    (e.Unreachable, status.HTTP_503_SERVICE_UNAVAILABLE),  # Redis down: known at once
    (e.Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),  # no worker answers
    (e.NotSupported, status.HTTP_501_NOT_IMPLEMENTED),
    (e.StartFailed, status.HTTP_500_INTERNAL_SERVER_ERROR),
    (e.EngineError, status.HTTP_500_INTERNAL_SERVER_ERROR),
]


def status_for(err: e.EngineError) -> int:
    return next(code for cls, code in STATUS_BY_ERROR if isinstance(err, cls))


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(v) for v in detail)
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, e.EngineError):
        code = status_for(exc)
        if code == status.HTTP_304_NOT_MODIFIED:
            return Response(status=code)
        return Response({"message": exc.message}, status=code)
    if isinstance(exc, Http404):
        return Response({"message": "not found"}, status=404)
    response = drf_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        body = {"message": _flatten(exc.detail)}
        if isinstance(exc, exceptions.ValidationError):
            body["errors"] = exc.detail
        response.data = body
    return response
