"""Image records and operations: register what the engine's image store built, tag, untag,
import, commit, history, remove, prune. Allocation of tags is guarded by the unique
(repository, tag) constraint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from containers import events, lookup
from containers.engine import reference
from containers.engine.errors import Conflict, InvalidArgument
from containers.engine.images import ImageInfo
from containers.models import Container, Image, RepoDigest, Tag
from containers.runtime import engine


def register(info: ImageInfo, repository: str = "", tag: str = "latest",
             parent: Image | None = None) -> Image:
    """The record of an image the store holds (built here, pulled or loaded), tagged
    repository:tag when given. Author, comment and created come from its config; a record
    already here (with its parent) is kept as it is."""
    doc = engine().images.config_doc(info.id)
    with transaction.atomic():
        img, _ = Image.objects.get_or_create(
            pk=info.id, defaults={"layers": info.layers, "config": info.config, "size": info.size,
                                  "parent": parent, "author": doc.get("author") or "",
                                  "comment": doc.get("comment") or "", "created": created_at(info.created)})
        if repository:
            set_tag(img, repository, tag)
    return img


def created_at(stamp: str) -> datetime:
    """An image config's `created` (RFC 3339, up to nanoseconds) as an aware datetime; now if
    absent or unreadable."""
    try:
        when = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return timezone.now()
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def ensure_default_image() -> Image:
    """busybox:latest from the host's busybox-static, built once."""
    existing = Tag.objects.filter(repository="busybox", tag="latest").select_related("image").first()
    if existing:
        return existing.image
    return register(engine().images.build_busybox(), "busybox", "latest")


def info(img: Image) -> ImageInfo:
    return ImageInfo(id=img.id, layers=list(img.layers), config=dict(img.config),
                     created=img.created.isoformat(), size=img.size)


def validate_reference(repository: str, tag: str) -> tuple[str, str]:
    """(repository, tag) as stored, or InvalidArgument: Docker's grammar matched in full
    (engine/reference.py; uppercase, 256+ characters or a newline are refused, as Docker
    does); docker.io/library/ is dropped, an empty tag is "latest"."""
    if not isinstance(repository, str) or not isinstance(tag, str):
        raise InvalidArgument("repository and tag must be strings")
    for prefix in ("docker.io/library/", "docker.io/"):
        if repository.startswith(prefix):
            repository = repository[len(prefix):]
            break
    reference.validate_repository(repository)
    tag = reference.validate_tag(tag or "latest")
    return repository, tag


def set_tag(img: Image, repository: str, tag: str) -> None:
    """Point repository:tag at `img` (moving it if it pointed elsewhere, as docker tag)."""
    repository, tag = validate_reference(repository, tag)
    Tag.objects.update_or_create(repository=repository, tag=tag, defaults={"image": img})


def set_digest(img: Image, repository: str, digest: str) -> None:
    """Record that `repository@digest` names `img` (it moves if it named another image)."""
    repository, _ = validate_reference(repository, "latest")
    RepoDigest.objects.update_or_create(repository=repository, digest=digest, defaults={"image": img})


def tag(ref: str, repository: str, tag_name: str) -> Image:
    img = lookup.image(ref)
    set_tag(img, repository, tag_name)
    events.emit("tag", type="image", actor_id=img.id, actor_name=f"{repository}:{tag_name or 'latest'}")
    return img


def import_tar(stream, repository: str = "", tag_name: str = "", message: str = "") -> Image:
    """A rootfs tar (plain, gzip, bzip2, xz) streamed into a new image."""
    if repository:
        validate_reference(repository, tag_name)
    built = engine().images.import_tar(stream, comment=message)
    img = register(built, repository, tag_name or "latest")
    events.emit("import", type="image", actor_id=img.id, actor_name=repository)
    return img


