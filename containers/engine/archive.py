"""Tar streams in and out of layers, safely.

Extraction (`extract_layer`) reads a stream once (plain, gzip, bzip2 or xz, detected by its
magic bytes), never holds it in memory, computes the sha256 of the uncompressed tar (the OCI
diff_id) as it goes, and never writes outside the target directory:
- leading "/" is stripped; ".." that would climb out is refused;
- no path is written through a symlink (every parent is lstat'ed; a symlink parent is
  refused), and files are opened with O_NOFOLLOW;
- hard links must name a regular file extracted inside the target;
- device nodes and fifos are skipped (an image layer needs none; /dev is LXC's);
- `.wh.NAME` becomes an overlay whiteout (char 0:0), `.wh..wh..opq` the opaque xattr.
A corrupt or malicious archive raises InvalidArgument with the member's name.

Creation (`tar_stream`) yields a tar of a directory without following symlinks; with
`whiteouts=True` overlay whiteouts and opaque dirs are written in the `.wh.` form (a
container's own layer, Docker's ExportRw / commit diff).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from .errors import InvalidArgument

WH_PREFIX = ".wh."
WH_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
CHUNK = 1 << 20


class HashingReader(io.RawIOBase):
    """Reads through to `raw`, hashing every byte handed out."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.sha.update(data)
        self.count += n
        return n

    def drain(self) -> None:
        while self.raw.read(CHUNK):
            pass


class _Peek(io.RawIOBase):
    """A stream with its first bytes pushed back (after sniffing the magic)."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(b), len(self.head))
            b[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.rest.read(len(b))
        b[:len(data)] = data
        return len(data)


def decompressed(stream: BinaryIO) -> BinaryIO:
    """The uncompressed view of `stream` (gzip, bzip2, xz or plain), streaming."""
    head = stream.read(6)
    raw = io.BufferedReader(_Peek(head, stream), CHUNK)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if head[:3] == b"BZh":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if head == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    return raw  # type: ignore[return-value]


def _clean(name: str) -> str:
    """Archive member name -> safe relative path ("" for the root itself)."""
    parts: list[str] = []
    for p in name.replace("\\", "/").split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise InvalidArgument(f"archive member {name!r} points outside the layer")
            parts.pop()
            continue
        parts.append(p)
    return "/".join(parts)


def _parent_ok(dest: str, rel: str) -> str:
    """Host path for `rel`; every existing parent must be a real directory (no symlinks)."""
    path = dest
    for part in rel.split("/")[:-1]:
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"archive member {rel!r} would be written through a non-directory "
                                  f"({part!r} is a symlink or file)")
    return os.path.join(dest, rel)


def _clear(path: str, keep_dir: bool) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return
        import shutil

        shutil.rmtree(path)
    else:
        os.unlink(path)


def _owner(path: str, m: tarfile.TarInfo) -> None:
    try:
        os.lchown(path, m.uid, m.gid)
    except OSError:
        pass


def extract_layer(stream: BinaryIO, dest: str) -> str:
    """Extract a (possibly compressed) tar stream into `dest`; return its diff_id (hex)."""
    reader = HashingReader(decompressed(stream))
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    try:
        with tarfile.open(fileobj=io.BufferedReader(reader, CHUNK), mode="r|", bufsize=CHUNK) as tar:
            for m in tar:
                _extract_one(tar, m, dest, dirs)
        reader.drain()
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, ValueError) as e:
        if isinstance(e, InvalidArgument):
            raise
        raise InvalidArgument(f"corrupt archive: {e}") from None
    for path, m in reversed(dirs):  # directory times and modes last
        os.chmod(path, m.mode & 0o7777)
        os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)
    return reader.sha.hexdigest()


def _extract_one(tar: tarfile.TarFile, m: tarfile.TarInfo, dest: str,
                 dirs: list[tuple[str, tarfile.TarInfo]]) -> None:
    rel = _clean(m.name)
    if not rel:
        return
    base = os.path.basename(rel)
    if base.startswith(WH_PREFIX):
        path = _parent_ok(dest, rel)
        parent = os.path.dirname(path)
        if base == WH_OPAQUE:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
        else:
            target = os.path.join(parent, base[len(WH_PREFIX):])
            _clear(target, keep_dir=False)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return
    path = _parent_ok(dest, rel)
    if m.isdir():
        _clear(path, keep_dir=True)
        if not os.path.isdir(path):
            os.mkdir(path, 0o755)
        _owner(path, m)
        dirs.append((path, m))
    elif m.isreg():
        _clear(path, keep_dir=False)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out, tar.extractfile(m) as src:  # type: ignore[union-attr]
            while chunk := src.read(CHUNK):
                out.write(chunk)
        _owner(path, m)
        os.chmod(path, m.mode & 0o7777)
        os.utime(path, (m.mtime, m.mtime))
    elif m.issym():
        _clear(path, keep_dir=False)
        os.symlink(m.linkname, path)  # interpreted inside the container's root, never here
        _owner(path, m)
        os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)
    elif m.islnk():
        target_rel = _clean(m.linkname)
        target = _parent_ok(dest, target_rel) if target_rel else ""
        if not target_rel or not os.path.isfile(target) or os.path.islink(target):
            raise InvalidArgument(f"hard link {rel!r} -> {m.linkname!r} does not name a file in the layer")
        _clear(path, keep_dir=False)
        os.link(target, path, follow_symlinks=False)
    # character/block devices and fifos are skipped on purpose


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self.buf += b
        return len(b)

    def take(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out


def _writer(sink: _Sink) -> tarfile.TarFile:
    """A streaming tar writer with 1 MiB records and copies (tarfile's defaults are 10 KiB
    and 16 KiB, which cost several times GNU tar's speed)."""
    tar = tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK)
    tar.copybufsize = CHUNK
    return tar


