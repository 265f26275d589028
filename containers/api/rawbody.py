"""Views whose request body is an archive read as a stream by the service (image import and
load, a tar into a container).

DRF parses the body on the first look at `request.data` or `request.POST`. The session
authentication looks at `request.POST` for its CSRF check, so a browser's upload of a file
(Content-Type application/octet-stream, application/x-tar, …) failed there with 415 while the
same upload with a token (no CSRF check) worked. `RawBodyParser` accepts every media type and
reads nothing: the body stays in Django's request for the service to stream.
"""

from __future__ import annotations

from typing import Any

from rest_framework.parsers import BaseParser


class RawBodyParser(BaseParser):
    """Any media type; parses nothing (`request.data` is {}), leaves the body unread."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> dict:
        return {}


RAW_BODY = [RawBodyParser]
