"""Image records and operations: register what the engine's image store built, tag, untag,
import, commit, history, remove, prune. Allocation of tags is guarded by the unique
(repository, tag) constraint.

Every operation acts for `user` (None: the system) and sees what lookup.py lets them see.
Tags and images record who made them; a user may move or remove only their own tags
(another user's are 404, the system's shared ones 403), and tag names stay global."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from containers import events, hosts, lookup
from containers.engine.errors import Conflict, EngineError, Forbidden, InvalidArgument
from containers.engine.image import reference
from containers.engine.image.store import ImageInfo
from containers.models import Container, Image, RepoDigest, Tag
from containers.runtime import engine


def register(info: ImageInfo, repository: str = "", tag: str = "latest",
             parent: Image | None = None, *, user) -> Image:
    """The record of an image the store holds (built here, pulled or loaded), tagged
    repository:tag when given. Author, comment and created come from its config; a record
    already here (with its parent) is kept as it is."""
    doc = engine().images.config_doc(info.id)
    with transaction.atomic():
        img, _ = Image.objects.get_or_create(
            pk=info.id, defaults={"layers": info.layers, "config": info.config, "size": info.size,
                                  "parent": parent, "author": doc.get("author") or "",
                                  "comment": doc.get("comment") or "", "created": created_at(info.created),
                                  "owner": lookup.owner_of(user)})
        if repository:
            set_tag(img, repository, tag, user=user)
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
    if existing and engine().images.has(existing.image_id):
        return existing.image
    # not recorded, or recorded by another host sharing the database (issue 16) and not in
    # this host's store: built here (the build is reproducible: the same binary, the same id)
    return register(engine().images.build_busybox(), "busybox", "latest", user=None)


def info(img: Image) -> ImageInfo:
    return ImageInfo(id=img.id, layers=list(img.layers), config=dict(img.config),
                     created=img.created.isoformat(), size=img.size)


def validate_reference(repository: str, tag: str) -> tuple[str, str]:
    """(repository, tag) as stored, or InvalidArgument: Docker's grammar matched in full
    (engine/image/reference.py; uppercase, 256+ characters or a newline are refused, as Docker
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


def set_tag(img: Image, repository: str, tag: str, *, user) -> None:
    """Point repository:tag at `img` (moving it if it pointed elsewhere, as docker tag).
    A new tag is `user`'s. Another user's tag is 409 "in use" (saying nothing of whose);
    a shared (system) tag is left alone when it already names `img`, else 403."""
    repository, tag = validate_reference(repository, tag)
    existing = Tag.objects.filter(repository=repository, tag=tag).first()
    if existing is not None:
        if not lookup.sees_tag(user, existing):
            raise Conflict(f"image name {repository}:{tag} is in use")
        if existing.image_id == img.id:
            return
        lookup.may_change_tag(user, existing)
    Tag.objects.update_or_create(repository=repository, tag=tag, defaults={
        "image": img, "owner": existing.owner if existing else lookup.owner_of(user)})


def set_digest(img: Image, repository: str, digest: str) -> None:
    """Record that `repository@digest` names `img` (it moves if it named another image)."""
    repository, _ = validate_reference(repository, "latest")
    RepoDigest.objects.update_or_create(repository=repository, digest=digest, defaults={"image": img})


def tag(ref: str, repository: str, tag_name: str, *, user) -> Image:
    img = lookup.image(ref, user)
    set_tag(img, repository, tag_name, user=user)
    events.emit("tag", type="image", actor_id=img.id, actor_name=f"{repository}:{tag_name or 'latest'}",
                owner_id=_uid(user))
    return img


def import_tar(stream, repository: str = "", tag_name: str = "", message: str = "", *, user,
               changes: list[str] | None = None) -> Image:
    """A rootfs tar (plain, gzip, bzip2, xz) streamed into a new image; `changes` are
    Dockerfile instructions for its config (`docker import -c`; a bad one is InvalidArgument
    before the body is read)."""
    if repository:
        validate_reference(repository, tag_name)
    built = engine().images.import_tar(stream, comment=message, changes=changes)
    img = register(built, repository, tag_name or "latest", user=user)
    events.emit("import", type="image", actor_id=img.id, actor_name=repository, owner_id=_uid(user))
    return img


def commit(ref: str, repository: str = "", tag_name: str = "", author: str = "", message: str = "",
           changes: dict[str, Any] | None = None, *, user) -> Image:
    """A new image from a container's changes; its parent is the container's image."""
    c = hosts.here(lookup.container(ref, user))
    if repository:
        validate_reference(repository, tag_name)
    allowed = {"Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes",
               "StopSignal"}
    bad = set(changes or {}) - allowed
    if bad:
        raise InvalidArgument(f"unsupported config change(s): {', '.join(sorted(bad))}")
    argv = " ".join(c.spec.get("entrypoint") or []) + " ".join(c.spec.get("cmd") or [])
    built = engine().commit(c.id, info(c.image), author, message, changes or {}, argv.strip())
    img = register(built, repository, tag_name or "latest", parent=c.image, user=user)
    events.emit("commit", c, imageID=img.id)
    return img


def untag(ref: str, user) -> bool:
    """Remove repository:tag if `ref` is one `user` sees and may change; True when a tag
    was removed."""
    t = lookup.tag(ref, user)
    if t is None:
        return False
    lookup.may_change_tag(user, t)
    return Tag.objects.filter(pk=t.pk).delete()[0] > 0


def remove(ref: str, force: bool = False, *, user, prune_parents: bool = True) -> list[dict[str, str]]:
    """docker rmi, atomically: untag `ref`; delete the image once nothing holds it.
    409 (and nothing changed) when a container or child image still needs it; with `force`
    an image used by a container is untagged and kept (dangling), as Docker does. Removing
    an image (not just a tag of it) needs every tag of it to be the user's. Then, unless
    `prune_parents` is false (Docker's noprune), its untagged parents that nothing else
    holds go too (a build's intermediate images), as Docker does."""
    out = _remove(ref, force, user=user)
    if prune_parents and out and "Deleted" in out[-1]:
        out += _prune_parents(out[-1].pop("parent", None), user)
    elif out:
        out[-1].pop("parent", None)
    return out


def _prune_parents(parent_id: str | None, user) -> list[dict[str, str]]:
    """Delete `parent_id` and its own parents while each is untagged, unused by any
    container or other child, and the user's own (docker rmi's parent pruning)."""
    out: list[dict[str, str]] = []
    while parent_id:
        img = Image.objects.filter(pk=parent_id).first()
        if img is None or img.tag_set.exists() or img.children.exists() or \
                Container.objects.filter(image=img).exists():
            break
        if not lookup.sees_all(user) and img.owner_id != user.pk:
            break
        try:
            step = _remove(img.id, False, user=user)
        except EngineError:
            break
        parent_id = step[-1].pop("parent", None) if step else None
        out += step
    return out


def _remove(ref: str, force: bool, *, user) -> list[dict[str, str]]:
    img = lookup.image(ref, user)
    by_tag = not ref.startswith("sha256:") and not img.id.startswith(ref)
    with transaction.atomic():
        out: list[dict[str, str]] = []
        if by_tag and untag(ref, user):
            out.append({"Untagged": ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"})
            if img.tag_set.exists():
                return out
        holder = Container.objects.filter(image=img).first()
        if holder is not None:
            if force and out:
                return out
            shown = f" {holder.id[:12]}" if lookup.containers(user).filter(pk=holder.pk).exists() else ""
            raise Conflict(f"conflict: unable to delete {img.id[:12]} (must be forced) - image is being "
                           f"used by container{shown}")
        if img.children.exists():
            raise Conflict(f"conflict: unable to delete {img.id[:12]} - image has dependent child images")
        if img.tag_set.count() > 1 and not force:
            raise Conflict(f"conflict: unable to delete {img.id[:12]} (must be forced) - image is "
                           "referenced in multiple repositories")
        for t in img.tag_set.all():
            if not lookup.tags(user).filter(pk=t.pk).exists():
                _in_use(t)
            lookup.may_change_tag(user, t)
        if not lookup.sees_all(user) and img.owner_id != user.pk and not img.tag_set.exists():
            raise Forbidden(f"image {img.id[:12]} is shared by the system; only staff can remove it")
        out += [{"Untagged": f"{t.repository}:{t.tag}"} for t in img.tag_set.all()]
        Tag.objects.filter(image=img).delete()
        image_id, parent_id = img.id, img.parent_id  # Model.delete() sets the pk to None
        in_use = {d for other in Image.objects.exclude(pk=image_id) for d in other.layers}
        img.delete()
        engine().images.remove(image_id, in_use)
    events.emit("delete", type="image", actor_id=image_id, owner_id=_uid(user))
    out.append({"Deleted": f"sha256:{image_id}", "parent": parent_id or ""})
    return out


def prune(*, user) -> list[str]:
    """Remove dangling images: no tag, no container, no child (a user's own only)."""
    removed = []
    mine = Image.objects.all() if lookup.sees_all(user) else Image.objects.filter(owner=user)
    while True:
        dangling = [i for i in mine.filter(tag__isnull=True, container__isnull=True,
                                           children__isnull=True).distinct()]
        if not dangling:
            return removed
        for img in dangling:
            image_id = img.id
            remove(image_id, user=user, prune_parents=False)
            removed.append(image_id)


def save(refs: list[str], fmt: str = "docker", *, user):
    """A `docker save` ("docker") or OCI layout ("oci") tar of the images `refs` name, as
    chunks. A reference by name carries its tag into the archive; by id, every tag."""
    if fmt not in ("docker", "oci"):
        raise InvalidArgument(f"unknown archive format {fmt!r} (docker or oci)")
    if not refs:
        raise InvalidArgument("no image given")
    items: dict[str, list[str]] = {}
    for ref in refs:
        img = lookup.image(ref, user)
        by_id = ref.startswith("sha256:") or img.id.startswith(ref)
        name, tag_name = lookup.split_reference(ref)
        names = [f"{t.repository}:{t.tag}" for t in lookup.tags(user).filter(image=img)] if by_id \
            else [f"{name}:{tag_name}"]
        items.setdefault(img.id, [])
        items[img.id] += [n for n in names if n not in items[img.id]]
    return engine().images.save(list(items.items()), fmt)


def load(stream, *, user) -> list[tuple[Image, list[str]]]:
    """Every image of a `docker save` or OCI layout tar (any compression): registered and
    tagged as the archive says; [(image, its tags)]."""
    out = []
    for loaded in engine().images.load(stream):
        img = register(loaded.info, user=user)
        for ref in loaded.repo_tags:
            name, tag_name = lookup.split_reference(ref)
            set_tag(img, name, tag_name, user=user)
        events.emit("load", type="image", actor_id=img.id, actor_name=",".join(loaded.repo_tags),
                    owner_id=_uid(user))
        out.append((img, list(loaded.repo_tags)))
    return out


def _uid(user) -> int | None:
    return None if user is None else user.pk


def _in_use(t: Tag) -> None:
    """Another user's tag on the image: it cannot go (409, naming nothing of theirs)."""
    raise Conflict(f"conflict: unable to delete {t.image_id[:12]} - image is referenced by other users")
