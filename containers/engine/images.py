"""Image store (minimal; the images issue extends it).

Layers are directories under <state>/layers/<diff_id>/, content-addressed by the sha256 of
their tar stream (as OCI diff_ids). Images are OCI image configs stored as
<state>/images/<image_id>.json where image_id is the sha256 of that JSON. Everything is
written to a temporary name first and renamed into place, so nothing half-written is seen.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument, NotFound
from .layout import Layout

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"


@dataclass(frozen=True)
class ImageInfo:
    id: str  # 64 hex, no "sha256:" prefix
    layers: list[str]  # diff ids (64 hex), bottom-most first
    config: dict[str, Any]  # OCI "config" section: Cmd, Env, WorkingDir, User
    created: str
    size: int


class ImageStore:
    def __init__(self, layout: Layout):
        self.layout = layout

    def layer_path(self, diff_id: str) -> str:
        return os.path.join(self.layout.layers, diff_id)

    def lower_dirs(self, info: ImageInfo) -> list[str]:
        """Layer directories for an overlay lowerdir, top-most first."""
        return [self.layer_path(d) for d in reversed(info.layers)]

    def get(self, image_id: str) -> ImageInfo:
        path = os.path.join(self.layout.images, f"{image_id}.json")
        try:
            with open(path) as f:
                doc = json.load(f)
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None
        return _info(image_id, doc, self._size(doc))

    def _size(self, doc: dict[str, Any]) -> int:
        return sum(_dir_size(self.layer_path(d.split(":", 1)[1])) for d in doc["rootfs"]["diff_ids"])

    def import_tar(self, stream, comment: str = "", created_by: str = "import") -> ImageInfo:
        """A new single-layer image from a rootfs tar stream (plain/gzip/bzip2/xz)."""
        diff_id = self._add_layer(stream)
        now = now_rfc3339()
        doc = {"architecture": "amd64", "os": "linux", "created": now, "comment": comment,
               "config": {"Env": [f"PATH={DEFAULT_PATH}"]},
               "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
               "history": [{"created": now, "created_by": created_by, "comment": comment}]}
        return self._write_config(doc)

    def commit(self, upper: str, base: ImageInfo, author: str = "", comment: str = "",
               config_changes: dict[str, Any] | None = None, created_by: str = "") -> ImageInfo:
        """A new image: `base` plus the container's changes (its upper dir) as one layer.

        The layer is the upper dir as a tar with whiteouts in the `.wh.` form (its sha256 is
        the diff_id), then extracted again for overlay use."""
        from .archive import tar_stream

        fd, tmp = tempfile.mkstemp(prefix="commit-", suffix=".tar", dir=self.layout.tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in tar_stream(upper, whiteouts=True):
                    f.write(chunk)
            with open(tmp, "rb") as f:
                diff_id = self._add_layer(f)
        finally:
            os.unlink(tmp)
        base_doc = self.config_doc(base.id)
        now = now_rfc3339()
        cfg = {**(base_doc.get("config") or {}), **(config_changes or {})}
        doc = {**base_doc, "created": now, "author": author, "comment": comment, "config": cfg,
               "rootfs": {"type": "layers",
                          "diff_ids": [*base_doc["rootfs"]["diff_ids"], f"sha256:{diff_id}"]},
               "history": [*(base_doc.get("history") or []),
                           {"created": now, "created_by": created_by, "author": author,
                            "comment": comment}]}
        return self._write_config(doc)

    def config_doc(self, image_id: str) -> dict[str, Any]:
        try:
            with open(os.path.join(self.layout.images, f"{image_id}.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None

    def history(self, image_id: str) -> list[dict[str, Any]]:
        """Newest first: created, created_by, comment, size (of the layer it made, or 0)."""
        doc = self.config_doc(image_id)
        layers = iter(d.split(":", 1)[1] for d in doc["rootfs"]["diff_ids"])
        out = []
        for h in doc.get("history") or []:
            size = 0 if h.get("empty_layer") else _dir_size(self.layer_path(next(layers, "")))
            out.append({"created": h.get("created", ""), "created_by": h.get("created_by", ""),
                        "comment": h.get("comment", ""), "size": size})
        return list(reversed(out))

    def remove(self, image_id: str, layers_in_use: set[str]) -> None:
        """Delete the image config and those of its layers no other image uses."""
        doc = self.config_doc(image_id)
        os.unlink(os.path.join(self.layout.images, f"{image_id}.json"))
        for d in doc["rootfs"]["diff_ids"]:
            diff_id = d.split(":", 1)[1]
            if diff_id not in layers_in_use:
                shutil.rmtree(self.layer_path(diff_id), ignore_errors=True)

    def _add_layer(self, stream) -> str:
        """Extract `stream` into a new content-addressed layer (stored once); its diff_id."""
        from .archive import extract_layer

        self.layout.ensure()
        tmp = tempfile.mkdtemp(prefix="layer-", dir=self.layout.tmp)
        try:
            diff_id = extract_layer(stream, tmp)
            final = self.layer_path(diff_id)
            if os.path.isdir(final):
                shutil.rmtree(tmp)
            else:
                os.chmod(tmp, 0o755)
                os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return diff_id

    def build_busybox(self, busybox: str = "/bin/busybox") -> ImageInfo:
        """Build the default busybox image from the host's static busybox. Idempotent."""
        if not os.path.isfile(busybox):
            raise InvalidArgument(f"{busybox} not found: install busybox-static")
        self.layout.ensure()
        tmp = tempfile.mkdtemp(prefix="layer-", dir=self.layout.tmp)
        try:
            _populate_busybox(tmp, busybox)
            diff_id = _diff_id(tmp)
            final = self.layer_path(diff_id)
            if os.path.isdir(final):
                shutil.rmtree(tmp)
            else:
                os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        doc = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "author": "dockerweb",
            "config": {"Cmd": ["sh"], "Env": [f"PATH={DEFAULT_PATH}"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created": "1970-01-01T00:00:00Z",
                         "created_by": f"dockerweb: busybox --install from {busybox}"}],
        }
        return self._write_config(doc)

    def _write_config(self, doc: dict[str, Any]) -> ImageInfo:
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        image_id = hashlib.sha256(raw).hexdigest()
        path = os.path.join(self.layout.images, f"{image_id}.json")
        if not os.path.exists(path):
            tmp = f"{path}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
        return _info(image_id, doc, self._size(doc))


