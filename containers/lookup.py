"""Find containers and images the way Docker clients name them."""

from __future__ import annotations

from containers.engine import ids
from containers.engine.errors import Ambiguous, NotFound
from containers.models import Container, Image, RepoDigest, Tag


def container(ref: str) -> Container:
    """By full id, exact name, or unique id prefix. NotFound (404) / Ambiguous (400)."""
    ref = ref.lstrip("/")
    found = Container.objects.filter(pk=ref).first() or Container.objects.filter(name=ref).first()
    if found:
        return found
    if ids.is_hex_prefix(ref):
        matches = list(Container.objects.filter(pk__startswith=ref)[:2])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Ambiguous(f"multiple containers match prefix {ref!r}")
    raise NotFound(f"No such container: {ref}")


def split_reference(ref: str) -> tuple[str, str]:
    """'busybox' -> ('busybox', 'latest'); 'reg:5000/a/b:1' -> ('reg:5000/a/b', '1')."""
    name, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name, tag


def image(ref: str) -> Image:
    """By repo[:tag], repo@sha256:digest, full id (with or without sha256:), or unique id
    prefix."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        name = split_reference(name)[0]  # a tag beside the digest says nothing more
        d = RepoDigest.objects.select_related("image").filter(repository=name, digest=digest).first()
        if d is None:
            raise NotFound(f"No such image: {ref}")
        return d.image
    bare = ref[7:] if ref.startswith("sha256:") else ref
    found = Image.objects.filter(pk=bare).first()
    if found:
        return found
    name, tag = split_reference(ref)
    t = Tag.objects.select_related("image").filter(repository=name, tag=tag).first()
    if t:
        return t.image
    if ids.is_hex_prefix(bare) and len(bare) >= 4:
        matches = list(Image.objects.filter(pk__startswith=bare)[:2])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Ambiguous(f"multiple images match prefix {ref!r}")
    raise NotFound(f"No such image: {ref}")
