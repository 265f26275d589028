"""Where things live under the state root. One place computes every path, and the modes
that keep it root's alone (as Docker's data-root): directories 0700, files 0600. What the
containers see (layer contents, container roots) keeps its own modes behind those closed
directories."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from .fs import spares

DIR_MODE = 0o700
FILE_MODE = 0o600


def private(path: str, flags: int) -> int:
    """`opener` for open(): a file we create under the state root is root's only."""
    return os.open(path, flags, FILE_MODE)


@dataclass(frozen=True)
class Layout:
    root: str

    @property
    def containers(self) -> str:
        return os.path.join(self.root, "containers")

    @property
    def images(self) -> str:
        return os.path.join(self.root, "images")

    @property
    def layers(self) -> str:
        return os.path.join(self.root, "layers")

    @property
    def layermeta(self) -> str:
        """tar-split records of each layer's original tar (tarsplit.py)."""
        return os.path.join(self.root, "layermeta")

    @property
    def lxc(self) -> str:
        return os.path.join(self.root, "lxc")

    @property
    def run(self) -> str:
        return os.path.join(self.root, "run")

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    @property
    def spare(self) -> str:
        """Spare container directories, kept for the next containers (fs/spares.py)."""
        return os.path.join(self.root, "spare")

    @property
    def runtime(self) -> str:
        """The runtime files of the containers (ContainerPaths.run), as Podman's runroot: on a
        tmpfs of its own that the worker mounts at boot (fs/runroot.py), a plain directory
        where it could not."""
        return os.path.join(self.root, "runtime")

    @property
    def volumes(self) -> str:
        """Local volumes: `<name>/_data` each (fs/volumes.py)."""
        return os.path.join(self.root, "volumes")

    @property
    def lib(self) -> str:
        """Programs and libraries built on this host (cbuild.py: the supervisor, initconfine)
        and the seccomp profiles, one file per distinct profile (confine/seccomp.shared)."""
        return os.path.join(self.root, "lib")

    def container(self, cid: str) -> ContainerPaths:
        """The files of container `cid`. A container that an older version started and that
        still runs from its directory (state.json there, no exit.json, no runtime directory)
        keeps its runtime files there until its next start (`container_to_start`); any other
        (one that ended: a caller waits for its next run) is looked for in runtime/."""
        d, run = os.path.join(self.containers, cid), os.path.join(self.runtime, cid)
        if (not os.path.isdir(run) and os.path.isfile(os.path.join(d, "state.json"))
                and not os.path.exists(os.path.join(d, "exit.json"))):
            return ContainerPaths(d, d)
        return ContainerPaths(d, run)

    def container_to_start(self, cid: str) -> ContainerPaths:
        """The files of container `cid` for a start: its directory and runtime directory
        exist (0700); the runtime files an older version left in its directory are gone."""
        p = ContainerPaths(os.path.join(self.containers, cid), os.path.join(self.runtime, cid))
        if not os.path.isdir(p.dir):  # a first start: a spare's inodes if there is one
            spares.take(self.spare, p.dir)
        os.makedirs(p.dir, mode=DIR_MODE, exist_ok=True)
        os.makedirs(p.run, mode=DIR_MODE, exist_ok=True)
        for name in LEGACY_RUNTIME_FILES:
            try:
                os.unlink(os.path.join(p.dir, name))
            except FileNotFoundError:
                pass
        shutil.rmtree(os.path.join(p.dir, "etc"), ignore_errors=True)
        return p

    def _dirs(self) -> tuple[str, ...]:
        return (self.root, self.containers, self.images, self.layers, self.layermeta, self.lxc,
                self.run, self.runtime, self.tmp, self.volumes)

    def ensure(self) -> None:
        """The state root and its directories exist (new ones 0700)."""
        for d in self._dirs():
            os.makedirs(d, mode=DIR_MODE, exist_ok=True)

    def restrict(self) -> None:
        """ensure(), then close what an older version left open (root and directories 0711,
        db.sqlite3 0644): the root and its directories 0700, no group/other bit on the files
        at its top (database and its -wal/-shm, secret.key, logs). Everything else lives in
        those directories. Run once per process at start (containers.runtime.engine)."""
        self.ensure()
        for d in self._dirs():
            os.chmod(d, DIR_MODE)
        with os.scandir(self.root) as entries:
            for e in entries:
                if e.is_file(follow_symlinks=False):
                    mode = e.stat(follow_symlinks=False).st_mode
                    if mode & 0o077:
                        os.chmod(e.path, mode & 0o700)


# what an older version kept in a container's directory and now lives in its runtime one
LEGACY_RUNTIME_FILES = ("config.lxc", "lxc.log", "supervisor.log", "state.json", "attach.sock")


@dataclass(frozen=True)
class ContainerPaths:
    """Files of one container. The supervisor receives these paths in its spec.

    `dir` (under containers/, on the state root's disk) holds what must outlive the host:
    the layers' upper and work directories, the root's mount point, the container's log,
    its exit status (exit.json, fsynced by the supervisor) and the supervisor's spec (its
    program reads DIR/supervisor.spec). `run` (under runtime/, a tmpfs: Layout.runtime)
    holds what only lives as long as a run and is rewritten at each start: the LXC config
    and log, the supervisor's log and state, the attach socket, the /etc files. Keeping
    those off the disk spares each lifecycle a dozen inode allocations and deletions (on a
    journal-less ext4 each allocation scans past every inode deleted in the last minute).
    """

    dir: str
    run: str

    def _p(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _r(self, name: str) -> str:
        return os.path.join(self.run, name)

    upper = property(lambda self: self._p("upper"))
    work = property(lambda self: self._p("work"))
    rootfs = property(lambda self: self._p("rootfs"))
    spec = property(lambda self: self._p("supervisor.spec"))
    exit = property(lambda self: self._p("exit.json"))
    log = property(lambda self: self._p("container.log"))
    lxc_config = property(lambda self: self._r("config.lxc"))
    lxc_log = property(lambda self: self._r("lxc.log"))
    supervisor_log = property(lambda self: self._r("supervisor.log"))
    state = property(lambda self: self._r("state.json"))
    attach = property(lambda self: self._r("attach.sock"))
    # hostname, hosts, resolv.conf, bind-mounted into the container (0644: what it sees)
    etc = property(lambda self: self._r("etc"))
