"""Resolve paths inside a container root without ever leaving it (like Go's securejoin).

Symlinks are followed component by component and interpreted relative to the root, so a
link the container planted (`/etc/passwd -> /../../host`) can never reach the host.
"""

from __future__ import annotations

import os
import stat

from .errors import InvalidArgument

MAX_LINKS = 255


def secure_join(root: str, path: str) -> str:
    """Host path for `path` inside `root`; the result is always under `root`.

    The last component need not exist. Raises InvalidArgument on symlink loops.
    """
    root = os.path.abspath(root)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise InvalidArgument(f"too many levels of symbolic links in {path!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def read_text(root: str, path: str) -> str | None:
    """Contents of a regular file inside `root`, or None when absent or not a file."""
    host = secure_join(root, path)
    try:
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "r", errors="replace") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(1 << 20)
