"""The local volume store: one directory per volume, `<state>/volumes/<name>/_data` (Docker's
layout), made 0755 for the container to use; `<state>/volumes` itself is 0700 like the rest
of the state root, so the data is reachable only through the container's bind mount.

Contract: names are checked (`mounts.volume_name`) before any path is built, so a name can
never leave `<state>/volumes`; `remove` deletes a volume's tree without following a symlink
(shutil.rmtree on a directory fd); the records (who owns a volume, who uses it) are the
Django side's.
"""

from __future__ import annotations

import os
import shutil

from ..layout import DIR_MODE
from .mounts import volume_name

DATA = "_data"


class VolumeStore:
    def __init__(self, root: str):
        self.root = root  # <state>/volumes

    def dir(self, name: str) -> str:
        return os.path.join(self.root, volume_name(name))

    def data(self, name: str) -> str:
        """The host path a container mounts: `<state>/volumes/<name>/_data`."""
        return os.path.join(self.dir(name), DATA)

    def create(self, name: str) -> str:
        """Make the volume's directories (idempotent); return its data path."""
        os.makedirs(self.root, mode=DIR_MODE, exist_ok=True)
        os.makedirs(self.dir(name), mode=DIR_MODE, exist_ok=True)
        data = self.data(name)
        try:
            os.mkdir(data, 0o755)
            os.chmod(data, 0o755)  # whatever the umask
        except FileExistsError:
            pass
        return data

    def remove(self, name: str) -> None:
        """Delete the volume's files (missing: nothing to do)."""
        shutil.rmtree(self.dir(name), ignore_errors=True)

    def size(self, name: str) -> int:
        """Bytes used by the volume's files (lstat sizes; symlinks not followed)."""
        total = 0
        for dirpath, dirnames, filenames in os.walk(self.data(name)):
            for n in filenames + dirnames:
                try:
                    total += os.lstat(os.path.join(dirpath, n)).st_size
                except OSError:
                    pass
        return total
