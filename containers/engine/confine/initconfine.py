"""Confining LXC's init (PID 1 of a container): the preload library built from initconfine.c.

Why: LXC 5's lxc-execute runs its init inside its own forked process without an exec, so
lxc.cap.keep/drop reduce only PID 1's bounding set and PID 1 keeps every capability of host
root (see initconfine.c). The supervisor runs lxc-execute with LD_PRELOAD=<library>; the
library drops PID 1's capabilities to the container's set and makes it non-dumpable when
PID 1 forks the command.

Contract: `library(lib_dir)` returns the path of the built library, compiling it with the
host's C compiler once per source version (engine/cbuild.py). StartFailed when it cannot be
built: a container is never started with a privileged PID 1 silently.
"""

from __future__ import annotations

import os

from .. import cbuild

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "initconfine.c")


def library(lib_dir: str) -> str:
    # 0600: loaded by lxc-execute, which runs as root
    return cbuild.build(SOURCE, lib_dir, "initconfine", suffix=".so", cflags=("-O2", "-shared", "-fPIC"),
                        libs=("-ldl",), mode=0o600, what="the init confinement library")
