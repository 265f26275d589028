"""Where things live under the state root. One place computes every path."""

from __future__ import annotations

import os
from dataclasses import dataclass


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
    def lib(self) -> str:
        """Libraries built on this host (initconfine.py)."""
        return os.path.join(self.root, "lib")

    def container(self, cid: str) -> ContainerPaths:
        return ContainerPaths(os.path.join(self.containers, cid))

    def ensure(self) -> None:
        for d in (self.containers, self.images, self.layers, self.layermeta, self.lxc, self.run, self.tmp):
            os.makedirs(d, mode=0o711, exist_ok=True)


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
    hook_fifo = property(lambda self: self._p("started.fifo"))
    seccomp = property(lambda self: self._p("seccomp.profile"))
