"""What a container changed: its overlay upper dir against the image's layers (docker diff).

Kinds as Docker's API: 0 changed (C), 1 added (A), 2 deleted (D). An overlay whiteout (char
device 0:0) is D; an entry present in a lower layer is C, else A. Directories in the upper
dir are reported C when they exist below (they are there because something inside changed),
as Docker does. Entries below an opaque directory are A unless a lower layer has them. Never
follows a symlink.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

CHANGED, ADDED, DELETED = 0, 1, 2
LETTER = {CHANGED: "C", ADDED: "A", DELETED: "D"}


@dataclass(frozen=True)
class Change:
    path: str  # absolute inside the container, e.g. "/etc/passwd"
    kind: int


def _in_lower(lowers: list[str], rel: str) -> bool:
    for lower in lowers:
        try:
            os.lstat(os.path.join(lower, rel))
            return True
        except OSError:
            continue
    return False


def changes(upper: str, lowers: list[str]) -> list[Change]:
    """Changes of `upper` over `lowers` (top-most first), sorted by path."""
    out: list[Change] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            it = os.scandir(os.path.join(upper, rel_dir))
        except OSError:
            continue
        with it:
            for e in it:
                rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
                st = e.stat(follow_symlinks=False)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    out.append(Change("/" + rel, DELETED))
                    continue
                kind = CHANGED if _in_lower(lowers, rel) else ADDED
                out.append(Change("/" + rel, kind))
                if stat.S_ISDIR(st.st_mode):
                    stack.append(rel)
    out.sort(key=lambda c: c.path)
    return out
