"""Tar streams out of directories (and the few bytes a tar writer needs, for image saves).

Contract of `tar_stream` / `tar_path`: a generator of bytes chunks (about 1 MiB each), PAX
format, entries sorted by name (parents before children), numeric owners only (no user or
group names), whole-second mtimes, hard links kept as links, xattrs user.* and
security.capability kept; the tree is walked by file descriptor with O_NOFOLLOW from the
root down, so a symlink is stored as a symlink and never followed, even one swapped in while
the walk runs (a running container exporting itself cannot make us read the host). The same
tree gives the same bytes.

With `whiteouts=True` (a container's upper dir, Docker's ExportRw and commit diff) an
overlay whiteout (char device 0:0) is written as an empty file `.wh.NAME` and an opaque
directory gets an empty `.wh..wh..opq` entry right after its own.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator

from .compression import CHUNK
from .inroot import reopen

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
WH_PREFIX = ".wh."
WH_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
KEPT_XATTRS = ("user.", "security.capability")
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class _Out:
    """Output buffer: collects small pieces, hands out ~CHUNK-sized chunks."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.total = 0

    def put(self, b: bytes) -> None:
        self.buf += b
        self.total += len(b)

    def full(self) -> bool:
        return len(self.buf) >= CHUNK

    def take(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def end(self) -> bytes:
        """Two zero blocks, padded to a whole record (as GNU tar and tarfile do)."""
        self.put(end_of_archive(self.total))
        return self.take()


def header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def end_of_archive(written: int) -> bytes:
    """The end of a tar of `written` bytes so far."""
    return b"\0" * (2 * BLOCK + (-(written + 2 * BLOCK) % RECORD))


def file_entry(name: str, data: bytes, mode: int = 0o644, mtime: int = 0) -> bytes:
    """A whole regular-file member."""
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), mode, mtime
    return header(ti) + data + padding(len(data))


def dir_entry(name: str, mode: int = 0o755, mtime: int = 0) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, mtime
    return header(ti)


def symlink_entry(name: str, target: str, mtime: int = 0) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, mtime
    return header(ti)


def stream_entry(name: str, size: int, chunks: Iterable[bytes], mode: int = 0o644,
                 mtime: int = 0) -> Iterator[bytes]:
    """A regular-file member whose `size` bytes come from `chunks` (checked)."""
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = size, mode, mtime
    yield header(ti)
    n = 0
    for chunk in chunks:
        n += len(chunk)
        if n > size:
            raise ValueError(f"{name}: more than the {size} bytes announced")
        yield chunk
    if n != size:
        raise ValueError(f"{name}: {n} bytes instead of the {size} announced")
    yield padding(size)


