"""The memory allocator settings of the long-running servers (web, worker, Docker API), so
that their RSS stays flat over many container lifecycles (issue 12; docs/worker-memory.md).

Their live memory (Python objects, C heap) is flat; what grew, besides the worker's slope
that containers/events.py caused (fixed there), was the allocators' resident pages:
glibc's per-thread heaps (the executor threads' arenas, fragmented, whose touched pages
spread) and pages of free memory the allocators keep. Two parts:

- `ENV`: variables every server process starts with (glibc and CPython read them at exec,
  so they are set where the processes are launched: `server_env` for dockerweb.launch's
  supervisord configuration and tests/stack.py; the same `Environment=` lines in
  deploy/systemd/*.service, checked by tests/fast/test_malloc.py).
- `start_trimming`: a daemon thread that calls glibc's `malloc_trim(0)` every
  `DOCKERWEB_MALLOC_TRIM_S` seconds (default TRIM_S; 0: never), which gives the free pages
  inside every glibc arena back to the kernel. Started by each server's entry point
  (dockerweb/asgi.py, dockerweb/docker_asgi.py, runworker). A no-op off glibc.

`DOCKERWEB_MALLOC_TUNING=0` turns both off (glibc's defaults, no trimming), e.g. to
measure the difference with bench/bench_memory_lifecycles.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger("dockerweb.malloc")

# glibc: at most 2 malloc arenas, shared by all threads (default 8 per core): fewer heaps
# whose touched pages spread as executor threads come and go
ENV: dict[str, str] = {"MALLOC_ARENA_MAX": "2"}
TRIM_S = 10.0

_started = False
_lock = threading.Lock()


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False when DOCKERWEB_MALLOC_TUNING is 0/false/no/off in `environ` (default: this
    process's environment)."""
    value = (os.environ if environ is None else environ).get("DOCKERWEB_MALLOC_TUNING", "1")
    return value.strip().lower() not in ("0", "false", "no", "off")


def server_vars(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ENV a server process started from `environ` must be given: none
    when tuning is off there, and none that `environ` sets already (the operator's
    choice is kept)."""
    if not enabled(environ):
        return {}
    return {name: value for name, value in ENV.items() if name not in environ}


def server_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a server process started from `environ` (see server_vars)."""
    return {**environ, **server_vars(environ)}


def trim_interval(environ: Mapping[str, str] | None = None) -> float:
    """Seconds between two trims: DOCKERWEB_MALLOC_TRIM_S (default TRIM_S); 0 when tuning
    is off or the value is 0 or negative."""
    environ = os.environ if environ is None else environ
    if not enabled(environ):
        return 0.0
    value = environ.get("DOCKERWEB_MALLOC_TRIM_S", "")
    return max(float(value), 0.0) if value.strip() else TRIM_S


def glibc_trim() -> Callable[[], int] | None:
    """glibc's malloc_trim(0) as a callable returning its result (1: memory was released),
    or None when the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    fn = libc.malloc_trim
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: fn(0)  # ctypes releases the GIL for the call


def start_trimming(interval: float | None = None) -> bool:
    """Start the trimming thread (once per process; later calls do nothing). `interval`
    defaults to trim_interval(). Returns whether a thread runs (False: off, 0 s, or not
    glibc)."""
    global _started
    interval = trim_interval() if interval is None else interval
    trim = glibc_trim() if interval > 0 else None
    if trim is None:
        return False
    with _lock:
        if not _started:
            _started = True
            threading.Thread(target=_trim_forever, args=(trim, interval), name="malloc-trim",
                             daemon=True).start()
    return True


def start() -> None:
    """What each server's entry point calls once: start_trimming()."""
    start_trimming()


def _trim_forever(trim: Callable[[], int], interval: float) -> None:
    stop = threading.Event()  # never set: the daemon thread ends with the process
    while not stop.wait(interval):
        try:
            trim()
        except OSError as e:  # pragma: no cover - glibc's malloc_trim does not fail
            log.warning("malloc_trim failed: %s", e)
            return
