"""Programs and libraries built from the project's own C sources with the host's compiler.

Contract: `build(...)` returns the path of `<lib_dir>/<stem>-<digest><suffix>`, compiling it
when missing. The digest covers the source and the compiler arguments, so a changed source
(or flags) gets a new file and an old one is never run by mistake. The source is hashed once
per process (starts are a hot path). In a process one thread builds a file while the others
that need it wait for it (a burst of starts right after an upgrade must not run one
compiler per start); each build goes to a temporary file per process and thread and is
renamed into place, so concurrent processes are safe too. StartFailed when it
cannot be built (no compiler, a compile error): the caller's start fails with the reason.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from functools import cache

from .errors import StartFailed

CC = "gcc"
_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


@cache
def _digest(source: str, args: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    with open(source, "rb") as f:
        h.update(f.read())
    h.update("\0".join(args).encode())
    return h.hexdigest()[:16]


def build(source: str, lib_dir: str, stem: str, *, suffix: str = "", cflags: tuple[str, ...] = (),
          libs: tuple[str, ...] = (), mode: int = 0o700, what: str = "") -> str:
    """The built file for `source` under `lib_dir` (made 0700 when missing), with file mode
    `mode`; `what` names it in the error message."""
    path = os.path.join(lib_dir, f"{stem}-{_digest(source, cflags + libs)}{suffix}")
    if os.path.exists(path):
        return path
    with _locks_lock:
        lock = _locks.setdefault(path, threading.Lock())
    with lock:
        if os.path.exists(path):  # built by another thread meanwhile
            return path
        return _compile(source, path, lib_dir, stem, cflags, libs, mode, what)


def _compile(source: str, path: str, lib_dir: str, stem: str, cflags: tuple[str, ...],
             libs: tuple[str, ...], mode: int, what: str) -> str:
    os.makedirs(lib_dir, mode=0o700, exist_ok=True)  # root's only, as the whole state root
    # one temporary file per thread: the worker starts containers in several threads at once
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        p = subprocess.run([CC, *cflags, "-o", tmp, source, *libs],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StartFailed(f"cannot build {what or stem}: {e}") from None
    if p.returncode != 0:
        raise StartFailed(f"cannot build {what or stem}: {p.stderr[-500:]}")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return path
