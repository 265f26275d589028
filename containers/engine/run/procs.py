"""Process identity: a pid plus its start time names a process without pid-reuse races."""

from __future__ import annotations

import os


def start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[19])


def alive(pid: int | None, started: int | None) -> bool:
    """True when `pid` runs and is the same process that started at `started` (one read of
    /proc/PID/stat: its state and start time; the kernel sums every thread's times into it,
    so a read of a many-threaded process is not free)."""
    if not pid or started is None:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[19]) == started and fields[0] != b"Z"


def is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:][:1] == b"Z"


def children(pid: int) -> list[int]:
    """Direct children of `pid` (thread-group leader's list)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def rss_pss_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of `pid` in KiB from smaps_rollup; (0, 0) when gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def send_signal(pid: int, started: int, sig: int) -> bool:
    """Signal `pid` only if it is still the process that started at `started`.

    Uses a pidfd so that the identity check and the signal refer to the same process.
    Returns False when the process is gone.
    """
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return False
    try:
        if start_time(pid) != started:
            return False
        import signal

        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)
