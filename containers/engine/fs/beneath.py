"""Directory walks by file descriptor that can never leave a root (openat + O_NOFOLLOW).

Every component is opened relative to its parent with O_NOFOLLOW, so a symlink planted in
the tree, even one swapped in while we work, is refused instead of followed: the tree being
read or written is never escaped, whatever it contains.
"""

from __future__ import annotations

import errno
import os

from ..errors import InvalidArgument, shown

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_root(path: str) -> int:
    """An fd on directory `path` (the root itself may be reached through symlinks)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_dir(root_fd: int, parts: list[str], create: bool = False, mode: int = 0o755) -> int:
    """An fd on the directory `parts` below `root_fd` (a new fd; the caller closes it).

    Missing directories are made when `create`; a component that is a symlink or not a
    directory raises InvalidArgument; a missing one (without `create`) FileNotFoundError."""
    fd = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            try:
                nfd = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = "/".join(parts[: i + 1])
                    raise InvalidArgument(f"{shown(where)} is a symlink or not a directory") from None
                raise
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_file(root_fd: int, rel: str) -> int:
    """A read-only fd on regular file `rel` below `root_fd`, never through a symlink."""
    parts = rel.split("/")
    dfd = open_dir(root_fd, parts[:-1])
    try:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise InvalidArgument(f"{shown(rel)} is a symlink") from None
            raise
    finally:
        os.close(dfd)
    if not _is_reg(fd):
        os.close(fd)
        raise InvalidArgument(f"{shown(rel)} is not a regular file")
    return fd


def _is_reg(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)
