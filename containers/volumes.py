"""Volumes service: create, list (filters), inspect, remove, prune, and a container's mounts
at create and removal. The REST API and the Docker API both call these; the files are the
engine's (`engine().volumes`, engine/fs/volumes.py), the records `Volume` and `VolumeUse`.

Who may mount what: a bind mount of a host path is root on the host (a container can write
/etc/shadow or a setuid binary through it), so only the system (the Docker socket, root's)
and staff may ask for one; any other user gets Forbidden (403) and may use volumes, which
live under the state root, named by the engine's rule. A user sees and mounts only their
own volumes (`lookup.volumes`).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC
from typing import Any

from django.db import IntegrityError, models, transaction

from containers import lookup
from containers.engine import ids
from containers.engine.errors import Conflict, Forbidden, InvalidArgument, NotFound
from containers.engine.fs import mounts
from containers.engine.spec import ContainerSpec
from containers.models import Container, Volume, VolumeUse
from containers.runtime import engine

ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # Docker 23+ marks anonymous volumes so


# ---- a container's mounts ---------------------------------------------------------------
def plan(spec: ContainerSpec, image_config: dict[str, Any], user) -> tuple[ContainerSpec, set[str]]:
    """The spec a new container is recorded with, and the names given to its anonymous
    volumes: the image's VOLUMEs not covered by a mount are added as anonymous volumes and
    every anonymous volume is named; VolumesFrom copies the mounts of containers `user`
    sees. Forbidden (403) when `user` may not bind host paths. `spec` is validated
    (`ContainerSpec.validated`); so is the spec returned."""
    mounts.check_sources(spec.mounts)
    wanted = list(spec.mounts)
    taken = {m["target"] for m in wanted}
    for ref in spec.volumes_from:  # another container's mounts, its mode or the one given
        name, _, mode = ref.partition(":")
        for m in lookup.container(name, user).spec.get("mounts") or []:
            if m["target"] not in taken:
                ro = mode == "ro" if mode else m["read_only"]
                wanted.append({**m, "read_only": ro, "origin": "volumes_from"})
                taken.add(m["target"])
    if any(m["type"] == "bind" for m in wanted) and not lookup.sees_all(user):
        raise Forbidden("bind mounts of host paths are for staff and the Docker socket only; "
                        "use a volume")
    image_volumes = (image_config or {}).get("Volumes") or {}
    if not isinstance(image_volumes, dict):
        raise InvalidArgument("the image's Volumes must be an object")
    for path in sorted(image_volumes):
        m = mounts.mount("volume", "", path, origin="image")
        if m["target"] not in taken:
            wanted.append(m)
            taken.add(m["target"])
    anonymous: set[str] = set()
    named = []
    for m in wanted:
        if m["type"] == "volume" and not m["source"]:
            m = {**m, "source": ids.new_id()}
            anonymous.add(m["source"])
        named.append(m)
    if len(named) == len(spec.mounts) and all(a is b for a, b in zip(named, spec.mounts, strict=True)):
        return spec, anonymous  # nothing added or named: `spec` as validated, not again
    return dataclasses.replace(spec, mounts=named).validated(), anonymous


def attach(c: Container, anonymous: set[str], user) -> None:
    """Record `c`'s uses of volumes, creating those it names that do not exist (Docker's
    "created on first use"), owned by `user`; `anonymous`: the names `plan` gave. Run in
    the transaction that creates `c`. Conflict (409) for a name another user holds."""
    for m in c.spec.get("mounts") or []:
        if m["type"] != "volume":
            continue
        anon = m["source"] in anonymous
        vol = _get_or_create(m["source"], user, {ANONYMOUS_LABEL: ""} if anon else {}, anon)
        VolumeUse.objects.create(container=c, volume=vol, target=m["target"])


def release(spec: dict[str, Any]) -> list[str]:
    """After a container's removal with its anonymous volumes (`docker run --rm`, `docker
    rm -v`): remove those no other container uses. Named volumes stay. Returns the names."""
    names = [m["source"] for m in spec.get("mounts") or [] if m["type"] == "volume"]
    gone = []
    for vol in Volume.objects.filter(name__in=names, anonymous=True):
        if _delete(vol):
            gone.append(vol.name)
    return gone


# ---- the volume verbs ---------------------------------------------------------------------
def create(name: str, labels: dict[str, str] | None, user, driver: str = "local") -> Volume:
    """A new volume (a random name when `name` is empty); an existing one of the same name
    that `user` sees is answered as is (Docker's create is idempotent); one held by another
    user is a Conflict."""
    if driver not in ("", "local"):  # Docker: the plugin is not found (404)
        raise NotFound(f"error looking up volume plugin {driver}: plugin \"{driver}\" not found")
    labels = labels or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in labels.items()):
        raise InvalidArgument("Labels must map strings to strings")
    if not name:  # a generated name makes it anonymous (Docker 23+): prune takes it
        labels = {**labels, ANONYMOUS_LABEL: ""}
    vol = _get_or_create(name or ids.new_id(), user, labels, not name)
    engine().volumes.create(vol.name)
    return vol


def _get_or_create(name: str, user, labels: dict[str, str], anonymous: bool) -> Volume:
    mounts.volume_name(name)
    found = lookup.volumes(user).filter(name=name).first()
    if found is None:
        try:
            with transaction.atomic():
                found = Volume.objects.create(name=name, labels=labels, anonymous=anonymous,
                                              owner=lookup.owner_of(user))
        except IntegrityError:
            found = lookup.volumes(user).filter(name=name).first()
            if found is None:
                raise Conflict(f"volume name {name} is in use") from None
    return found  # its directory is made by create, or at the first start that mounts it


def listing(user, filters: dict[str, list[str]] | None = None) -> list[Volume]:
    """The volumes `user` sees, filtered as Docker's: dangling (true: no container uses
    it), name (substring), label (key or key=value), driver."""
    qs = lookup.volumes(user).annotate(n_uses=models.Count("uses")).order_by("name")
    out = []
    for v in qs:
        if _matches(v, filters or {}):
            out.append(v)
    return out


def _matches(v: Volume, filters: dict[str, list[str]]) -> bool:
    def label(want: str) -> bool:
        key, sep, value = want.partition("=")
        return key in v.labels and (not sep or v.labels[key] == value)

    checks = {
        "dangling": lambda want: (v.n_uses == 0) == (want.lower() in ("true", "1")),
        "name": lambda want: want in v.name,
        "label": label,
        "driver": lambda want: want == v.driver,
    }
    unknown = set(filters) - set(checks)
    if unknown:
        raise InvalidArgument(f"invalid filter '{sorted(unknown)[0]}'")
    # label filters must all hold; the others: any of the values
    return all((all if key == "label" else any)(checks[key](w) for w in wants)
               for key, wants in filters.items())


def remove(name: str, user, force: bool = False) -> None:
    """Remove a volume `user` sees: Conflict (409) while a container uses it (force only
    forgives a missing volume, as Docker)."""
    try:
        vol = lookup.volume(name, user)
    except NotFound:
        if force:
            return
        raise
    if not _delete(vol):
        users = list(vol.uses.values_list("container_id", flat=True))
        raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")


def _delete(vol: Volume) -> bool:
    """Delete record and files unless a container uses it (the PROTECT foreign key decides,
    in the database, also against a create racing us)."""
    try:
        with transaction.atomic():
            if vol.uses.exists():
                return False
            Volume.objects.filter(pk=vol.pk).delete()
    except (models.ProtectedError, IntegrityError):
        return False
    engine().volumes.remove(vol.name)
    return True


def prune(user, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Remove the unused volumes `user` sees: anonymous ones only unless the filter all=true
    (Docker 23+); label filters apply. {"VolumesDeleted": names, "SpaceReclaimed": bytes}."""
    filters = dict(filters or {})
    everything = any(w.lower() in ("true", "1") for w in filters.pop("all", []))
    deleted, space = [], 0
    for v in listing(user, {**filters, "dangling": ["true"]}):
        if not everything and not v.anonymous:
            continue
        size = engine().volumes.size(v.name)
        if _delete(v):
            deleted.append(v.name)
            space += size
    return {"VolumesDeleted": deleted, "SpaceReclaimed": space}


def describe(v: Volume) -> dict[str, Any]:
    """Docker's volume document."""
    return {"Name": v.name, "Driver": v.driver, "Mountpoint": engine().volumes.data(v.name),
            "CreatedAt": v.created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "Labels": v.labels or {}, "Scope": "local", "Options": None}
