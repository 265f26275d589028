"""Spare container directories: a removed container's directory, emptied and made as new, is
kept for the next container instead of deleted, so its inodes are neither freed nor
allocated again.

Why: on an ext4 without a journal (this project's hosts), the inode allocator skips every
inode freed in the last seconds, reading its inode-table block each time, so each file or
directory a start creates paid for every recent removal's unlinks: ~15 % of all CPU in a
burst of starts that followed a burst of removals (`recently_deleted`, perf). A container's
directory and its overlay's work directory and mount point are 3 of the ~8 inodes a
lifecycle made and freed on the disk; with a spare they are made once.

A spare is `<spare>/s-<token>/` holding exactly `work/` and `rootfs/` (empty directories,
mode 0755, owner root, no extended attribute). Not the upper directory: it is the
container's "/" (its mode, owner and xattrs are the container's to change) and it carries
the engine's mark of the root's first mount (fs/initlayer.py). Not the log: a reader that
follows it (`docker run --rm`, `logs -f`) may still hold it open after the removal and read
what is left, so it is unlinked, never emptied in place.

`recycle` makes one from a removed container's directory, or refuses (the caller deletes
it as before): anything it cannot empty, a mount point, a full pool. `take` moves one into
place for a start, atomically (a rename: two starts cannot take the same one). Plain
Python, no Django.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat

CAP = 256  # spares kept at most (empty directories: a few KB of metadata each)
DIRS = ("work", "rootfs")
DIR_MODE = 0o755  # what mount_overlay makes them with (umask 022), and Docker's diff dir
CONTAINER_DIR_MODE = 0o700  # layout.DIR_MODE
PREFIX = "s-"


def take(spare_dir: str, dest: str) -> bool:
    """Move a spare to `dest` (which must not exist); False when there is none."""
    try:
        with os.scandir(spare_dir) as entries:
            names = [e.name for e in entries if e.name.startswith(PREFIX)]
    except FileNotFoundError:
        return False
    for name in names:
        try:
            os.rename(os.path.join(spare_dir, name), dest)
            return True
        except FileNotFoundError:  # another start took it first
            continue
        except OSError:
            return False
    return False


def recycle(path: str, spare_dir: str, cap: int = CAP) -> bool:
    """Make the removed container directory `path` a spare; False (and `path` left for the
    caller to delete) when the pool is full or anything in it cannot be made as new."""
    try:
        os.makedirs(spare_dir, mode=0o700, exist_ok=True)
        if sum(1 for n in os.listdir(spare_dir) if n.startswith(PREFIX)) >= cap:
            return False
        if not _empty_out(path):
            return False
        os.rename(path, os.path.join(spare_dir, PREFIX + secrets.token_hex(8)))
        return True
    except OSError:
        return False


def _empty_out(path: str) -> bool:
    """Leave in `path` only the empty skeleton (module docstring); False when it cannot."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or os.path.ismount(path):
        return False
    for entry in os.scandir(path):
        full = entry.path
        if entry.name in DIRS and entry.is_dir(follow_symlinks=False):
            if os.path.ismount(full):
                return False
            _clear_dir(full)
        elif entry.is_dir(follow_symlinks=False):
            shutil.rmtree(full)
        else:
            os.unlink(full)
    for name in DIRS:
        full = os.path.join(path, name)
        if not os.path.isdir(full):
            os.mkdir(full, DIR_MODE)
        _as_new(full, DIR_MODE)
        if os.listdir(full):
            return False
    _as_new(path, CONTAINER_DIR_MODE)
    return sorted(os.listdir(path)) == sorted(DIRS)


def _clear_dir(path: str) -> None:
    """Delete everything in directory `path` (not `path`); raises OSError if it cannot."""
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def _as_new(path: str, mode: int) -> None:
    """Owner root, `mode`, no extended attribute (overlay's, ACLs, capabilities), times now."""
    os.chown(path, 0, 0, follow_symlinks=False)
    os.chmod(path, mode)  # a directory or file (checked by the caller), never a link
    for name in os.listxattr(path, follow_symlinks=False):
        os.removexattr(path, name, follow_symlinks=False)
    if os.listxattr(path, follow_symlinks=False):
        raise OSError("extended attributes left")
    os.utime(path)
