"""The container root: an overlay of read-only image layers and the container's upper dir."""

from __future__ import annotations

import ctypes
import errno
import os

from ..errors import EngineError

_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise EngineError(f"{what}: {os.strerror(err)}")


def is_mounted(path: str) -> bool:
    """True when `path` is a mount point in this mount namespace (any mount, a bind of a
    directory of the same filesystem too: read from /proc/self/mountinfo). For a
    container root use `overlay_mounted`: the kernel builds mountinfo under the namespace's
    lock, which every mount and unmount on the host holds (an overlay unmount syncs its
    upper filesystem while holding it), so this read waited for other containers'
    unmounts: 4-13 ms of a start and of a removal at load (issue 13)."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if _unescape(line.split()[4]) == path:
                return True
    return False


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace(
        "\\134", "\\"
    )


def overlay_mounted(target: str) -> bool:
    """True when directory `target` is the root of a mount of another filesystem than its
    parent's: an overlay at a container's root always is (each overlay mount has its own
    device number). Two stats, no mount table read (see is_mounted). False when `target`
    does not exist."""
    try:
        st = os.lstat(target)
        parent = os.lstat(os.path.join(target, ".."))
    except FileNotFoundError:
        return False
    return st.st_dev != parent.st_dev or st.st_ino == parent.st_ino


def mount_overlay(lowers: list[str], upper: str, work: str, target: str) -> None:
    """Mount overlay at `target`; `lowers` are ordered top-most first. Idempotent."""
    for d in (upper, work, target):
        os.makedirs(d, exist_ok=True)
    if overlay_mounted(target):
        return
    opts = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    _check(
        _libc.mount(b"overlay", target.encode(), b"overlay", 0, opts.encode()),
        f"mount overlay on {target}",
    )


def unmount(target: str) -> None:
    """Unmount `target` if mounted (lazily when busy). Idempotent: a `target` that is not
    a mount point (EINVAL) or does not exist (ENOENT) is left as it is; any other refusal
    (busy) is retried lazily. The umount2 call itself decides, as the supervisor's does (no
    mount table read: see is_mounted)."""
    if _libc.umount2(target.encode(), 0) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def mounts_under(prefix: str) -> list[str]:
    """Mount points at or below `prefix` (for leak checks and sweeps)."""
    prefix = os.path.realpath(prefix)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = _unescape(line.split()[4])
            if mp == prefix or mp.startswith(prefix + "/"):
                out.append(mp)
    return out