def tar_stream(root: str, whiteouts: bool = False, exclude: frozenset[str] = frozenset()
               ) -> Iterator[bytes]:
    """Yield a tar of the contents of `root` (not `root` itself). A missing root gives an
    empty archive. Entries named in `exclude` (relative paths: "etc/hosts"), whiteouts of
    them included, are left out."""
    out = _Out()
    try:
        root_fd = os.open(root, _DIR & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        yield out.end()
        return
    try:
        walk = _walk(root_fd, "")
        if exclude:
            walk = (e for e in walk if e[0] not in exclude)
        yield from _entries(out, walk, whiteouts, skip_special=False)
    finally:
        os.close(root_fd)
    yield out.end()


def tar_path(fd: int, arcname: str) -> Iterator[bytes]:
    """Yield a tar holding what O_PATH fd `fd` refers to (a file, or a directory with its
    contents) under `arcname`; below it symlinks are stored, never followed; devices, fifos
    and sockets are left out (docker cp's GET archive). The caller keeps `fd` open while
    the generator runs and closes it (inroot.py resolved it inside a container's root)."""
    out = _Out()
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
        own = reopen(fd, _DIR if stat.S_ISDIR(st.st_mode) else _FILE)
        try:
            first = [(arcname, -1, "", os.fstat(own), own)]
            rest = _walk(own, arcname) if stat.S_ISDIR(st.st_mode) else iter(())
            yield from _entries(out, _chain(first, rest), False, skip_special=True)
        finally:
            os.close(own)
    yield out.end()


def _chain(first, rest):
    yield from first
    yield from rest


Entry = tuple[str, int, str, os.stat_result, "int | None"]  # the last: the entry's own fd if open


def _walk(root_fd: int, prefix: str) -> Iterator[Entry]:
    """(arcname, parent fd, name, lstat, fd of the entry if a directory) for every entry
    below `root_fd`, sorted, parents first. Directory fds stay open while their subtree is
    walked; a directory swapped for something else meanwhile is skipped."""
    stack: list[tuple[int, str, Iterator[str], bool]] = [(root_fd, prefix, iter(_sorted(root_fd)), False)]
    try:
        while stack:
            fd, rel_dir, names, owned = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                if owned:
                    os.close(fd)
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                yield rel, fd, name, st, None
                continue
            try:
                cfd = os.open(name, _DIR, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    continue
                raise
            stack.append((cfd, rel, iter(_sorted(cfd)), True))
            yield rel, fd, name, st, cfd
    finally:
        for fd, _, _, owned in stack:
            if owned:
                os.close(fd)


def _sorted(fd: int) -> list[str]:
    return sorted(os.listdir(fd))


def _info(rel: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(rel)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    ti.uname = ti.gname = ""
    return ti


def _xattrs(target: int, ti: tarfile.TarInfo) -> None:
    try:
        names = os.listxattr(target)
    except OSError:
        return
    for name in names:
        if name.startswith(KEPT_XATTRS):
            try:
                value = os.getxattr(target, name)
            except OSError:
                continue
            ti.pax_headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")


def _opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _entries(out: _Out, entries: Iterator[Entry], whiteouts: bool, skip_special: bool) -> Iterator[bytes]:
    links: dict[tuple[int, int], str] = {}
    for rel, pfd, name, st, dfd in entries:
        mode = st.st_mode
        ti = _info(rel, st)
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                ti.type, ti.linkname = tarfile.LNKTYPE, links[key]
                out.put(header(ti))
            else:
                if st.st_nlink > 1:
                    links[key] = rel
                yield from _file(out, pfd, name, ti, dfd)
        elif stat.S_ISDIR(mode):
            ti.type = tarfile.DIRTYPE
            if dfd is not None:
                _xattrs(dfd, ti)
            out.put(header(ti))
            if whiteouts and dfd is not None and _opaque(dfd):
                op = _info(f"{rel}/{WH_OPAQUE}", st)
                op.mode &= 0o777
                out.put(header(op))
        elif stat.S_ISLNK(mode):
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=pfd)
            out.put(header(ti))
        elif whiteouts and stat.S_ISCHR(mode) and st.st_rdev == 0:
            wh = _info(os.path.join(os.path.dirname(rel), WH_PREFIX + name), st)
            wh.mode &= 0o777
            out.put(header(wh))
        elif (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)) and not skip_special:
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else (
                tarfile.BLKTYPE if stat.S_ISBLK(mode) else tarfile.FIFOTYPE)
            if not stat.S_ISFIFO(mode):
                ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            out.put(header(ti))
        # sockets: not representable
        if out.full():
            yield out.take()


def _file(out: _Out, pfd: int, name: str, ti: tarfile.TarInfo, own: int | None = None) -> Iterator[bytes]:
    """Header and content of regular file `name` in `pfd` (or of the open fd `own`)."""
    if own is not None:
        fd = os.dup(own)
    else:
        try:
            fd = os.open(name, _FILE, dir_fd=pfd)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ELOOP):
                return  # gone or swapped for a symlink since the walk saw it
            raise
    with os.fdopen(fd, "rb", buffering=0) as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return
        ti.size = st.st_size
        _xattrs(fd, ti)
        out.put(header(ti))
        left = ti.size
        while left:
            chunk = f.read(min(left, CHUNK))
            if not chunk:  # shrank while we read: pad, the header is out already
                chunk = b"\0" * min(left, CHUNK)
            out.put(chunk)
            left -= len(chunk)
            if out.full():
                yield out.take()
        out.put(padding(ti.size))
