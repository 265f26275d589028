"""A build's context: the client's tar, unpacked into a private directory under tmp/, and
the files COPY and ADD take from it.

Contract:
- the tar (plain or compressed) is extracted by archive.extract_layer (tarlimits' header
  caps, nothing outside the directory, symlinks stored and never followed), at most
  `max_bytes` of uncompressed tar (InvalidArgument past that); every file is then owned
  by root (COPY gives root's ownership, as Docker does);
- `.dockerignore` (Docker's patterns, dockerignore.py) removes what it excludes, the
  Dockerfile and .dockerignore included only when listed (Docker's daemon does the same);
- a source path is cleaned lexically (a ".." that climbs out of the context is refused:
  "forbidden path outside the build context") and resolved by the kernel inside the
  context (inroot.py, RESOLVE_IN_ROOT): a symlink in the context, even to "/etc/passwd",
  means a path inside the context, never the host's;
- `copy_into(root_fd, ...)` writes through an fd of the destination directory resolved
  inside the image's root, and below it archive.extract_layer never follows a symlink.
The directory is removed by `close()`.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import InvalidArgument, NotFound, shown
from ..fs import inroot
from ..fs.archive import extract_layer
from ..fs.chunkfile import ChunkFile
from ..fs.compression import DECOMPRESSION_ERRORS, decompressed, detect
from ..fs.tarcreate import tar_path
from ..layout import Layout
from . import dockerignore

DEFAULT_MAX = 1 << 30  # bytes of uncompressed context tar
MAX_DOCKERFILE = 1 << 20
GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Source:
    rel: str  # the path inside the context it resolved to ("" for the root)
    fd: int  # O_PATH fd on it (closed by Context.close)
    mode: int  # st_mode


class _Capped:
    """Reads through `raw`, InvalidArgument once more than `left` bytes came."""

    def __init__(self, raw: BinaryIO, left: int):
        self.raw, self.left, self.max = raw, left, left

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.left -= len(data)
        if self.left < 0:
            raise InvalidArgument(f"build context is larger than the limit of {self.max} bytes")
        return data


class Context:
    """The unpacked context of one build (see the module docstring)."""

    def __init__(self, layout: Layout, stream: BinaryIO | None, max_bytes: int = DEFAULT_MAX):
        layout.ensure()
        self.tmp = tempfile.mkdtemp(prefix="build-", dir=layout.tmp)
        self.dir = os.path.join(self.tmp, "context")
        self._fds: list[int] = []
        try:
            os.mkdir(self.dir, 0o755)
            if stream is not None:
                try:
                    raw = decompressed(stream)
                except ValueError as e:
                    raise InvalidArgument(f"build context: {e}") from None
                except DECOMPRESSION_ERRORS as e:
                    raise InvalidArgument(f"build context: corrupt archive: {e}") from None
                extract_layer(_Capped(raw, max_bytes), self.dir)  # type: ignore[arg-type]
            _own_by_root(self.dir)
            self.root_fd = inroot.open_root(self.dir)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        os.close(self.root_fd)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the Dockerfile and .dockerignore --
    def read_text(self, name: str, what: str) -> str | None:
        """Regular file `name` of the context (resolved inside it), None when absent."""
        try:
            fd = inroot.open_file(self.root_fd, name)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except InvalidArgument:
            raise InvalidArgument(f"{what} {shown(name)} is not a regular file") from None
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_DOCKERFILE + 1)
        if len(data) > MAX_DOCKERFILE:
            raise InvalidArgument(f"{what} is larger than {MAX_DOCKERFILE} bytes")
        return data.decode("utf-8", "replace").lstrip("\ufeff")

    def dockerfile(self, name: str = "Dockerfile") -> str:
        """The Dockerfile's text (`name` relative to the context), InvalidArgument if absent."""
        _inside(name or "Dockerfile")
        text = self.read_text(name or "Dockerfile", "Dockerfile")
        if text is None and not name:
            text = self.read_text("dockerfile", "Dockerfile")
        if text is None:
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {name or 'Dockerfile'}")
        return text

    def apply_dockerignore(self) -> int:
        """Remove what .dockerignore excludes; the number of entries removed."""
        text = self.read_text(".dockerignore", ".dockerignore")
        if not text:
            return 0
        patterns = dockerignore.parse(text)
        removed = 0
        for top, dirs, files in os.walk(self.dir, topdown=False):
            rel_top = os.path.relpath(top, self.dir)
            for name in files + dirs:
                rel = name if rel_top == "." else f"{rel_top}/{name}"
                if not dockerignore.excluded(patterns, rel):
                    continue
                path = os.path.join(top, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    if os.listdir(path):
                        continue  # an exception ("!") kept something inside
                    os.rmdir(path)
                else:
                    os.unlink(path)
                removed += 1
        return removed

    # -- COPY / ADD sources --
    def sources(self, patterns: list[str]) -> list[Source]:
        """What each source (maybe a wildcard) names in the context; InvalidArgument with
        Docker's messages when outside the context or absent."""
        out: list[Source] = []
        for pattern in patterns:
            rel = _inside(pattern)
            if any(c in rel for c in GLOB_CHARS):
                hits = self._glob(rel)
                if not hits:
                    raise InvalidArgument(f"COPY failed: no source files were specified (nothing matches "
                                          f"{shown(pattern)})")
                out += [self._source(h, h) for h in hits]
            else:
                out.append(self._source(rel, pattern))
        return out

    def _source(self, rel: str, given: str) -> Source:
        try:
            fd = inroot.open_path(self.root_fd, rel or ".")
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"COPY failed: file not found in build context or excluded by .dockerignore: "
                           f"stat {given}: file does not exist") from None
        except OSError as e:
            raise InvalidArgument(f"COPY failed: {shown(given)}: {e.strerror}") from None
        self._fds.append(fd)
        real = os.readlink(f"/proc/self/fd/{fd}")
        if real != self.dir and not real.startswith(self.dir + "/"):  # the kernel kept it inside
            raise InvalidArgument(f"forbidden path outside the build context: {given}")
        return Source(os.path.relpath(real, self.dir) if real != self.dir else "", fd, os.fstat(fd).st_mode)

    def _glob(self, pattern: str) -> list[str]:
        regex = dockerignore._compile(pattern)
        hits = []
        for top, dirs, files in os.walk(self.dir):
            rel_top = os.path.relpath(top, self.dir)
            for name in sorted(dirs + files):
                rel = name if rel_top == "." else f"{rel_top}/{name}"
                if regex.match(rel):
                    hits.append(rel)
        return sorted(set(hits))

    def digest(self, sources: list[Source]) -> tuple[str, str]:
        """(kind, sha256 hex) of the sources' contents, names, modes and owners (not their
        times, as Docker): the cache key of a COPY/ADD. kind: file, dir or multi."""
        h = hashlib.sha256()
        for src in sources:
            h.update(f"source\0{src.rel}\0".encode("utf-8", "surrogateescape"))
            for rel, st, path in self._entries(src):
                link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
                h.update(f"{rel}\0{st.st_mode:o}\0{st.st_uid}\0{st.st_gid}\0{st.st_size}\0{link}\0"
                         .encode("utf-8", "surrogateescape"))
                if stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
        if len(sources) > 1:
            kind = "multi"
        else:
            kind = "dir" if stat.S_ISDIR(sources[0].mode) else "file"
        return kind, h.hexdigest()

    def _entries(self, src: Source) -> Iterator[tuple[str, os.stat_result, str]]:
        """(relative name, lstat, path) of the source and everything below it (our own
        private tree: walked without following symlinks)."""
        base = os.path.join(self.dir, src.rel) if src.rel else self.dir
        yield ".", os.lstat(base), base
        if not stat.S_ISDIR(src.mode):
            return
        for top, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(dirs + files):
                path = os.path.join(top, name)
                yield os.path.relpath(path, base), os.lstat(path), path

    def copy_into(self, root_fd: int, sources: list[Source], dest: str, add: bool,
                  owner: tuple[int, int] | None = None) -> None:
        """Copy the sources to `dest` inside the root `root_fd` (the image's merged root):
        a directory's contents into `dest`; a file to `dest` (into it when it ends with "/"
        or is a directory there); with `add`, a local tar archive is extracted into `dest`.
        `owner` (uid, gid): what was copied is given to them (COPY --chown), else root's."""
        for src in sources:
            if add and stat.S_ISREG(src.mode) and _is_archive(src.fd):
                self._extract(root_fd, src, dest, owner)
            elif stat.S_ISDIR(src.mode):
                names = [rel for rel, _, _ in self._entries(src) if rel != "."]
                self._put(root_fd, dest, src.fd, ".", names, owner)
            else:
                into_dir = dest.endswith("/") or _is_dir(root_fd, dest)
                parent, name = (dest, posixpath.basename(src.rel)) if into_dir else posixpath.split(dest)
                self._put(root_fd, parent or "/", src.fd, name, [name], owner)

    @staticmethod
    def _put(root_fd: int, directory: str, fd: int, arcname: str, names: list[str],
             owner: tuple[int, int] | None) -> None:
        dir_fd = _make_dirs(root_fd, directory)
        try:
            extract_layer(ChunkFile(tar_path(fd, arcname)), dir_fd)  # type: ignore[arg-type]
            _chown(dir_fd, names, owner)
        finally:
            os.close(dir_fd)

    @staticmethod
    def _extract(root_fd: int, src: Source, dest: str, owner: tuple[int, int] | None) -> None:
        dir_fd = _make_dirs(root_fd, dest)
        try:
            with os.fdopen(inroot.reopen(src.fd, os.O_RDONLY), "rb") as f:
                extract_layer(f, dir_fd)
            if owner is not None:
                with os.fdopen(inroot.reopen(src.fd, os.O_RDONLY), "rb") as f:
                    _chown(dir_fd, _member_names(f), owner)
        finally:
            os.close(dir_fd)


