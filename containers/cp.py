"""docker cp as a service: stat, read (a tar) and write (a tar) a path inside a container
`user` sees. Paths are checked (PATH_MAX, NAME_MAX: a 400, not an OSError) and resolved
inside the container's root by the engine (inroot)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from containers import hosts, lookup
from containers.engine.errors import InvalidArgument
from containers.engine.fs.inroot import check_path
from containers.engine.image.store import ImageInfo
from containers.images import info as image_info
from containers.runtime import engine

STAT_HEADER = "X-Docker-Container-Path-Stat"  # Docker's name; the REST API sends it too


def stat_header(st: dict[str, Any]) -> str:
    """A stat document as the header value: base64 of its JSON (names need not be ASCII)."""
    return base64.b64encode(json.dumps(st).encode()).decode()


def _target(ref: str, path: str, user) -> tuple[str, ImageInfo]:
    """The container id and image of `ref` for `path` (InvalidArgument for a bad path)."""
    c = lookup.container(ref, user)
    if not path:
        raise InvalidArgument("path is required")
    check_path(path)
    hosts.here(c)
    return c.id, image_info(c.image)


def stat(ref: str, path: str, *, user) -> dict[str, Any]:
    """Docker's stat document of `path` (NotFound when absent)."""
    cid, img = _target(ref, path, user)
    return engine().path_stat(cid, img, path)


def get(ref: str, path: str, *, user) -> tuple[dict[str, Any], Iterator[bytes]]:
    """(stat, tar chunks) of `path`, one resolution for both."""
    cid, img = _target(ref, path, user)
    return engine().archive_get(cid, img, path)


def put(ref: str, path: str, stream: BinaryIO, *, user) -> None:
    """Extract the tar read from `stream` into directory `path`."""
    cid, img = _target(ref, path, user)
    engine().archive_put(cid, img, path, stream)
