"""Image archives, one entry point: `docker save` tars and OCI image layouts, out and in.

A thin API over imagesave.py (writing) and imageload.py (reading), which hold the formats:
- `save` / `save_oci` stream an archive of (image id, ["repo:tag", ...]) items; each config
  goes out as its stored bytes and each layer as its ORIGINAL uncompressed tar
  (LayerStore.layer_tar, rebuilt from tar-split records and verified against the diff_id),
  so image ids and diff_ids survive any number of round trips, byte for byte;
- `load` reads either format (manifest.json wins, else index.json / oci-layout), plain or
  compressed, extracting the outer tar safely into a fresh directory under `tmp_dir`
  (archive.extract_layer: no member lands outside it, ".." escapes are refused), then stores
  each config as its exact bytes (image id = sha256 of the config blob, what Docker and OCI
  tools use) after checking every layer's diff_id, and every digest-named blob, against
  what the archive claims (InvalidArgument otherwise, nothing of that image left behind).
Plain Python: no Django.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from . import imageload, imagesave
from .archive import extract_layer
from .images import ImageInfo, ImageStore

__all__ = ["load", "save", "save_oci"]

Items = Sequence[tuple[str, Sequence[str]]]


def save(store: ImageStore, items: Items) -> Iterator[bytes]:
    """A `docker save` tar (manifest.json, repositories, <id>.json, <chain id>/layer.tar) of
    `items` ((image id, ["repo:tag", ...]) each), as chunks. Unknown images raise NotFound
    and missing layers InvalidArgument before the first chunk."""
    return imagesave.save(store, items, "docker")


def save_oci(store: ImageStore, items: Items) -> Iterator[bytes]:
    """An OCI image layout tar (oci-layout, index.json with one manifest per tag annotated
    org.opencontainers.image.ref.name, blobs/sha256/...; layers uncompressed) of `items`."""
    return imagesave.save(store, items, "oci")


def load(store: ImageStore, stream: BinaryIO, tmp_dir: str) -> list[tuple[ImageInfo, list[str]]]:
    """Every image of a docker-save or OCI layout tar stream (plain, gzip, bzip2 or xz):
    [(info, ["repo:tag", ...])], tags for the caller to apply. The archive is extracted
    into a temporary directory under `tmp_dir`, removed afterwards."""
    os.makedirs(tmp_dir, mode=0o700, exist_ok=True)
    root = tempfile.mkdtemp(prefix="imageload-", dir=tmp_dir)
    try:
        extract_layer(stream, root)
        return [(x.info, list(x.repo_tags)) for x in imageload.load_dir(store, root)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
