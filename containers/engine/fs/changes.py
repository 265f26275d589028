"""What a container changed: its overlay upper dir against the image's layers (docker diff).

Contract of `changes(upper, lowers)`: a list of Change(path, kind), sorted by path, with
kinds as Docker's API: 0 changed (C), 1 added (A), 2 deleted (D). `lowers` are the image's
layer directories, top-most first, in overlay form (whiteouts, opaque directories).
- an overlay whiteout (char device 0:0) in the upper dir is D;
- any other upper entry is C when the image showed something at that path, else A; so
  every directory in the upper dir, which overlay copies up as the parent of whatever
  changed below it, is reported (C, or A when new), as Docker reports parents;
- what the image showed is computed as overlay does: a whiteout or a non-directory in a
  layer hides the layers beneath, an opaque directory hides the layers beneath it;
- an opaque upper directory (removed and made again) hides the image's content: every
  name the image had there and the upper dir does not is D; below it, entries are still
  C or A against what the image had at their path.
Never follows a symlink: the upper dir (which a running container may change while we
read it) is walked by file descriptor with O_NOFOLLOW; lower layers are only lstat'ed
through directories already seen to be real directories.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterable
from typing import NamedTuple

CHANGED, ADDED, DELETED = 0, 1, 2
LETTER = {CHANGED: "C", ADDED: "A", DELETED: "D"}
OPAQUE_XATTR = "trusted.overlay.opaque"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
DIR, WHITEOUT, OTHER = 0, 1, 2  # what a lower layer has at a name
LIST_ABOVE = 16  # upper entries in a directory above which lower directories are listed


class Change(NamedTuple):
    path: str  # absolute inside the container, e.g. "/etc/passwd"
    kind: int  # CHANGED, ADDED or DELETED

    @property
    def letter(self) -> str:
        return LETTER[self.kind]


def changes(upper: str, lowers: list[str]) -> list[Change]:
    """Changes of `upper` over `lowers` (top-most first), sorted by path."""
    try:
        root_fd = os.open(upper, _DIR & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        return []
    out: list[Change] = []
    before = [d for d in lowers if os.path.isdir(d)]
    stack: list[tuple[int, str, list[str], bool]] = [(root_fd, "", before, False)]
    try:
        while stack:
            fd, rel, before, hidden = stack.pop()
            try:
                _scan(fd, rel, before, hidden, out, stack)
            finally:
                os.close(fd)
    finally:
        for fd, *_ in stack:
            os.close(fd)
    out.sort()
    return out


def without(found: list[Change], paths: Iterable[str]) -> list[Change]:
    """`found` less the changes at `paths` (absolute: mount points of files bind-mounted at
    run time, which Docker keeps out of diff), and less a directory reported changed only
    because one of them was made in it (no other change at or below it)."""
    hidden = set(paths)
    kept = [c for c in found if c.path not in hidden]
    parents = {posixpath.dirname(p) for p in hidden}
    below = {posixpath.dirname(c.path) for c in kept}
    return [c for c in kept if not (c.path in parents and c.kind == CHANGED and c.path not in below)]


def _scan(fd: int, rel: str, before: list[str], hidden: bool, out: list[Change],
          stack: list[tuple[int, str, list[str], bool]]) -> None:
    """Report the entries of upper directory `fd` (path `rel`); queue its subdirectories.
    `before`: the lower directories visible at `rel` in the image; `hidden`: the upper
    directory hides them (it or an ancestor is opaque)."""
    seen: set[str] = set()
    with os.scandir(fd) as it:
        entries = list(it)
    # many entries: one listing of each lower directory beats an lstat per entry and layer
    listings = [_listing(d) for d in before] if len(entries) > LIST_ABOVE else None
    for e in entries:
        name = e.name
        path = f"{rel}/{name}"
        seen.add(name)
        if not (e.is_dir(follow_symlinks=False) or e.is_file(follow_symlinks=False)
                or e.is_symlink()):
            st = e.stat(follow_symlinks=False)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(Change(path, DELETED))
                continue
        present, below = _lookup(before, name, listings)
        out.append(Change(path, CHANGED if present else ADDED))
        if e.is_dir(follow_symlinks=False):
            try:
                cfd = os.open(name, _DIR, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    continue  # swapped while we looked
                raise
            stack.append((cfd, path, below, hidden or opaque(cfd)))
    if hidden:
        out.extend(Change(f"{rel}/{name}", DELETED) for name in sorted(_names(before) - seen))


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def opaque(target: int | str) -> bool:
    """Whether directory `target` (a path, not followed, or an fd) is an overlay opaque
    directory: it hides what the layers beneath hold at its path."""
    try:
        if isinstance(target, int):
            return os.getxattr(target, OPAQUE_XATTR) == b"y"
        return os.getxattr(target, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _listing(lower: str) -> dict[str, int]:
    """name -> DIR, WHITEOUT or OTHER for the entries of a lower directory."""
    out: dict[str, int] = {}
    with os.scandir(lower) as it:
        for e in it:
            if e.is_dir(follow_symlinks=False):
                out[e.name] = DIR
            elif e.is_file(follow_symlinks=False) or e.is_symlink():
                out[e.name] = OTHER
            else:
                out[e.name] = WHITEOUT if _is_whiteout(e.stat(follow_symlinks=False)) else OTHER
    return out


def _kind(lower: str, name: str) -> int | None:
    try:
        st = os.lstat(f"{lower}/{name}")
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISDIR(st.st_mode):
        return DIR
    return WHITEOUT if _is_whiteout(st) else OTHER


def _lookup(before: list[str], name: str,
            listings: list[dict[str, int]] | None) -> tuple[bool, list[str]]:
    """(the image shows `name` in this directory, its lower directories if a directory)."""
    present = False
    dirs: list[str] = []
    for i, lower in enumerate(before):
        kind = listings[i].get(name) if listings is not None else _kind(lower, name)
        if kind is None:
            continue
        if kind == DIR:
            present = True
            p = f"{lower}/{name}"
            dirs.append(p)
            if opaque(p):
                break
            continue
        if not present and kind == OTHER:
            present = True
        break  # a whiteout or a non-directory hides the layers beneath
    return present, dirs


def _names(before: list[str]) -> set[str]:
    """Names the image shows in a directory whose lower directories are `before`."""
    decided: dict[str, int] = {}
    for lower in before:
        for name, kind in _listing(lower).items():
            decided.setdefault(name, kind)
    return {n for n, kind in decided.items() if kind != WHITEOUT}
