"""A comparable snapshot of a directory tree, for the engine's tar and layer tests."""

from __future__ import annotations

import hashlib
import os
import stat

OPAQUE = "trusted.overlay.opaque"


def snapshot(root, *, dir_mtimes: bool = True) -> dict[str, tuple]:
    """rel path -> (type, mode, uid, gid, content sha256 / link target / rdev, opaque xattr,
    mtime in whole seconds (a tar's precision), link count) of every entry under `root`.
    `dir_mtimes=False` leaves the mtimes of directories out (an overlay mount touches them)."""
    out: dict[str, tuple] = {}
    root = str(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            is_dir = stat.S_ISDIR(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what: object = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                what = st.st_rdev
            else:
                what = None
            try:
                opaque = os.getxattr(p, OPAQUE, follow_symlinks=False) if is_dir else None
            except OSError:
                opaque = None
            mtime = None if is_dir and not dir_mtimes else int(st.st_mtime)
            out[os.path.relpath(p, root)] = (
                stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what, opaque,
                mtime, st.st_nlink if stat.S_ISREG(st.st_mode) else 1)
    return out