def _info(image_id: str, doc: dict[str, Any], size: int) -> ImageInfo:
    return ImageInfo(
        id=image_id,
        layers=[d.split(":", 1)[1] for d in doc["rootfs"]["diff_ids"]],
        config=doc.get("config") or {},
        created=doc.get("created", ""),
        size=size,
    )


def _populate_busybox(root: str, busybox: str) -> None:
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "home", "var",
              "dev", "proc", "sys", "run"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    os.chmod(os.path.join(root, "root"), 0o700)
    shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
    os.chmod(os.path.join(root, "bin", "busybox"), 0o755)
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for rel in applets:
        link = os.path.join(root, rel)
        if rel == "bin/busybox" or os.path.lexists(link):
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)
    for name, text in (("passwd", PASSWD), ("group", GROUP)):
        with open(os.path.join(root, "etc", name), "w") as f:
            f.write(text)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), (0, 0), follow_symlinks=False)


def _diff_id(root: str) -> str:
    """sha256 of a deterministic tar of `root` (sorted names, numeric owners)."""
    h = hashlib.sha256()

    class _Sink(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            h.update(b)
            return len(b)

    with tarfile.open(fileobj=_Sink(), mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for n in sorted(dirnames + filenames):
                full = os.path.join(dirpath, n)
                info = tar.gettarinfo(full, arcname=os.path.relpath(full, root))
                info.uname = info.gname = ""
                if info.isfile():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return h.hexdigest()


def _dir_size(path: str) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for n in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_size
            except OSError:
                pass
    return total


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
