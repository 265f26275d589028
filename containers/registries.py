"""Registry pull and push for the records: settings, credentials, local names, tags, events,
over engine/image/distribution.py. Each operation reports Docker's JSON progress messages through
`emit` (a callable taking one dict) and returns when done; errors are engine errors.

Local names follow Docker: an image pulled as `busybox` (Docker Hub) is tagged `busybox:latest`,
one pulled as `127.0.0.1:5000/app:1` keeps the registry in its name. Loopback registries are
spoken to over plain http, as Docker does; others only when listed in
DOCKERWEB_INSECURE_REGISTRIES.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings

from containers import events, images, lookup
from containers.engine.errors import InvalidArgument, NotFound
from containers.engine.image import distribution
from containers.engine.image.registry import (
    DOCKER_HUB,
    DOCKER_HUB_HOST,
    Credentials,
    Reference,
    parse_reference,
    progress_message,
)
from containers.engine.image.registry_auth import RegistrySession
from containers.models import Image, RepoDigest, Tag
from containers.runtime import engine

Emit = Callable[[dict[str, Any]], None]


def credentials(header: str) -> Credentials | None:
    """Docker's X-Registry-Auth (base64url JSON with username and password) as credentials;
    None when absent or empty. InvalidArgument when it is not that."""
    if not header.strip():
        return None
    try:
        padded = header.strip() + "=" * (-len(header.strip()) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError) as e:
        raise InvalidArgument(f"invalid X-Registry-Auth header: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid X-Registry-Auth header: not a JSON object")
    user, password = doc.get("username") or "", doc.get("password") or ""
    if not isinstance(user, str) or not isinstance(password, str):
        raise InvalidArgument("invalid X-Registry-Auth header: username and password must be strings")
    return (user, password) if user or password else None


def reference(ref: str) -> Reference:
    """Parse with the configured default registry (InvalidArgument when malformed)."""
    return parse_reference(ref, settings.DOCKERWEB_DEFAULT_REGISTRY)


def local_name(r: Reference) -> str:
    """The repository name as Docker shows it: Docker Hub's library/ and host dropped."""
    if r.registry == DOCKER_HUB:
        return r.repository.removeprefix("library/")
    return f"{r.registry}/{r.repository}"


def insecure(host: str) -> list[str]:
    """Registries spoken to over http for `host`: the allow-list, plus `host` when loopback."""
    allowed = list(settings.DOCKERWEB_INSECURE_REGISTRIES)
    name = host[1:host.index("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    return [*allowed, host] if loopback else allowed


def login(server: str, creds: Credentials) -> None:
    """docker login: check `creds` against the registry at `server` (a host[:port], or a URL
    such as https://index.docker.io/v1/). Unauthorized when refused."""
    host = re.sub(r"^[a-z]+://", "", server.strip()).split("/", 1)[0] or settings.DOCKERWEB_DEFAULT_REGISTRY
    if host in (DOCKER_HUB, "index.docker.io"):
        host = DOCKER_HUB_HOST
    with RegistrySession(host, "", "", credentials=creds, insecure=insecure(host)) as s:
        s.login()


def pull(ref: str, creds: Credentials | None, emit: Emit, *, user) -> Image:
    """Pull `ref` (name[:tag][@digest]) for `user`, register the image and tag it when `ref`
    has a tag (images.set_tag: another user's tag of that name is not moved)."""
    r = reference(ref)
    name = local_name(r)
    report = _Reporter(emit, {"status": f"Pulling from {r.repository}", "id": r.tag or r.digest})
    pulled = distribution.pull(engine().images, ref, credentials=creds, insecure=insecure(r.host),
                               default_registry=settings.DOCKERWEB_DEFAULT_REGISTRY, progress=report)
    report.opening()
    known = Image.objects.filter(pk=pulled.info.id).exists()
    image_id = pulled.info.id
    if r.tag:  # the reference already named this image: nothing new
        pointed = Tag.objects.filter(repository=name, tag=r.tag, image_id=image_id).exists()
    else:
        pointed = RepoDigest.objects.filter(repository=name, digest=pulled.digest, image_id=image_id).exists()
    img = images.register(pulled.info, user=user)
    if r.tag:
        images.set_tag(img, name, r.tag, user=user)
    images.set_digest(img, name, pulled.digest)
    shown = f"{name}:{r.tag}" if r.tag else f"{name}@{r.digest}"
    events.emit("pull", type="image", actor_id=img.id, actor_name=shown,
                owner_id=None if user is None else user.pk)
    emit({"status": f"Digest: {pulled.digest}"})
    fresh = "Image is up to date for" if known and pointed else "Downloaded newer image for"
    emit({"status": f"Status: {fresh} {shown}"})
    return img


def push(name: str, tag: str, creds: Credentials | None, emit: Emit, *, user) -> list[str]:
    """docker push: `name:tag`, or every tag of `name` when `tag` is empty, of the tags
    `user` sees; the digests."""
    repository, _ = lookup.split_reference(name)
    images.validate_reference(repository, tag)
    mine = lookup.tags(user).filter(repository=repository)
    tags = [tag] if tag else sorted(mine.values_list("tag", flat=True))
    if not tags:
        raise NotFound(f"An image does not exist locally with the tag: {name}")
    r = reference(f"{repository}:{tags[0]}")
    report = _Reporter(emit, {"status": f"The push refers to repository [{r.registry}/{r.repository}]"})
    digests = []
    for t in tags:
        found = lookup.tag(f"{repository}:{t}", user)
        if found is None:
            raise NotFound(f"An image does not exist locally with the tag: {repository}:{t}")
        img = found.image
        target = reference(f"{repository}:{t}")
        digest = distribution.push(engine().images, img.id, str(target), credentials=creds,
                                   insecure=insecure(target.host), progress=report,
                                   default_registry=settings.DOCKERWEB_DEFAULT_REGISTRY)
        report.opening()
        images.set_digest(img, repository, digest)
        emit({"status": f"{t}: digest: {digest}"})
        emit({"progressDetail": {}, "aux": {"Tag": t, "Digest": digest}})
        events.emit("push", type="image", actor_id=img.id, actor_name=f"{repository}:{t}",
                    owner_id=None if user is None else user.pk)
        digests.append(digest)
    return digests


class _Reporter:
    """Engine progress (id, status, current, total) as Docker messages, preceded by an opening
    line sent with the first of them: until the registry has answered, nothing is sent, so an
    early failure can still be an HTTP error (jsonprogress.start)."""

    def __init__(self, emit: Emit, first: dict[str, Any]):
        self.emit = emit
        self.first: dict[str, Any] | None = first

    def opening(self) -> None:
        if self.first is not None:
            first, self.first = self.first, None
            self.emit(first)

    def __call__(self, layer_id: str, status: str, current: int, total: int) -> None:
        self.opening()
        self.emit(progress_message(layer_id, status, current, total))
