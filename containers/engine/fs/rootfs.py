"""The container root: an overlay of read-only image layers and the container's upper dir."""

from __future__ import annotations

import ctypes
import os

from ..errors import EngineError

_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise EngineError(f"{what}: {os.strerror(err)}")


def is_mounted(path: str) -> bool:
    """True when `path` is a mount point in this mount namespace."""
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


def mount_overlay(lowers: list[str], upper: str, work: str, target: str) -> None:
    """Mount overlay at `target`; `lowers` are ordered top-most first. Idempotent."""
    for d in (upper, work, target):
        os.makedirs(d, exist_ok=True)
    if is_mounted(target):
        return
    opts = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    _check(
        _libc.mount(b"overlay", target.encode(), b"overlay", 0, opts.encode()),
        f"mount overlay on {target}",
    )


def unmount(target: str) -> None:
    """Unmount `target` if mounted (lazily when busy). Idempotent."""
    if not is_mounted(target):
        return
    if _libc.umount2(target.encode(), 0) != 0:
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
