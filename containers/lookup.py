"""Find containers, images, execs, networks and events the way Docker clients name them,
as seen by one user: the one place where ownership decides what exists.

`user` is who acts: a Django user, or None for the system (the worker, `manage.py`, the
Docker API's unix socket, which is root's like docker.sock). The system and staff see
everything; any other user sees the containers, execs and events they own, and the
images, tags and networks they own or the system made (busybox:latest, the default
network). What a user cannot see does not exist for them: NotFound (404), never 403.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from containers.engine import ids
from containers.engine.errors import Ambiguous, Forbidden, NotFound
from containers.models import Container, Event, Image, Network, RepoDigest, Tag, Volume
from containers.prepared import Prepared


def sees_all(user) -> bool:
    """The system (None) and staff see and act on everything."""
    return user is None or bool(getattr(user, "is_staff", False))


def owner_of(user):
    """The owner to record on what `user` makes: the user, or None for the system."""
    return None if user is None else user


def containers(user) -> QuerySet[Container]:
    qs = Container.objects.all()
    return qs if sees_all(user) else qs.filter(owner=user)


def tags(user) -> QuerySet[Tag]:
    qs = Tag.objects.all()
    return qs if sees_all(user) else qs.filter(Q(owner=user) | Q(owner__isnull=True))


def images(user) -> QuerySet[Image]:
    """Images the user made, the system made, or holds a tag of."""
    qs = Image.objects.all()
    if sees_all(user):
        return qs
    return qs.filter(Q(owner=user) | Q(owner__isnull=True) | Q(tag__owner=user)).distinct()


def networks(user) -> QuerySet[Network]:
    qs = Network.objects.all()
    return qs if sees_all(user) else qs.filter(Q(owner=user) | Q(owner__isnull=True))


def volumes(user) -> QuerySet[Volume]:
    """A user's own volumes (data: never shared, not even the system's); all for staff."""
    qs = Volume.objects.all()
    return qs if sees_all(user) else qs.filter(owner=user)


def volume(name: str, user) -> Volume:
    found = volumes(user).filter(name=name).first()
    if found is None:
        raise NotFound(f"get {name}: no such volume")
    return found


def events(user) -> QuerySet[Event]:
    qs = Event.objects.all()
    return qs if sees_all(user) else qs.filter(owner=user)


def sees_tag(user, t: Tag) -> bool:
    """`tags(user)` for one tag already loaded (lists of an image's tags)."""
    return sees_all(user) or t.owner_id is None or t.owner_id == user.pk


def may_change_tag(user, t: Tag) -> None:
    """Moving, untagging or removing a visible tag: its owner or staff; a tag the system
    made is shared and read-only to users (Forbidden, 403)."""
    if sees_all(user) or t.owner_id == user.pk:
        return
    raise Forbidden(f"{t.repository}:{t.tag} is shared by the system; only staff can change it")


def container(ref: str, user) -> Container:
    """By full id, exact name, or unique id prefix. NotFound (404) / Ambiguous (400)."""
    ref = ref.lstrip("/")
    qs = containers(user)
    by_id = _one("pk", ref, user) if ids.ID_RE.match(ref) else None  # ids are 64 hex
    found = by_id or _one("name", ref, user)
    if found:
        return found
    if ids.is_hex_prefix(ref):
        matches = list(qs.filter(pk__startswith=ref)[:2])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Ambiguous(f"multiple containers match prefix {ref!r}")
    raise NotFound(f"No such container: {ref}")


def _by(column: str, owned: bool) -> Prepared[Container]:
    if owned:
        return Prepared(Container, lambda owner, value: Container.objects.filter(
            owner=owner, **{column: value}).order_by()[:1])
    return Prepared(Container, lambda value: Container.objects.filter(**{column: value}).order_by()[:1])


# a container by a unique column (pk, name), of one owner or anyone's: compiled once
# (containers/prepared) and without first()'s ORDER BY (the model's -created)
_BY = {(column, owned): _by(column, owned) for column in ("pk", "name") for owned in (False, True)}


def by_id(cid: str) -> Container | None:
    """The record of container `cid` as the system sees it, or None (a wait's look)."""
    rows = _BY["pk", False](cid)
    return rows[0] if rows else None


def _one(column: str, value: str, user) -> Container | None:
    """`containers(user).filter(<column>=value).first()` for a unique column."""
    if sees_all(user):
        rows = _BY[column, False](value)
    elif getattr(user, "pk", None) is not None:
        rows = _BY[column, True](user.pk, value)
    else:  # not a stored user: the queryset as containers() makes it
        rows = list(containers(user).filter(**{column: value}).order_by()[:1])
    return rows[0] if rows else None


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


def image(ref: str, user) -> Image:
    """By repo[:tag], repo@sha256:digest, full id (with or without sha256:), or unique id
    prefix. The visible images' queryset (`images`) is built only where it is read: not
    for a tag, the common case (building its filter costs more than the prepared tag read)."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        name = split_reference(name)[0]  # a tag beside the digest says nothing more
        d = RepoDigest.objects.filter(repository=name, digest=digest).first()
        found = images(user).filter(pk=d.image_id).first() if d else None
        if found is None:
            raise NotFound(f"No such image: {ref}")
        return found
    bare = ref[7:] if ref.startswith("sha256:") else ref
    found = images(user).filter(pk=bare).first() if ids.ID_RE.match(bare) else None  # ids: 64 hex
    if found:
        return found
    t = tag(ref, user)
    if t:
        return t.image
    if ids.is_hex_prefix(bare) and len(bare) >= 4:
        matches = list(images(user).filter(pk__startswith=bare)[:2])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Ambiguous(f"multiple images match prefix {ref!r}")
    raise NotFound(f"No such image: {ref}")


def tag(ref: str, user) -> Tag | None:
    """The tag `ref` (repo[:tag]) names, if this user sees it."""
    name, tag_name = split_reference(ref)
    if sees_all(user):
        rows = _TAG(name, tag_name)
    elif getattr(user, "pk", None) is not None:
        rows = _OWN_TAG(user.pk, name, tag_name)
    else:  # not a stored user: the queryset as tags() makes it
        rows = list(tags(user).select_related("image").filter(repository=name, tag=tag_name)[:1])
    return rows[0] if rows else None


# the tag of a repository:tag (unique) with its image, anyone's or one user's and the
# system's (tags()): compiled once (containers/prepared)
_TAG = Prepared(Tag, lambda name, tag: Tag.objects.select_related("image").filter(
    repository=name, tag=tag).order_by()[:1])
_OWN_TAG = Prepared(Tag, lambda owner, name, tag: Tag.objects.select_related("image").filter(
    Q(owner=owner) | Q(owner__isnull=True), repository=name, tag=tag).order_by()[:1])


def exec_container(eid: str, user) -> str:
    """The id of the container of exec `eid`, if this user sees the exec (an exec is its
    maker's, in a container they see); NotFound otherwise."""
    from containers import execs

    cid = execs.execs().locate(eid)
    if not containers(user).filter(pk=cid).exists():
        raise NotFound(f"No such exec instance: {eid}")
    if not sees_all(user) and execs.execs().owner(cid, eid) != user.pk:
        raise NotFound(f"No such exec instance: {eid}")
    return cid


def network(ref: str, user) -> Network:
    """By exact name, full id, or unique id prefix (as Docker: names first); a name names
    this host's network first (issue 16: each host has its own default "bridge").
    NotFound (404) / Ambiguous (400)."""
    from containers.runtime import host_name

    qs = networks(user)
    named = qs.filter(name=ref)
    found = named.filter(host=host_name()).first() or named.first() or qs.filter(nid=ref).first()
    if found:
        return found
    if ids.is_hex_prefix(ref):
        matches = list(qs.filter(nid__startswith=ref)[:2])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Ambiguous(f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)")
    raise NotFound(f"network {ref} not found")
