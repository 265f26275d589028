"""Where things live under the state root. One place computes every path, and the modes
that keep it root's alone (as Docker's data-root): directories 0700, files 0600. What the
containers see (layer contents, container roots) keeps its own modes behind those closed
directories."""

from __future__ import annotations

import os
from dataclasses import dataclass

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
    def volumes(self) -> str:
        """Local volumes: `<name>/_data` each (fs/volumes.py)."""
        return os.path.join(self.root, "volumes")

    @property
    def lib(self) -> str:
        """Programs and libraries built on this host (cbuild.py: the supervisor, initconfine)
        and the seccomp profiles, one file per distinct profile (confine/seccomp.shared)."""
        return os.path.join(self.root, "lib")

    def container(self, cid: str) -> ContainerPaths:
        return ContainerPaths(os.path.join(self.containers, cid))

    def _dirs(self) -> tuple[str, ...]:
        return (self.root, self.containers, self.images, self.layers, self.layermeta, self.lxc,
                self.run, self.tmp, self.volumes)

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


@dataclass(frozen=True)
class ContainerPaths:
    """Files of one container. The supervisor receives these paths in its spec."""

    dir: str

    def _p(self, name: str) -> str:
        return os.path.join(self.dir, name)

    upper = property(lambda self: self._p("upper"))
    work = property(lambda self: self._p("work"))
    rootfs = property(lambda self: self._p("rootfs"))
    lxc_config = property(lambda self: self._p("config.lxc"))
    lxc_log = property(lambda self: self._p("lxc.log"))
    spec = property(lambda self: self._p("supervisor.spec"))
    supervisor_log = property(lambda self: self._p("supervisor.log"))
    state = property(lambda self: self._p("state.json"))
    exit = property(lambda self: self._p("exit.json"))
    log = property(lambda self: self._p("container.log"))
    attach = property(lambda self: self._p("attach.sock"))
    # hostname, hosts, resolv.conf, bind-mounted into the container (0644: what it sees)
    etc = property(lambda self: self._p("etc"))
