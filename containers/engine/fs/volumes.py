"""The local volume store: one directory per volume, `<state>/volumes/<name>/_data` (Docker's
layout), made 0755 for the container to use; `<state>/volumes` itself is 0700 like the rest
of the state root, so the data is reachable only through the container's bind mount.

Contract: names are checked (`mounts.volume_name`) before any path is built, so a name can
never leave `<state>/volumes`; `remove` deletes a volume's tree without following a symlink
(shutil.rmtree on a directory fd); `populate` is Docker's copy of the image's files into a
new, empty volume; the records (who owns a volume, who uses it) are the
Django side's.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat

from ..errors import InvalidArgument
from ..layout import DIR_MODE
from . import inroot
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

    def populate(self, name: str, root: str, path: str) -> bool:
        """Docker's copy-up: when the volume is empty and `path` inside the container root
        `root` is a directory, copy its contents (modes, owners, symlinks as symlinks) into
        the volume. True when something was copied.

        The source is resolved inside the root (inroot.py) and walked by fd with O_NOFOLLOW;
        the destination, which another container sharing the volume may be changing, is
        written only through directory fds with O_NOFOLLOW/O_EXCL (an entry that appears
        meanwhile is left alone), so neither side can redirect a read or write onto the
        host. Devices, fifos and sockets are not copied."""
        data = self.create(name)
        dst = os.open(data, _DIR)
        try:
            if os.listdir(dst):
                return False
            root_fd = inroot.open_root(root)
            try:
                src = inroot.open_dir(root_fd, path)
            except (OSError, InvalidArgument):
                return False
            finally:
                os.close(root_fd)
            try:
                if not os.listdir(src):
                    return False
                _copy_tree(src, dst)
                return True
            finally:
                os.close(src)
        finally:
            os.close(dst)


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _copy_tree(src: int, dst: int) -> None:
    """Copy the entries of directory fd `src` into directory fd `dst` (see populate)."""
    for name in sorted(os.listdir(src)):
        try:
            st = os.stat(name, dir_fd=src, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(name, 0o700, dir_fd=dst)
                s, d = os.open(name, _DIR, dir_fd=src), os.open(name, _DIR, dir_fd=dst)
                try:
                    _copy_tree(s, d)
                    _own(d, st)
                finally:
                    os.close(s)
                    os.close(d)
            elif stat.S_ISREG(st.st_mode):
                s = os.open(name, _FILE, dir_fd=src)
                try:
                    d = os.open(name, _NEW, 0o600, dir_fd=dst)
                    try:
                        while os.sendfile(d, s, None, 1 << 30):
                            pass
                        _own(d, st)
                    finally:
                        os.close(d)
                finally:
                    os.close(s)
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
                os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        except (FileExistsError, FileNotFoundError, NotADirectoryError):
            continue  # raced by a user of the volume, or gone from the source: left alone
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise


def _own(fd: int, st: os.stat_result) -> None:
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
