"""Tar streams into directories, safely (and, re-exported, out of them: tarcreate.py).

`extract_layer(stream, dest)` reads a stream once (plain, gzip, bzip2 or xz, told apart by
magic bytes), never holds it in memory, computes the sha256 of the uncompressed tar (the
OCI diff_id) as it goes, and never writes, changes or removes anything outside `dest`:
- a leading "/" is stripped (absolute names land inside `dest`); a ".." that would climb
  out of `dest` is refused;
- every directory is entered with openat(O_NOFOLLOW) from `dest` down, so nothing is ever
  written through a symlink, even one the archive planted (refused) or one swapped in
  concurrently by a running container (docker cp); files are created with O_EXCL;
- symlinks are stored as they are, never followed (their targets mean something only
  inside the container's root);
- a hard link must name a regular file already inside `dest`, reached without symlinks;
- character and block devices, fifos and sockets are skipped (an image layer needs none;
  /dev is LXC's); xattrs other than user.* and security.capability are dropped (a layer
  must not forge trusted.overlay.* metadata);
- with `whiteouts=True` (a layer for overlay use) `.wh.NAME` becomes an overlay whiteout
  (char device 0:0 named NAME), `.wh..wh..opq` the xattr trusted.overlay.opaque=y on its
  directory, other `.wh..wh.*` entries (AUFS metadata) are ignored, and a char 0:0 member is
  kept as the whiteout it is.
A corrupt or malicious archive raises InvalidArgument naming the member; a failure of our
own filesystem (no space, ...) raises EngineError. A partial extraction is left in `dest`:
the caller extracts into a temporary directory and removes it on error.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tarfile
from typing import BinaryIO

from ..errors import EngineError, InvalidArgument, shown
from ..image.tarsplit import Recorder
from . import beneath, tarlimits
from .compression import CHUNK, DECOMPRESSION_ERRORS, decompressed
from .tarcreate import tar_path, tar_stream  # noqa: F401  (the other half of this module's API)

WH_PREFIX = ".wh."
WH_META = ".wh..wh."
WH_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
XATTR_PAX = "SCHILY.xattr."
KEPT_XATTRS = ("user.", "security.capability")
# errors of our own filesystem, not of the archive
LOCAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EPERM, errno.EACCES,
                errno.EMFILE, errno.ENFILE, errno.ENOMEM}


class HashingReader:
    """Reads through to `raw`, hashing (and handing to `tee`) every byte handed out.

    Read errors of a compressed stream become InvalidArgument."""

    def __init__(self, raw: BinaryIO, tee=None):
        self.raw, self.tee = raw, tee
        self.sha = hashlib.sha256()
        self.count = 0
        self._tail: list[tuple[int, bytes]] = []  # the last reads, with their offsets

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.raw.read(n)
        except DECOMPRESSION_ERRORS as e:
            raise InvalidArgument(f"corrupt archive: {e}") from None
        self.sha.update(data)
        self._tail.append((self.count, data))
        # keep the last read and at least two blocks before it (tarfile's last header)
        while len(self._tail) > 2 and self.count - self._tail[1][0] >= 2 * tarfile.BLOCKSIZE:
            del self._tail[0]
        self.count += len(data)
        if self.tee is not None:
            self.tee(data)
        return data

    def recent(self, offset: int, n: int) -> bytes:
        """Bytes [offset, offset+n) if still among the last reads (fewer if not all are)."""
        out = bytearray()
        for start, data in self._tail:
            lo, hi = max(offset, start), min(offset + n, start + len(data))
            if lo < hi and lo == offset + len(out):
                out += data[lo - start:hi - start]
        return bytes(out)

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def clean_name(name: str) -> str:
    """Archive member name -> safe relative path ("" for the root itself).

    Raises InvalidArgument for a ".." that climbs out of the root."""
    parts: list[str] = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise InvalidArgument(f"archive member {shown(name)} points outside the target directory")
            parts.pop()
            continue
        parts.append(p)
    return "/".join(parts)


def extract_layer(stream: BinaryIO, dest: str | int, *, whiteouts: bool = False,
                  split_dir: str | None = None) -> str:
    """Extract a (possibly compressed) tar stream into directory `dest`; its diff_id (hex).

    `dest` is a path of ours, or an fd on the directory (docker cp: inroot.py resolved it
    inside the container's root; every member is then made relative to that fd).
    `whiteouts`: convert `.wh.` entries to overlay form (image layers, not docker cp).
    `split_dir`: record tar-split metadata there (see tarsplit.py) so the exact tar can be
    produced again from `dest`."""
    try:
        raw = decompressed(stream)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None
    except DECOMPRESSION_ERRORS as e:
        raise InvalidArgument(f"corrupt archive: {e}") from None
    ex = _Extractor(dest, whiteouts)
    try:
        rec = ex.rec = Recorder(split_dir, dest) if split_dir else None
        reader = HashingReader(raw, rec.feed if rec else None)
        try:
            _run(reader, ex)
            if rec:
                rec.finish()
        except BaseException:
            if rec:
                rec.abort()
            raise
    finally:
        ex.close()
    return reader.sha.hexdigest()


def _run(reader: HashingReader, ex: _Extractor) -> None:
    try:
        tar = tarfile.open(fileobj=reader, mode="r|", bufsize=CHUNK,  # type: ignore[call-overload]
                           tarinfo=tarlimits.Member)
        while (m := tar.next()) is not None:
            tar.members.clear()  # stream mode keeps every TarInfo otherwise
            ex.member(tar, m)
        _check_end(reader, tar.offset)
        tar.close()
        reader.drain()
    except tarfile.TarError as e:
        raise InvalidArgument(f"corrupt archive: {e}") from None
    ex.finish()


def _check_end(reader: HashingReader, offset: int) -> None:
    """tarfile ends quietly at EOF or at a bad header in mid-archive: only a zero block
    where the next header would be is a real end (a truncated upload is not an image)."""
    block = reader.recent(offset, tarfile.BLOCKSIZE)
    if len(block) < tarfile.BLOCKSIZE:
        raise InvalidArgument(f"corrupt archive: unexpected end of data at byte {offset}")
    if block.count(0) != tarfile.BLOCKSIZE:
        raise InvalidArgument(f"corrupt archive: invalid tar header at byte {offset}")


class _Extractor:
    """Applies members to `dest`, holding an fd on it and on the last parent used."""

    def __init__(self, dest: str | int, whiteouts: bool):
        self.whiteouts = whiteouts
        self.rec: Recorder | None = None
        self.root = os.dup(dest) if isinstance(dest, int) else beneath.open_root(dest)
        self.parent: tuple[str, int] | None = None  # (rel dir, fd), cached between members
        self.dirs: dict[str, tarfile.TarInfo] = {}  # modes and times applied last

    def close(self) -> None:
        self._drop_parent()
        os.close(self.root)

    def member(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        rel = clean_name(m.name)
        store = bool(rel) and m.isreg() and m.sparse is None and not self._is_whiteout_name(rel)
        if self.rec:
            self.rec.member(m.offset_data, tar.offset, rel if store else None, m.size)
        if not rel:
            return
        try:
            self._apply(tar, m, rel)
        except OSError as e:
            if e.errno in LOCAL_ERRNOS:
                raise EngineError(f"extracting {shown(m.name)}: {e.strerror}") from None
            raise InvalidArgument(f"cannot extract archive member {shown(m.name)}: {e.strerror}") from None
        except InvalidArgument as e:
            raise InvalidArgument(f"archive member {shown(m.name)} refused: {e.message}") from None
        except ValueError as e:  # e.g. an embedded NUL in a name
            raise InvalidArgument(f"archive member {shown(m.name)} refused: {e}") from None

    def _is_whiteout_name(self, rel: str) -> bool:
        return self.whiteouts and os.path.basename(rel).startswith(WH_PREFIX)

    def _apply(self, tar: tarfile.TarFile, m: tarfile.TarInfo, rel: str) -> None:
        parent_rel, name = os.path.split(rel)
        if self._is_whiteout_name(rel):
            return self._whiteout(parent_rel, name, m)
        if self.whiteouts and m.ischr() and m.devmajor == 0 and m.devminor == 0:
            pfd = self._parent(parent_rel)
            self._clear(pfd, name, rel, keep_dir=False)
            self._mknod_whiteout(pfd, name, m)
            return None
        if m.isdir():
            pfd = self._parent(parent_rel)
            if not self._clear(pfd, name, rel, keep_dir=True):
                os.mkdir(name, 0o755, dir_fd=pfd)
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            self.dirs[rel] = m
        elif m.isreg():
            self._file(tar, m, rel, parent_rel, name)
        elif m.issym():
            pfd = self._parent(parent_rel)
            self._clear(pfd, name, rel, keep_dir=False)
            os.symlink(m.linkname, name, dir_fd=pfd)
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            _utime(name, m, dir_fd=pfd)
        elif m.islnk():
            self._hardlink(m, rel, parent_rel, name)
        # devices, fifos and unknown types: skipped on purpose
        return None

    @staticmethod
    def _mknod_whiteout(pfd: int, name: str, m: tarfile.TarInfo) -> None:
        """An overlay whiteout with the member's owner, mode and time."""
        os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
        os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        os.chmod(name, m.mode & 0o777, dir_fd=pfd)
        _utime(name, m, dir_fd=pfd)

    def _whiteout(self, parent_rel: str, name: str, m: tarfile.TarInfo) -> None:
        pfd = self._parent(parent_rel)
        if name == WH_OPAQUE:
            os.setxattr(pfd, OPAQUE_XATTR, b"y")
            return
        if name.startswith(WH_META):
            return  # AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): meaningless here
        target = name[len(WH_PREFIX):]
        if target in ("", ".", ".."):
            raise InvalidArgument(f"invalid whiteout {shown(name)}")
        self._clear(pfd, target, os.path.join(parent_rel, target), keep_dir=False)
        self._mknod_whiteout(pfd, target, m)

    def _file(self, tar: tarfile.TarFile, m: tarfile.TarInfo, rel: str, parent_rel: str, name: str) -> None:
        pfd = self._parent(parent_rel)
        self._clear(pfd, name, rel, keep_dir=False)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=pfd)
        with os.fdopen(fd, "wb", buffering=0) as out:
            src = tar.extractfile(m)
            assert src is not None
            while chunk := src.read(CHUNK):
                out.write(chunk)
            os.fchown(fd, m.uid, m.gid)
            _xattrs(fd, m)
            os.fchmod(fd, m.mode & 0o7777)
            _utime(fd, m)

    def _hardlink(self, m: tarfile.TarInfo, rel: str, parent_rel: str, name: str) -> None:
        target = clean_name(m.linkname)
        if not target or target == rel:
            raise InvalidArgument(f"hard link to {shown(m.linkname)}")
        t_parent, t_name = os.path.split(target)
        try:
            tfd = beneath.open_dir(self.root, _parts(t_parent))
        except FileNotFoundError:
            raise InvalidArgument(f"hard link target {shown(m.linkname)} is not in the archive") from None
        try:
            try:
                st = os.stat(t_name, dir_fd=tfd, follow_symlinks=False)
            except FileNotFoundError:
                raise InvalidArgument(f"hard link target {shown(m.linkname)} is not in the archive") from None
            if not stat.S_ISREG(st.st_mode):
                raise InvalidArgument(f"hard link target {shown(m.linkname)} is not a regular file")
            pfd = self._parent(parent_rel)
            self._clear(pfd, name, rel, keep_dir=False)
            os.link(t_name, name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)

    def _parent(self, parent_rel: str) -> int:
        """An fd on directory `parent_rel`, made if missing, never through a symlink."""
        if self.parent is not None and self.parent[0] == parent_rel:
            return self.parent[1]
        self._drop_parent()
        fd = beneath.open_dir(self.root, _parts(parent_rel), create=True)
        self.parent = (parent_rel, fd)
        return fd

    def _drop_parent(self) -> None:
        if self.parent is not None:
            os.close(self.parent[1])
            self.parent = None

    def _clear(self, pfd: int, name: str, rel: str, keep_dir: bool) -> bool:
        """Remove `name` in `pfd` unless it is a directory and `keep_dir`; True if kept."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            if self.rec:
                self.rec.removing(rel, is_dir=True)
            cached = self.parent  # it may be inside the tree that goes
            if cached is not None and (cached[0] == rel or cached[0].startswith(rel + "/")):
                self._drop_parent()
            shutil.rmtree(name, dir_fd=pfd)
            self.dirs = {k: v for k, v in self.dirs.items() if k != rel and not k.startswith(rel + "/")}
            return False
        if self.rec:
            self.rec.removing(rel, is_dir=False)
        os.unlink(name, dir_fd=pfd)
        return False

    def finish(self) -> None:
        """Directory modes and times, last (writing into a directory changes its mtime)."""
        self._drop_parent()
        for rel, m in reversed(self.dirs.items()):
            try:
                fd = beneath.open_dir(self.root, _parts(rel))
            except (FileNotFoundError, InvalidArgument):
                continue  # replaced by a later member
            try:
                _xattrs(fd, m)
                os.fchmod(fd, m.mode & 0o7777)
                _utime(fd, m)
            finally:
                os.close(fd)


def _parts(rel: str) -> list[str]:
    return rel.split("/") if rel else []


def _utime(target, m: tarfile.TarInfo, dir_fd: int | None = None) -> None:
    ns = int(m.mtime * 1_000_000_000)
    if isinstance(target, int):
        os.utime(target, ns=(ns, ns))
    else:
        os.utime(target, ns=(ns, ns), dir_fd=dir_fd, follow_symlinks=False)


def _xattrs(fd: int, m: tarfile.TarInfo) -> None:
    for key, value in m.pax_headers.items():
        if not key.startswith(XATTR_PAX):
            continue
        name = key[len(XATTR_PAX):]
        if name.startswith(KEPT_XATTRS):
            try:
                os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EINVAL):
                    raise
