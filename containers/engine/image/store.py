"""Image store: OCI image configs over the layer store (layers.py).

Images are OCI image configs <state>/images/<id>.json whose id is the sha256 of the file's
bytes (stored, saved and loaded as those exact bytes). Configs are written to a temporary
name and renamed into place. Operations: import a rootfs tar as a single-layer image,
commit a container's upper dir as a new layer over its image, history, removal (layers only
when no image that stays uses them), docker save / OCI layout out and in (save.py,
load.py). Tags, parents and reference counts live with the caller (the database).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import InvalidArgument, NotFound
from ..fs.tarcreate import tar_stream
from . import config as imageconfig
from . import dockerfile_changes
from .config import DEFAULT_PATH
from .layers import LayerStore

if TYPE_CHECKING:
    from .load import Loaded

__all__ = ["DEFAULT_PATH", "ImageInfo", "ImageStore", "LayerStore", "now_rfc3339"]


@dataclass(frozen=True)
class ImageInfo:
    id: str  # 64 hex, no "sha256:" prefix
    layers: list[str]  # diff ids (64 hex), bottom-most first
    config: dict[str, Any]  # OCI "config" section: Cmd, Env, WorkingDir, User
    created: str
    size: int


class ImageStore(LayerStore):
    """Images (OCI configs) over a LayerStore."""

    # -- reads -------------------------------------------------------------------------------

    def lower_dirs(self, info: ImageInfo) -> list[str]:
        """Layer directories for an overlay lowerdir, top-most first."""
        return [self.layer_path(d) for d in reversed(info.layers)]

    def has(self, image_id: str) -> bool:
        """Whether this store holds image `image_id` (its config; its layers come with it)."""
        return bool(imageconfig.HEX64.fullmatch(image_id)) and os.path.exists(
            os.path.join(self.layout.images, f"{image_id}.json"))

    def config_bytes(self, image_id: str) -> bytes:
        """The config exactly as stored (its sha256 is `image_id`)."""
        if not imageconfig.HEX64.fullmatch(image_id):
            raise NotFound(f"No such image: {image_id}")
        try:
            with open(os.path.join(self.layout.images, f"{image_id}.json"), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None

    def config_doc(self, image_id: str) -> dict[str, Any]:
        return json.loads(self.config_bytes(image_id))

    def get(self, image_id: str) -> ImageInfo:
        return self._info(image_id, self.config_doc(image_id))

    def _info(self, image_id: str, doc: dict[str, Any]) -> ImageInfo:
        layers = imageconfig.diff_ids(doc)
        return ImageInfo(id=image_id, layers=layers, config=doc.get("config") or {},
                         created=doc.get("created", ""), size=sum(self.layer_size(d) for d in layers))

    # -- images ------------------------------------------------------------------------------

    def write_config(self, raw: bytes) -> ImageInfo:
        """Store a config as these exact bytes (id = their sha256); every layer it names
        must be here. Idempotent."""
        doc = imageconfig.parse(raw)
        missing = [d for d in imageconfig.diff_ids(doc) if not self.has_layer(d)]
        if missing:
            raise InvalidArgument(f"image config names missing layer(s): sha256:{missing[0]}")
        image_id = imageconfig.digest_hex(raw)
        path = os.path.join(self.layout.images, f"{image_id}.json")
        if not os.path.exists(path):
            self.layout.ensure()
            fd, tmp = tempfile.mkstemp(prefix=".config-", dir=self.layout.images)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(raw)
                    f.flush()
                    os.fsync(f.fileno())
                os.rename(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        return self._info(image_id, doc)

    def _write_config(self, doc: dict[str, Any]) -> ImageInfo:
        return self.write_config(imageconfig.canonical(doc))

    def import_image(self, stream: BinaryIO, *, comment: str = "", author: str = "",
                     created_by: str = "", changes: dict[str, Any] | None = None,
                     created: str | None = None) -> tuple[ImageInfo, dict[str, Any]]:
        """A new single-layer image from a rootfs tar stream (docker import): (its info, its
        config document). `changes` are config changes (Cmd, Env, ...); tags are the
        caller's. Corrupt or malicious archives raise InvalidArgument, nothing stored."""
        diff_id = self.add_layer(stream)
        doc = imageconfig.import_config(diff_id, created=created or now_rfc3339(), comment=comment,
                                        author=author, created_by=created_by, changes=changes)
        return self._write_config(doc), doc

    def import_tar(self, stream: BinaryIO, comment: str = "", created_by: str = "import",
                   changes: list[str] | None = None) -> ImageInfo:
        """import_image, for callers that want the info only; `changes` are Dockerfile
        instructions (`docker import -c`, engine/image/dockerfile_changes.py), all checked
        before the first byte of `stream` is read."""
        config = dockerfile_changes.apply(imageconfig.import_base_config(), changes or [])
        return self.import_image(stream, comment=comment, created_by=created_by, changes=config)[0]

    def commit(self, upper: str, base: ImageInfo, author: str = "", comment: str = "",
               config_changes: dict[str, Any] | None = None, created_by: str = "",
               exclude: frozenset[str] = frozenset()) -> ImageInfo:
        """A new image: `base` plus the container's changes (its upper dir) as one layer.

        The layer is the upper dir as a tar with whiteouts in the `.wh.` form, spooled to
        tmp/ and extracted as a layer: its diff_id is that tar's sha256. The config extends
        the base's rootfs and history and merges `config_changes` (imageconfig.merge_config).
        `exclude`: paths (relative, as in the tar) left out of the layer. The caller records
        the parent (the base image)."""
        base_doc = self.config_doc(base.id)
        diff_id = self.add_layer_from_chunks(tar_stream(upper, whiteouts=True, exclude=exclude))
        doc = imageconfig.commit_config(base_doc, diff_id, created=now_rfc3339(), author=author,
                                        comment=comment, created_by=created_by, changes=config_changes)
        return self._write_config(doc)

    def config_step(self, base: ImageInfo, changes: dict[str, Any], created_by: str,
                    author: str = "") -> ImageInfo:
        """A new image: `base` with its config section changed and no new layer (a build's
        ENV, CMD, ...: an empty_layer history entry). The caller records the parent."""
        doc = imageconfig.commit_config(self.config_doc(base.id), None, created=now_rfc3339(),
                                        author=author, created_by=created_by, changes=changes)
        return self._write_config(doc)

    def history(self, image_id: str) -> list[dict[str, Any]]:
        """Newest first: created, created_by, comment, author, empty_layer, layer (diff_id or
        "") and size (of the layer the step made, 0 for an empty layer)."""
        out = []
        for h, layer in imageconfig.layer_history(self.config_doc(image_id)):
            out.append({"created": h.get("created", ""), "created_by": h.get("created_by", ""),
                        "comment": h.get("comment", ""), "author": h.get("author", ""),
                        "empty_layer": layer is None, "layer": layer or "",
                        "size": self.layer_size(layer) if layer else 0})
        return list(reversed(out))

    def layers_of(self, image_ids: Iterable[str]) -> set[str]:
        """Every diff_id the given images use: pass the images that stay to get the
        `layers_in_use` of `remove`. Images not in the store are ignored."""
        out: set[str] = set()
        for image_id in image_ids:
            try:
                out.update(imageconfig.diff_ids(self.config_doc(image_id)))
            except NotFound:
                continue
        return out

    def image_ids(self) -> list[str]:
        """Ids of the images on disk."""
        try:
            names = os.listdir(self.layout.images)
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in names if n.endswith(".json") and imageconfig.HEX64.fullmatch(n[:-5]))

    def remove(self, image_id: str, layers_in_use: set[str]) -> list[str]:
        """Delete the image config, then those of its layers not in `layers_in_use` (the
        layers of every image that stays, see `layers_of`); the diff_ids deleted."""
        doc = self.config_doc(image_id)
        os.unlink(os.path.join(self.layout.images, f"{image_id}.json"))
        removed: list[str] = []
        for diff_id in imageconfig.diff_ids(doc):
            if diff_id not in layers_in_use and diff_id not in removed:
                self.remove_layer(diff_id)
                removed.append(diff_id)
        return removed

    # -- image archives (save.py, load.py) --------------------------------------------------

    def save(self, images: Sequence[tuple[str, Sequence[str]]], fmt: str = "docker") -> Iterator[bytes]:
        """A `docker save` tar ("docker") or an OCI image layout tar ("oci") of the images,
        given as (image id, ["repo:tag", ...]); a generator of chunks."""
        from . import save as imagesave

        return imagesave.save(self, images, fmt)

    def load(self, stream: BinaryIO) -> list[Loaded]:
        """Images from a `docker save` or OCI layout tar (any compression); ids unchanged."""
        from . import load as imageload

        return imageload.load(self, stream)

    # -- the default image -------------------------------------------------------------------

    def build_busybox(self, busybox: str = "/bin/busybox") -> ImageInfo:
        """The default busybox image, from the host's static busybox. Idempotent."""
        from . import busybox as bb

        diff_id = self.add_layer_from_dir(bb.populate, busybox)
        return self._write_config(bb.image_config(diff_id, busybox))


def now_rfc3339() -> str:
    """Now as Docker writes `created` (RFC 3339, nanoseconds, UTC): two imports of the same
    tar are two images, not one."""
    import time

    seconds, ns = divmod(time.time_ns(), 1_000_000_000)
    frac = f".{ns:09d}".rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + frac + "Z"
