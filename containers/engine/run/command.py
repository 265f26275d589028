"""Find the container's command inside its root before launch (exit 127 / 126 as Docker)."""

from __future__ import annotations

import os
import posixpath
import stat

from ..errors import SHOWN_MAX, CommandNotFound, InvalidArgument
from ..fs import inroot


def _executable(root_fd: int, path: str) -> bool | None:
    """True: runnable file; False: exists but not runnable; None: absent (or a path the
    kernel would refuse: ENAMETOOLONG, ENOTDIR)."""
    try:
        fd = inroot.open_path(root_fd, path)  # every symlink followed inside the root
    except (OSError, InvalidArgument):
        return None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def check(root: str, argv0: str, path_env: str, working_dir: str) -> None:
    """Raise CommandNotFound (carrying exit code 127 or 126) unless `argv0` can run. A name
    the kernel would refuse (ENAMETOOLONG) is not found (127), as Go's LookPath says. Messages
    quote at most SHOWN_MAX characters of `argv0`."""
    root_fd = inroot.open_root(root)
    try:
        _check(root_fd, argv0, path_env, working_dir)
    finally:
        os.close(root_fd)


def _check(root_fd: int, argv0: str, path_env: str, working_dir: str) -> None:
    shown_argv0 = argv0 if len(argv0) <= SHOWN_MAX else argv0[:SHOWN_MAX - 3] + "..."
    if "/" in argv0:
        full = argv0 if argv0.startswith("/") else posixpath.join(working_dir, argv0)
        found = _executable(root_fd, full)
        if found is None:
            raise CommandNotFound(f'exec: "{shown_argv0}": stat {shown_argv0}: no such file or directory')
        if not found:
            raise _denied(shown_argv0)
        return
    seen_denied = False
    for d in (path_env or "").split(":"):
        if not d:
            continue
        found = _executable(root_fd, posixpath.join(d, argv0))
        if found:
            return
        seen_denied = seen_denied or found is False
    if seen_denied:
        raise _denied(shown_argv0)
    raise CommandNotFound(f'exec: "{shown_argv0}": executable file not found in $PATH')


def _denied(argv0: str) -> CommandNotFound:
    err = CommandNotFound(f'exec: "{argv0}": permission denied')
    err.exit_code = 126  # type: ignore[attr-defined]
    return err


def exit_code_of(err: CommandNotFound) -> int:
    return getattr(err, "exit_code", 127)
