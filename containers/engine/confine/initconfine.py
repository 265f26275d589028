"""Confining LXC's init (PID 1 of a container): the preload library built from initconfine.c.

Why: LXC 5's lxc-execute runs its init inside its own forked process without an exec, so
lxc.cap.keep/drop reduce only PID 1's bounding set and PID 1 keeps every capability of host
root (see initconfine.c). The supervisor runs lxc-execute with LD_PRELOAD=<library>; the
library drops PID 1's capabilities to the container's set and makes it non-dumpable when
PID 1 forks the command.

Contract: `library(lib_dir)` returns the path of the built library, compiling it with the
host's C compiler once per source version (the file name carries the source's hash; built
in a temporary file per process and thread and renamed, so concurrent callers are safe).
StartFailed when it cannot be built: a container is never started with a privileged PID 1 silently.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from functools import cache

from ..errors import StartFailed

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "initconfine.c")
CC = "gcc"


@cache
def _digest() -> str:
    """The source's version, read once per process (start is a hot path)."""
    with open(SOURCE, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def library(lib_dir: str) -> str:
    path = os.path.join(lib_dir, f"initconfine-{_digest()}.so")
    if os.path.exists(path):
        return path
    os.makedirs(lib_dir, mode=0o700, exist_ok=True)  # root's only, as the whole state root
    # one temporary file per thread: the worker starts containers in several threads at once
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        p = subprocess.run([CC, "-O2", "-shared", "-fPIC", "-o", tmp, SOURCE, "-ldl"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StartFailed(f"cannot build the init confinement library: {e}") from None
    if p.returncode != 0:
        raise StartFailed(f"cannot build the init confinement library: {p.stderr[-500:]}")
    os.chmod(tmp, 0o600)  # loaded by lxc-execute, which runs as root
    os.replace(tmp, path)
    return path
