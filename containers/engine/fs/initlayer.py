"""The init layer: one read-only layer, shared by every container whose image lacks the
engine's /etc files (hostname, hosts, resolv.conf), holding their empty mount points. It is
the top lower layer of such a container's root, as Docker's `-init` layer (made once per
host here, not once per container).

Without it each start made /etc and three empty files in the container's own layer: an
overlay copy-up of /etc and four inodes on the disk per container, made and deleted at each
lifecycle (on a journal-less ext4 every inode allocation scans past the inodes deleted in the
last minute: bursts slowed each other). An image that has any of the three (a file, a
symlink, a directory, even deleted by a whiteout in a layer above) or whose /etc is not a
plain directory keeps the old way: mounts.prepare makes or resolves the mount point in the
container's own layer, as before, so no image's own file or symlink is ever shadowed.

The image's /etc keeps its look: the merged /etc takes its owner and mode from the top-most
layer that has it, so the layer serves only an image whose /etc is root's 0755 (or which has
none), as the init layer's own.

A container keeps the stack of its root's first mount for its life: `mark` records on its
upper directory that the init layer is under it, `marked` reads that. Overlay may refuse an
upper directory over a changed stack (`index=on`), and a container made before the init
layer existed has its mount points in its own layer already.

`ensure(lib)` makes the layer once (a temporary directory renamed into place: concurrent
starts agree on one); `fits(lowers)` says whether an image (its layer directories, top-most
first, in overlay form: whiteouts, opaque directories) lacks all three. Plain Python, no
Django.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import stat
import time

from .changes import opaque

NAME = "init-layer"
POINTS = ("hostname", "hosts", "resolv.conf")  # under /etc: netconf.ETC_FILES' names
MARK = "trusted.dockerweb.init-layer"  # on a container's upper directory (see the module)


def path(lib: str) -> str:
    return os.path.join(lib, NAME)


def ensure(lib: str) -> str:
    """The init layer under `lib` (made if missing): etc/ (0755) with the empty files of
    POINTS (0644), all root's."""
    final = path(lib)
    if os.path.isdir(final):
        return final
    os.makedirs(lib, mode=0o700, exist_ok=True)
    for stale in glob.glob(os.path.join(glob.escape(lib), f".{NAME}-*")):
        if _older_than(stale, STALE_S):  # a maker that died half-way (a live one takes ms)
            shutil.rmtree(stale, ignore_errors=True)
    tmp = os.path.join(lib, f".{NAME}-{secrets.token_hex(4)}")
    try:
        os.makedirs(os.path.join(tmp, "etc"), mode=0o755)
        os.chmod(tmp, 0o755)
        os.chmod(os.path.join(tmp, "etc"), 0o755)
        for name in POINTS:
            fd = os.open(os.path.join(tmp, "etc", name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.fchmod(fd, 0o644)
            os.close(fd)
        os.rename(tmp, final)
    except OSError:  # another start made it first, or a failure: no half-made copy stays
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.isdir(final):
            raise
    return final


STALE_S = 60.0


def _older_than(p: str, seconds: float) -> bool:
    try:
        return time.time() - os.lstat(p).st_mtime > seconds
    except FileNotFoundError:
        return False


def fits(lowers: list[str]) -> bool:
    """Whether the image whose layer directories are `lowers` (top-most first) has a plain
    directory at /etc, root's and 0755 as the init layer's, or none, and none of POINTS in
    it."""
    top = True
    for layer in lowers:
        etc = os.path.join(layer, "etc")
        try:
            st = os.lstat(etc)
        except FileNotFoundError:
            continue  # this layer says nothing about /etc
        if not stat.S_ISDIR(st.st_mode):
            return False  # a file, a symlink or a whiteout: not a plain directory
        if top and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (0, 0, 0o755):
            return False  # the merged /etc would show the init layer's owner and mode
        top = False
        if any(os.path.lexists(os.path.join(etc, name)) for name in POINTS):
            return False  # the image has it (or a whiteout of an older one: the old way too)
        if opaque(etc):
            break  # the layers beneath are hidden
    return True


def mark(upper: str) -> bool:
    """Record on a container's upper directory `upper` (made if missing) that its root is
    mounted over the init layer; False when its filesystem cannot hold the mark (then the
    container goes without the layer, for its life)."""
    os.makedirs(upper, exist_ok=True)
    try:
        os.setxattr(upper, MARK, b"1", follow_symlinks=False)
    except OSError:
        return False
    return True


def marked(upper: str) -> bool:
    """Whether the root over upper directory `upper` was first mounted over the init layer."""
    try:
        return os.getxattr(upper, MARK, follow_symlinks=False) == b"1"
    except OSError:
        return False
