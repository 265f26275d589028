"""Resolve a Docker-style user spec against the container's /etc/passwd and /etc/group."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgument
from ..fs.inroot import read_text


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    home: str


def _table(root: str, path: str) -> list[list[str]]:
    text = read_text(root, path) or ""
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve(root: str, user: str) -> ResolvedUser:
    """Resolve "", "name", "uid", "name:group", "uid:gid" (as Docker does).

    A numeric uid absent from passwd is allowed (gid 0, home /); an unknown name is an
    InvalidArgument with Docker's wording.
    """
    name, _, group = (user or "root").partition(":")
    passwd = _table(root, "/etc/passwd")
    entry = next((e for e in passwd if len(e) >= 7 and (e[0] == name or e[2] == name)), None)
    if entry is not None:
        uid, gid, home = int(entry[2]), int(entry[3]), entry[5] or "/"
    elif name.isdigit():
        uid, gid, home = int(name), 0, "/"
    elif name == "root":
        uid, gid, home = 0, 0, "/root"
    else:
        raise InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
    if group:
        groups = _table(root, "/etc/group")
        gentry = next((g for g in groups if len(g) >= 3 and (g[0] == group or g[2] == group)), None)
        if gentry is not None:
            gid = int(gentry[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise InvalidArgument(
                f"unable to find group {group}: no matching entries in group file"
            )
    return ResolvedUser(uid=uid, gid=gid, home=home)