def tar_stream(root: str, whiteouts: bool = False) -> Iterator[bytes]:
    """Yield a tar of `root` in chunks (symlinks stored, never followed)."""
    sink = _Sink()
    tar = _writer(sink)
    for rel, full, st in _walk(root):
        if whiteouts and _whiteout(st):
            info = tarfile.TarInfo(os.path.join(os.path.dirname(rel), WH_PREFIX + os.path.basename(rel)))
            info.mtime = int(st.st_mtime)
            tar.addfile(info)
        elif stat.S_ISREG(st.st_mode):
            info = tar.gettarinfo(full, arcname=rel)
            with open(full, "rb") as f:
                tar.addfile(info, f)
        elif stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode) or not whiteouts:
            try:
                info = tar.gettarinfo(full, arcname=rel)
            except OSError:
                continue
            tar.addfile(info)
            if whiteouts and stat.S_ISDIR(st.st_mode) and _opaque(full):
                tar.addfile(tarfile.TarInfo(os.path.join(rel, WH_OPAQUE)))
        if len(sink.buf) >= CHUNK:
            yield sink.take()
    tar.close()
    yield sink.take()


def _walk(root: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, host path, lstat) for every entry below `root`, parents first."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = sorted(os.scandir(os.path.join(root, rel_dir)), key=lambda e: e.name)
        except (NotADirectoryError, FileNotFoundError):
            continue
        subdirs = []
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            st = e.stat(follow_symlinks=False)
            yield rel, e.path, st
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(rel)
        stack.extend(reversed(subdirs))


def tar_path(host_path: str, arcname: str) -> Iterator[bytes]:
    """Yield a tar holding `host_path` under `arcname` (a directory with its contents);
    symlinks are stored, never followed (docker cp's GET archive)."""
    sink = _Sink()
    tar = _writer(sink)
    st = os.lstat(host_path)
    entries = [(arcname, host_path, st)]
    if stat.S_ISDIR(st.st_mode):
        entries += [(f"{arcname}/{rel}", full, s) for rel, full, s in _walk(host_path)]
    for rel, full, st in entries:
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            continue
        info = tar.gettarinfo(full, arcname=rel)
        if stat.S_ISREG(st.st_mode):
            with open(full, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)
        if len(sink.buf) >= CHUNK:
            yield sink.take()
    tar.close()
    yield sink.take()