def resolve_owner(root_fd: int, chown: str) -> tuple[int, int]:
    """(uid, gid) of COPY --chown=user[:group], names looked up in the image's own
    /etc/passwd and /etc/group (inside the root); without a group the gid is the uid, as
    Docker does."""
    from ..run import users

    root = f"/proc/self/fd/{root_fd}"
    name, _, group = chown.partition(":")
    uid = users.resolve(root, name).uid
    return uid, users.resolve(root, chown).gid if group else uid


def _member_names(f: BinaryIO) -> list[str]:
    """The cleaned names of a (maybe compressed) tar's members, as extract_layer made them."""
    import tarfile

    from ..fs.archive import clean_name
    from ..fs.tarlimits import Member

    with tarfile.open(fileobj=decompressed(f), mode="r|", tarinfo=Member) as tar:  # type: ignore[call-overload]
        return [n for m in tar if (n := clean_name(m.name))]


def _chown(dir_fd: int, names: list[str], owner: tuple[int, int] | None) -> None:
    """Give the entries `names` (relative to `dir_fd`, just made by extract_layer, so no
    symlink on their way) to `owner`; symlinks themselves are changed, never followed."""
    if owner is None:
        return
    for name in names:
        try:
            os.chown(name, owner[0], owner[1], dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # a device or fifo extract_layer skipped


def _inside(path: str) -> str:
    """`path` relative to the context root, cleaned; a ".." out of it is refused."""
    inroot.check_path(path, "source path")
    cleaned = posixpath.normpath(path)
    if cleaned == ".." or cleaned.startswith("../"):
        raise InvalidArgument(f"forbidden path outside the build context: {path} ()")
    cleaned = cleaned.lstrip("/")
    return "" if cleaned == "." else cleaned


def _make_dirs(root_fd: int, path: str) -> int:
    try:
        fd, _ = inroot.make_dirs(root_fd, path)
    except OSError as e:
        raise InvalidArgument(f"cannot create {shown(path)} in the image: {e.strerror}") from None
    return fd


def _is_dir(root_fd: int, path: str) -> bool:
    try:
        fd = inroot.open_path(root_fd, path)
    except OSError:
        return False
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _is_archive(fd: int) -> bool:
    """Whether the file is a tar archive (plain, gzip, bzip2 or xz), as ADD decides."""
    with os.fdopen(inroot.reopen(fd, os.O_RDONLY), "rb") as f:
        head = f.read(512)
        if detect(head) not in ("", "zstd"):
            f.seek(0)
            try:
                head = decompressed(f).read(512)
            except (ValueError, *DECOMPRESSION_ERRORS):
                return False
    if len(head) < 512 or head[257:262] != b"ustar":
        return len(head) == 512 and _v7_checksum_ok(head)
    return True


def _v7_checksum_ok(block: bytes) -> bool:
    """An old-style (pre-POSIX) tar header: its checksum field adds up."""
    try:
        want = int(block[148:156].split(b"\0")[0].strip() or b"-1", 8)
    except ValueError:
        return False
    return want == sum(block[:148]) + 8 * 32 + sum(block[156:])


def _own_by_root(top: str) -> None:
    """Every entry of our private context tree owned by root (not following symlinks)."""
    _root_owned(top)
    for base, dirs, files in os.walk(top):
        for name in dirs + files:
            _root_owned(os.path.join(base, name))


def _root_owned(path: str) -> None:
    st = os.lstat(path)
    if st.st_uid or st.st_gid:
        os.lchown(path, 0, 0)
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o6000:  # chown cleared setuid/setgid
            os.chmod(path, stat.S_IMODE(st.st_mode))
