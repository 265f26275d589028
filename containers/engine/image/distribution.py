"""Registry pull and push for the image store: registry.py (the wire) over store.py (the store).

pull(store, ref) downloads an image's blobs (registry.pull, every byte digest-checked), stores
each missing layer with its diff_id checked against the config (LayerStore.add_layer(expect=))
and then the config as its exact bytes, so the image id is the one the registry's config
names. Layers the store already has are not downloaded ("Already exists"). Temp files live in
the store's tmp/ and are removed on success and on failure.

push(store, image_id, ref) sends each layer as its ORIGINAL uncompressed tar
(LayerStore.layer_tar, rebuilt from the tar-split records), so the config's diff_ids hold
and the pushed image keeps its id.

Progress is reported as progress(id, status, current, total), Docker's ids and statuses
(registry.progress_message makes a JSON line of one). Plain Python: no Django.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ..fs.chunkfile import ChunkFile
from . import config as imageconfig
from . import registry
from .registry import DOCKER_HUB, Credentials, Progress, Reference
from .store import ImageInfo, ImageStore

__all__ = ["Pulled", "pull", "push"]


@dataclass(frozen=True)
class Pulled:
    info: ImageInfo
    reference: Reference  # as parsed: registry, repository, tag, digest
    digest: str  # the repo digest ("sha256:..." of the manifest the reference names)


def pull(store: ImageStore, ref: str, *, credentials: Credentials | None = None,
         insecure: Collection[str] = (), progress: Progress | None = None,
         default_registry: str = DOCKER_HUB) -> Pulled:
    """Pull `ref` into the store. Raises what registry.pull raises, and InvalidArgument when
    a layer's content does not match the config's diff_id (nothing of it stored)."""
    report = progress or _silent
    store.layout.ensure()
    res = registry.pull(ref, store.layout.tmp, credentials=credentials, insecure=insecure,
                        progress=progress, default_registry=default_registry,
                        have_layer=lambda d: store.has_layer(_hex(d)))
    try:
        for layer in res.layers:
            if layer.path is None:
                continue
            short = _hex(layer.digest)[:12]
            report(short, "Extracting", 0, layer.size)
            with open(layer.path, "rb") as f:
                store.add_layer(f, expect=_hex(layer.diff_id))
            report(short, "Pull complete", layer.size, layer.size)
        info = store.write_config(res.config)
    finally:
        res.cleanup()
    return Pulled(info, res.reference, res.digest)


def push(store: ImageStore, image_id: str, ref: str, *, credentials: Credentials | None = None,
         insecure: Collection[str] = (), progress: Progress | None = None,
         default_registry: str = DOCKER_HUB) -> str:
    """Push image `image_id` as `ref` (a tag reference); the manifest digest ("sha256:...")."""
    raw = store.config_bytes(image_id)
    layers = [ChunkFile(store.layer_tar(d)[1]) for d in imageconfig.diff_ids(imageconfig.parse(raw))]
    return registry.push(ref, raw, layers, store.layout.tmp, credentials=credentials,
                         insecure=insecure, progress=progress, default_registry=default_registry)


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _silent(*_: object) -> None:
    return None

