"""Mounts of a container (Docker's -v binds, named and anonymous volumes, and the engine's own
/etc/hostname, /etc/hosts, /etc/resolv.conf) as validated values and LXC mount entries.

Contract:
- `validate(mounts)` checks the spec's list of mount dicts {"type": "bind"|"volume"|"tmpfs",
  "source", "target", "read_only", "mode", "origin"}: targets absolute, not "/", cleaned,
  unique; bind sources absolute; volume names Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`; no
  control character (newline, tab, NUL, ...) anywhere, so no value can start an LXC key.
- `parse_bind("src:dst[:opts]")`, `from_docker_mount({...})` and `parse_tmpfs(path, opts)`
  turn Docker's request forms into such dicts (type "tmpfs": no source, the options as the
  mode, checked against an allowlist); InvalidArgument for anything Docker refuses or we do
  not support.
- `prepare(rootfs, plan)` makes every mount point inside the container's merged root and
  returns the `lxc.mount.entry` values. A target is resolved by the kernel inside the root
  (inroot.py, openat2 RESOLVE_IN_ROOT): a symlink the image planted at or above a target is
  followed as the container would follow it, inside the root, never onto the host. Missing
  components are made with mkdirat/O_NOFOLLOW. The entry names the resolved, symlink-free
  path (read back from the fd), relative to the root, so LXC (which also refuses symlinks
  in a target) mounts exactly what we resolved. A target nested below another mount's
  target is made inside that mount's source instead (what the container will see there).
- Paths in entries are escaped as fstab's getmntent decodes them (space \\040, backslash
  \\134); other control characters are refused, never escaped.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument, shown
from . import inroot

TYPES = ("bind", "volume", "tmpfs")
VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")  # Docker's (volume/local)
VOLUME_NAME_MAX = 255
BIND_MODES = {"ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared",
              "slave", "rslave", "consistent", "cached", "delegated"}
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")  # shown, not applied
ORIGINS = ("binds", "mounts", "volumes", "image", "volumes_from", "tmpfs")
# tmpfs: Docker's defaults, then the flags and data options it accepts (kernel names)
TMPFS_DEFAULTS = ("rw", "noexec", "nosuid", "nodev")
TMPFS_FLAGS = {"rw": "ro", "ro": "rw", "exec": "noexec", "noexec": "exec", "suid": "nosuid",
               "nosuid": "suid", "dev": "nodev", "nodev": "dev", "atime": "noatime",
               "noatime": "atime", "relatime": "norelatime", "norelatime": "relatime",
               "strictatime": "nostrictatime", "nostrictatime": "strictatime",
               "diratime": "nodiratime", "nodiratime": "diratime", "sync": "async", "async": "sync",
               "dirsync": ""}
TMPFS_DATA = re.compile(r"^(size=[0-9]{1,19}[kmgKMG%]?|nr_inodes=[0-9]{1,19}[kmgKMG]?|mode=[0-7]{3,4}"
                        r"|uid=[0-9]{1,10}|gid=[0-9]{1,10})\Z")
MAX_MOUNTS = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
REFUSED_TARGETS = ("proc", "sys")  # runc refuses mounts over /proc; /sys is the kernel's


def _path(value: Any, what: str) -> str:
    """An absolute, lexically cleaned path without control characters."""
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{what} must be a non-empty string")
    if _CONTROL.search(value):
        raise InvalidArgument(f"{what} must not contain control characters: {shown(value)}")
    if not value.startswith("/"):
        raise InvalidArgument(f"invalid mount config: {what} must be an absolute path: {shown(value)}")
    inroot.check_path(value, what)
    return posixpath.normpath(value).replace("//", "/")


def volume_name(name: Any) -> str:
    """`name` if it is a valid volume name (Docker's rule, at most 255 characters)."""
    if not isinstance(name, str) or len(name) > VOLUME_NAME_MAX or not VOLUME_NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid volume name {shown(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, "
            "at least 2 characters")
    return name


def target(value: Any) -> str:
    t = _path(value, "mount target")
    if t == "/":
        raise InvalidArgument("invalid mount config: destination can't be '/'")
    if t.split("/")[1] in REFUSED_TARGETS:
        raise InvalidArgument(f"invalid mount config: cannot mount over {shown(t)}")
    return t


def mount(type_: str, source: str, dest: str, read_only: bool = False, mode: str = "",
          origin: str = "binds") -> dict[str, Any]:
    """One validated mount dict."""
    return check({"type": type_, "source": source, "target": dest, "read_only": read_only,
                  "mode": mode, "origin": origin})


def check(m: Any) -> dict[str, Any]:
    """A mount dict with every field checked (and paths cleaned)."""
    if not isinstance(m, dict):
        raise InvalidArgument("mounts must be a list of objects")
    kind = m.get("type")
    if kind not in TYPES:
        raise InvalidArgument(f"mount type must be one of {', '.join(TYPES)}, not {shown(kind)}")
    source = m.get("source") or ""
    if kind == "bind":
        source = _path(source, "bind source")
    elif kind == "tmpfs":
        if source:
            raise InvalidArgument("invalid mount config for type \"tmpfs\": field Source must be empty")
    elif source:  # "" = anonymous: named when the container is created
        source = volume_name(source)
    ro, mode, origin = m.get("read_only", False), m.get("mode") or "", m.get("origin") or "binds"
    if not isinstance(ro, bool):
        raise InvalidArgument("read_only must be a boolean")
    if not isinstance(mode, str) or len(mode) > 256 or _CONTROL.search(mode):
        raise InvalidArgument("invalid mount mode")
    if kind == "tmpfs":
        tmpfs_options(mode, ro)
    if origin not in ORIGINS:
        raise InvalidArgument("invalid mount origin")
    return {"type": kind, "source": source, "target": target(m.get("target")), "read_only": ro,
            "mode": mode, "origin": origin}


def validate(mounts: Any) -> list[dict[str, Any]]:
    """The spec's mounts, each checked; duplicate targets refused (as Docker)."""
    if not isinstance(mounts, list):
        raise InvalidArgument("mounts must be a list")
    if len(mounts) > MAX_MOUNTS:
        raise InvalidArgument(f"at most {MAX_MOUNTS} mounts")
    out = [check(m) for m in mounts]
    seen: set[str] = set()
    for m in out:
        if m["target"] in seen:
            raise InvalidArgument(f"Duplicate mount point: {shown(m['target'])}")
        seen.add(m["target"])
    return out


def parse_bind(spec: Any) -> dict[str, Any]:
    """Docker's HostConfig.Binds entry: "/host:/ctr[:opts]", "name:/ctr[:opts]" or "/ctr"
    (anonymous). opts: comma-separated ro|rw plus the SELinux, nocopy and propagation words
    Docker accepts (kept as the mode, without effect here)."""
    if not isinstance(spec, str) or not spec:
        raise InvalidArgument("Binds must be a list of strings")
    parts = spec.split(":")
    if len(parts) == 1:
        return mount("volume", "", parts[0], origin="binds")
    if len(parts) > 3:
        raise InvalidArgument(f"invalid volume specification: {shown(spec)}")
    src, dst = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    words = [w for w in mode.split(",") if w] if mode else []
    if any(w not in BIND_MODES for w in words) or ("ro" in words and "rw" in words):
        raise InvalidArgument(f"invalid mode: {shown(mode)}")
    if not src:
        raise InvalidArgument(f"invalid volume specification: {shown(spec)}")
    kind = "bind" if src.startswith("/") else "volume"
    return mount(kind, src, dst, "ro" in words, mode, "binds")


def from_docker_mount(doc: Any) -> dict[str, Any]:
    """A HostConfig.Mounts entry {"Type", "Source", "Target", "ReadOnly", ...}."""
    if not isinstance(doc, dict):
        raise InvalidArgument("Mounts must be a list of objects")
    kind = doc.get("Type") or "volume"
    if kind not in TYPES:
        raise InvalidArgument(f"mount type {shown(kind)} is not supported (bind, volume or tmpfs)")
    src = doc.get("Source") or ""
    if kind == "bind" and not src:
        raise InvalidArgument("invalid mount config for type \"bind\": field Source must not be empty")
    ro = bool(doc.get("ReadOnly", False))
    if kind == "tmpfs":
        opts = doc.get("TmpfsOptions") or {}
        size, mode = opts.get("SizeBytes"), opts.get("Mode")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise InvalidArgument("TmpfsOptions.SizeBytes must be a byte count")
        if mode is not None and (isinstance(mode, bool) or not isinstance(mode, int)
                                 or not 0 <= mode <= 0o7777):
            raise InvalidArgument("TmpfsOptions.Mode must be a file mode")
        words = ([f"size={size}"] if size else []) + ([f"mode={mode:o}"] if mode is not None else [])
        return mount("tmpfs", "", doc.get("Target") or "", ro, ",".join(words), "mounts")
    nocopy = bool((doc.get("VolumeOptions") or {}).get("NoCopy")) if kind == "volume" else False
    propagation = (doc.get("BindOptions") or {}).get("Propagation") or "" if kind == "bind" else ""
    if propagation and propagation not in PROPAGATIONS:
        raise InvalidArgument(f"invalid propagation mode: {shown(propagation)}")
    mode = ",".join(w for w, on in (("ro", ro), ("nocopy", nocopy), (propagation, propagation)) if on)
    return mount(kind, src, doc.get("Target") or doc.get("Destination") or "", ro, mode, "mounts")


def tmpfs_options(given: str, read_only: bool = False) -> str:
    """The mount options of a tmpfs: Docker's defaults (rw,noexec,nosuid,nodev) with the
    given comma-separated flags and size/mode/uid/gid/nr_inodes applied; anything else is
    refused (InvalidArgument)."""
    flags = list(TMPFS_DEFAULTS)
    data: dict[str, str] = {}
    for word in [w for w in given.split(",") if w] + (["ro"] if read_only else []):
        if word in TMPFS_FLAGS:
            flags = [f for f in flags if f not in (word, TMPFS_FLAGS[word])] + [word]
        elif TMPFS_DATA.fullmatch(word):
            key, _, value = word.partition("=")
            data[key] = value
        else:
            raise InvalidArgument(f"invalid tmpfs option {shown(word)}")
    return ",".join([*flags, *(f"{k}={v}" for k, v in data.items())])


def parse_tmpfs(path: Any, options: Any) -> dict[str, Any]:
    """A HostConfig.Tmpfs entry {"/run": "size=64m,mode=1777"}."""
    if not isinstance(options, str):
        raise InvalidArgument("Tmpfs options must be strings")
    return mount("tmpfs", "", path, False, options, "tmpfs")


def check_sources(ms: list[dict[str, Any]]) -> None:
    """At create, as Docker: a HostConfig.Mounts bind's source must exist (a -v bind's is
    made at start when missing)."""
    for m in ms:
        if m["type"] == "bind" and m.get("origin") == "mounts" and not os.path.exists(m["source"]):
            raise InvalidArgument(
                f"invalid mount config for type \"bind\": bind source path does not exist: "
                f"{shown(m['source'])}")


def escape(path: str) -> str:
    """`path` as one fstab field (getmntent decodes \\040 and \\134); control characters
    were refused before, and are refused again here."""
    if _CONTROL.search(path):
        raise InvalidArgument(f"path must not contain control characters: {shown(path)}")
    return path.replace("\\", "\\134").replace(" ", "\\040")


@dataclass(frozen=True)
class Planned:
    """A mount ready to prepare: a host `source` path, the container `target`, read-only or
    not; `is_file`: the source is not a directory (a file, a socket such as docker.sock, a
    device), so the mount point is an empty file."""

    source: str
    target: str
    read_only: bool = False
    is_file: bool = False
    tmpfs: str = ""  # a tmpfs with these options (tmpfs_options) instead of a bind of source


def prepare(rootfs: str, plan: list[Planned]) -> list[str]:
    """Make each mount point and return the `lxc.mount.entry` values, parents first (by
    target depth, as Docker orders them). InvalidArgument when a target cannot be a mount
    point (a file where a directory is needed, a dangling symlink, a path under /proc)."""
    ordered = sorted(plan, key=lambda p: (p.target.count("/"), p.target))
    real_root = os.path.realpath(rootfs)
    entries: list[str] = []
    done: list[tuple[str, str, str]] = []  # (container target, resolved rel, host source)
    for p in ordered:
        parent = next((d for d in reversed(done) if p.target.startswith(d[0].rstrip("/") + "/")), None)
        if parent is not None and not parent[2]:
            raise InvalidArgument(f"a mount below the tmpfs at {shown(parent[0])} is not supported")
        if parent is None:
            rel = _make_point(real_root, p.target, p.is_file)
        else:  # below another mount: the point is made in that mount's source
            inner = _make_point(os.path.realpath(parent[2]), p.target[len(parent[0]):], p.is_file)
            rel = posixpath.join(parent[1], inner)
        if rel.split("/")[0] in REFUSED_TARGETS:
            raise InvalidArgument(f"mount target {shown(p.target)} resolves to /{shown(rel)}: refused")
        if p.tmpfs:
            entries.append(f"tmpfs {escape(rel)} tmpfs {p.tmpfs} 0 0")
            done.append((p.target, rel, ""))
            continue
        opts = "bind" if p.is_file else "rbind"
        entries.append(f"{escape(p.source)} {escape(rel)} none {opts}{',ro' if p.read_only else ''} 0 0")
        done.append((p.target, rel, p.source))
    return entries


def _make_point(real_root: str, path: str, is_file: bool) -> str:
    """Make mount point `path` inside the tree at `real_root` (resolved in it); return its
    symlink-free path relative to `real_root`."""
    root_fd = inroot.open_root(real_root)
    try:
        if is_file:
            fd = _file_point(root_fd, path)
        else:
            try:
                fd, _ = inroot.make_dirs(root_fd, path)
            except InvalidArgument:
                raise InvalidArgument(f"mount target {shown(path)} is not a directory") from None
            except OSError as e:
                raise InvalidArgument(f"cannot make mount point {shown(path)}: {e.strerror}") from None
    finally:
        os.close(root_fd)
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    if where == real_root or not where.startswith(real_root + "/"):
        raise InvalidArgument(f"mount target {shown(path)} resolves outside the container: refused")
    rel = where[len(real_root) + 1:]
    if _CONTROL.search(rel):
        raise InvalidArgument(f"mount target {shown(path)} resolves to a name with control characters")
    return rel


def _file_point(root_fd: int, path: str) -> int:
    """An O_PATH fd on regular file `path` inside the root: the one there (a symlink to a
    regular file followed inside the root; never opened for writing, which would copy it up
    into the container's layer), else a new empty one (a dangling symlink or other non-file
    there is replaced, never followed; a directory is refused)."""
    try:
        fd = inroot.open_path(root_fd, path)
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
    except OSError:
        pass
    dirname, name = posixpath.split(inroot.clean(path))
    dfd, _ = inroot.make_dirs(root_fd, "/" + dirname)
    try:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"mount target {shown(path)} is a directory")
            os.unlink(name, dir_fd=dfd)
        except FileNotFoundError:
            pass
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644, dir_fd=dfd))
        except OSError as e:
            raise InvalidArgument(f"cannot make mount point {shown(path)}: {e.strerror}") from None
        return os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    finally:
        os.close(dfd)