def commit(ref: str, repository: str = "", tag_name: str = "", author: str = "", message: str = "",
           changes: dict[str, Any] | None = None) -> Image:
    """A new image from a container's changes; its parent is the container's image."""
    c = lookup.container(ref)
    if repository:
        validate_reference(repository, tag_name)
    allowed = {"Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Labels", "ExposedPorts"}
    bad = set(changes or {}) - allowed
    if bad:
        raise InvalidArgument(f"unsupported config change(s): {', '.join(sorted(bad))}")
    argv = " ".join(c.spec.get("entrypoint") or []) + " ".join(c.spec.get("cmd") or [])
    built = engine().commit(c.id, info(c.image), author, message, changes or {}, argv.strip())
    img = register(built, repository, tag_name or "latest", parent=c.image)
    events.emit("commit", c, imageID=img.id)
    return img


def untag(ref: str) -> bool:
    """Remove repository:tag if `ref` is one; True when a tag was removed."""
    name, tag_name = lookup.split_reference(ref)
    return Tag.objects.filter(repository=name, tag=tag_name).delete()[0] > 0


def remove(ref: str, force: bool = False) -> list[dict[str, str]]:
    """docker rmi, atomically: untag `ref`; delete the image once nothing holds it.
    409 (and nothing changed) when a container or child image still needs it; with `force`
    an image used by a container is untagged and kept (dangling), as Docker does."""
    img = lookup.image(ref)
    by_tag = not ref.startswith("sha256:") and not img.id.startswith(ref)
    with transaction.atomic():
        out: list[dict[str, str]] = []
        if by_tag and untag(ref):
            out.append({"Untagged": ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"})
            if img.tag_set.exists():
                return out
        user = Container.objects.filter(image=img).first()
        if user is not None:
            if force and out:
                return out
            raise Conflict(f"conflict: unable to delete {img.id[:12]} (must be forced) - image is being "
                           f"used by container {user.id[:12]}")
        if img.children.exists():
            raise Conflict(f"conflict: unable to delete {img.id[:12]} - image has dependent child images")
        if img.tag_set.count() > 1 and not force:
            raise Conflict(f"conflict: unable to delete {img.id[:12]} (must be forced) - image is "
                           "referenced in multiple repositories")
        out += [{"Untagged": f"{t.repository}:{t.tag}"} for t in img.tag_set.all()]
        Tag.objects.filter(image=img).delete()
        image_id = img.id  # Model.delete() sets the pk to None
        in_use = {d for other in Image.objects.exclude(pk=image_id) for d in other.layers}
        img.delete()
        engine().images.remove(image_id, in_use)
    events.emit("delete", type="image", actor_id=image_id)
    out.append({"Deleted": f"sha256:{image_id}"})
    return out


def prune() -> list[str]:
    """Remove dangling images: no tag, no container, no child."""
    removed = []
    while True:
        dangling = [i for i in Image.objects.filter(tag__isnull=True, container__isnull=True,
                                                     children__isnull=True).distinct()]
        if not dangling:
            return removed
        for img in dangling:
            image_id = img.id
            remove(image_id)
            removed.append(image_id)


def save(refs: list[str], fmt: str = "docker"):
    """A `docker save` ("docker") or OCI layout ("oci") tar of the images `refs` name, as
    chunks. A reference by name carries its tag into the archive; by id, every tag."""
    if fmt not in ("docker", "oci"):
        raise InvalidArgument(f"unknown archive format {fmt!r} (docker or oci)")
    if not refs:
        raise InvalidArgument("no image given")
    items: dict[str, list[str]] = {}
    for ref in refs:
        img = lookup.image(ref)
        by_id = ref.startswith("sha256:") or img.id.startswith(ref)
        name, tag_name = lookup.split_reference(ref)
        names = img.tags() if by_id else [f"{name}:{tag_name}"]
        items.setdefault(img.id, [])
        items[img.id] += [n for n in names if n not in items[img.id]]
    return engine().images.save(list(items.items()), fmt)


def load(stream) -> list[tuple[Image, list[str]]]:
    """Every image of a `docker save` or OCI layout tar (any compression): registered and
    tagged as the archive says; [(image, its tags)]."""
    out = []
    for loaded in engine().images.load(stream):
        img = register(loaded.info)
        for ref in loaded.repo_tags:
            name, tag_name = lookup.split_reference(ref)
            set_tag(img, name, tag_name)
        events.emit("load", type="image", actor_id=img.id, actor_name=",".join(loaded.repo_tags))
        out.append((img, list(loaded.repo_tags)))
    return out
