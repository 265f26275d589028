"""The containers' runtime directory (Layout.runtime) on a tmpfs of its own, as Podman's
runroot under /run: the files that only live as long as a run (ContainerPaths.run) never
touch the disk.

The worker calls `ensure` at boot, before it adopts what runs. A tmpfs mounted already (a
worker restarted while containers run: their sockets and state files are on it) is kept.
A directory that is not a mount point gets a new tmpfs (0700, nosuid, nodev, noexec, at
most 10 % of the memory) only when it is empty: mounting over files would hide the runtime
files of containers running from the plain directory (a boot where the mount was refused).
Where mounting is refused (no CAP_SYS_ADMIN) the plain directory serves, as before. After
a host reboot the tmpfs is empty, as the containers are gone: the worker's boot reconcile
records them dead or exited from what is on the disk (exit.json).

`release` unmounts it (tests and benches, once their stack has stopped). Plain Python, no
Django.
"""

from __future__ import annotations

import ctypes
import os

from . import rootfs

_libc = ctypes.CDLL(None, use_errno=True)
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
# a bound: the /etc files are bind-mounted read-write into the containers, and a container
# without a memory limit must not fill half the host's memory through /etc/hosts (a run's
# files take a few KB: its lxc.log is truncated once it started, supervisor.c)
OPTIONS = b"mode=0700,size=10%"


def ensure(path: str) -> str:
    """Make `path` (created 0700 if missing) a tmpfs where it can be: "" when it is one,
    else why it stays a plain directory. Never raises for a refused mount."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if rootfs.is_mounted(path):
        return ""
    if os.listdir(path):
        return f"{path} holds runtime files already (not mounted over)"
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if _libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, OPTIONS) != 0:
        return f"mount tmpfs on {path}: {os.strerror(ctypes.get_errno())}"
    return ""


def release(path: str) -> None:
    """Unmount the tmpfs at `path`, if one is there (lazily when busy)."""
    rootfs.unmount(path)
