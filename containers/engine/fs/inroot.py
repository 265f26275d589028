"""Paths as a container sees them, resolved by the kernel inside its root, with no window.

Every lookup is one openat2(2) call with RESOLVE_IN_ROOT on an fd of the root: the kernel
treats that fd as "/" for every component, every symlink target and every "..", so a path
never leaves the root, even while the running container renames things under us (a
concurrent rename makes the kernel fail with EAGAIN instead of resolving wrongly; we retry a
bounded number of times). RESOLVE_NO_MAGICLINKS refuses /proc/<pid>/fd-style links.

Contract: the functions here hand out fds, and callers work through those fds only
(openat, mkdirat, fstat, getdents ... relative to them), never through a path string that
the kernel would resolve again later (the CVE-2018-15664 class: a directory swapped with a
symlink between the check and the use). Paths are first cleaned lexically ("a/../b" is
"b", as Docker's filepath.Clean does); symlinks met while resolving are followed the way
the container would follow them, inside its root.

(beneath.py is the other half: trees we write, such as layers, where no symlink is ever
followed at all.)
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
import stat

from ..errors import InvalidArgument, shown

SYS_OPENAT2 = 437  # x86_64 and every architecture on the unified syscall table
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
RETRIES = 64  # EAGAIN: a rename raced the lookup
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY
MAX_TEXT = 1 << 20


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


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_OpenHow), ctypes.c_size_t]


def openat2(dir_fd: int, path: str, flags: int, mode: int = 0, resolve: int = IN_ROOT) -> int:
    """openat2(2): a new fd (O_CLOEXEC always); OSError as os.open raises it."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path)
    err = errno.EAGAIN
    for _ in range(RETRIES):
        fd = _syscall(SYS_OPENAT2, dir_fd, raw, ctypes.byref(how), ctypes.sizeof(how))
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):
            break
    raise OSError(err, os.strerror(err), path)


def clean(path: str) -> str:
    """`path` cleaned lexically, relative to the root ("." for the root itself); checked
    first (`check_path`: InvalidArgument for what the kernel would refuse)."""
    check_path(path)
    rel = posixpath.normpath("/" + path).lstrip("/")
    return rel or "."


def split(path: str) -> tuple[str, str]:
    """(parent, last name) of a cleaned `path`; ("." , ".") for the root."""
    rel = clean(path)
    if rel == ".":
        return ".", "."
    parent, name = posixpath.split(rel)
    return parent or ".", name


def open_root(root: str) -> int:
    """An O_PATH fd on directory `root` (a path of ours: the mount point, a tmp dir)."""
    return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def open_path(root_fd: int, path: str) -> int:
    """An O_PATH fd on what `path` names inside the root (every symlink followed in it)."""
    return openat2(root_fd, clean(path), os.O_PATH)


def open_dir(root_fd: int, path: str) -> int:
    """A read-only fd on directory `path` inside the root (NotADirectoryError if it is not)."""
    return openat2(root_fd, clean(path), DIR_FLAGS)


def open_parent(root_fd: int, path: str) -> tuple[int, str]:
    """(fd on the directory holding `path`, its last name): for operations on the name
    itself (lstat, unlink, create with O_NOFOLLOW) relative to that fd."""
    parent, name = split(path)
    return open_dir(root_fd, parent), name


def reopen(fd: int, flags: int) -> int:
    """A new fd on the very file `fd` (an O_PATH fd) refers to, opened with `flags`
    (through its /proc/self/fd magic link, so O_NOFOLLOW is dropped)."""
    return os.open(f"/proc/self/fd/{fd}", (flags & ~os.O_NOFOLLOW) | os.O_CLOEXEC)


def open_file(root_fd: int, path: str) -> int:
    """A read-only fd on regular file `path` inside the root. FileNotFoundError when
    absent; InvalidArgument when not a regular file (never opens a device or fifo)."""
    pfd = open_path(root_fd, path)
    try:
        if not stat.S_ISREG(os.fstat(pfd).st_mode):
            raise InvalidArgument(f"{shown(path)} is not a regular file")
        return reopen(pfd, os.O_RDONLY)
    finally:
        os.close(pfd)


def read_text(root: str, path: str) -> str | None:
    """Up to 1 MiB of regular file `path` inside `root`, or None when absent or not a file."""
    root_fd = open_root(root)
    try:
        fd = open_file(root_fd, path)
    except (OSError, InvalidArgument):
        return None
    finally:
        os.close(root_fd)
    with os.fdopen(fd, "r", errors="replace") as f:
        return f.read(MAX_TEXT)


def exists(root: str, path: str) -> bool:
    """Whether `path` names something inside `root` (symlinks followed inside it)."""
    root_fd = open_root(root)
    try:
        os.close(open_path(root_fd, path))
        return True
    except OSError:
        return False
    finally:
        os.close(root_fd)


def make_dirs(root_fd: int, path: str, mode: int = 0o755) -> tuple[int, bool]:
    """(fd on directory `path` inside the root, whether it was made), every missing
    component made with `mode`; each one is made with mkdirat in its parent's fd and opened from there
    (O_NOFOLLOW), so a component swapped for a symlink meanwhile is refused, not followed.
    InvalidArgument when a component exists and is not a directory."""
    rel = clean(path)
    fd = openat2(root_fd, ".", DIR_FLAGS)
    made = False
    try:
        if rel == ".":
            return fd, False
        parts = rel.split("/")
        for i, part in enumerate(parts):
            made = False  # what counts is the last component
            where = shown("/" + "/".join(parts[: i + 1]))
            try:
                nfd = openat2(root_fd, "/".join(parts[: i + 1]), DIR_FLAGS)
            except FileNotFoundError:
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                    made = True
                except FileExistsError:
                    pass
                try:
                    nfd = os.open(part, DIR_FLAGS | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise InvalidArgument(f"{where} is not a directory") from None
                    raise
            except NotADirectoryError:
                raise InvalidArgument(f"{where} is not a directory") from None
            os.close(fd)
            fd = nfd
        return fd, made
    except BaseException:
        os.close(fd)
        raise
