"""Resolve paths inside a container root without ever leaving it (like Go's securejoin).

Symlinks are followed component by component and interpreted relative to the root, so a
link the container planted (`/etc/passwd -> /../../host`) can never reach the host.
"""

from __future__ import annotations

import os
import stat

from .errors import InvalidArgument, shown

MAX_LINKS = 255
PATH_MAX = 4096  # bytes, Linux's PATH_MAX (with the NUL; we allow 4095 and count UTF-8 bytes)
COMPONENT_MAX = 255  # bytes, Linux's NAME_MAX for one path component


def check_path(path: str, what: str = "path") -> str:
    """Return `path` or raise InvalidArgument when the kernel would refuse it: NUL, more than
    PATH_MAX - 1 bytes, or a component longer than COMPONENT_MAX bytes (ENAMETOOLONG)."""
    if not isinstance(path, str):
        raise InvalidArgument(f"{what} must be a string")
    if "\x00" in path:
        raise InvalidArgument(f"{what} must not contain NUL")
    raw = path.encode("utf-8", "surrogateescape")
    if len(raw) >= PATH_MAX:
        raise InvalidArgument(f"{what} is too long ({len(raw)} bytes, at most {PATH_MAX - 1}): {shown(path)}")
    if any(len(part) > COMPONENT_MAX for part in raw.split(b"/")):
        raise InvalidArgument(
            f"{what} has a component longer than {COMPONENT_MAX} bytes: {shown(path)}")
    return path


def secure_join(root: str, path: str) -> str:
    """Host path for `path` inside `root`; the result is always under `root`.

    The last component need not exist. Raises InvalidArgument on symlink loops and on paths
    the kernel would refuse (`check_path`); a component under a non-directory resolves to a
    path that does not exist.
    """
    check_path(path)
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
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(part)
            continue
        except OSError as err:  # ENAMETOOLONG once symlinks made it longer, EACCES, ...
            raise InvalidArgument(f"cannot resolve {shown(path)} in the container: {err.strerror}") from None
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
