"""Image archives out: `docker save` tars and OCI image layouts, as streams.

Both carry each config as its stored bytes and each layer as its original uncompressed tar
(ImageStore.layer_tar), so loading them anywhere gives the same image ids and diff_ids.
- "docker" (docker save, Docker 1.10-24): <chain id>/{VERSION,json,layer.tar} per layer (a
  layer whose tar is already in the archive under another directory is a symlink to it, as
  Docker writes), <image id>.json, manifest.json, repositories;
- "oci" (OCI image layout 1.0, as Docker 25+ saves): oci-layout, index.json (one manifest
  descriptor per tag, org.opencontainers.image.ref.name + io.containerd.image.name),
  blobs/sha256/<digest> for manifests, configs and uncompressed layers (digest = diff_id),
  plus manifest.json and repositories pointing into blobs/ so that `docker load` of any
  version reads it too.
Every member has mtime 0 and owner 0: the same images give the same bytes. Layers are
streamed, never held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument
from ..fs.tarcreate import dir_entry, end_of_archive, file_entry, stream_entry, symlink_entry
from . import config as imageconfig

if TYPE_CHECKING:
    from .store import ImageStore

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"

Images = Sequence[tuple[str, Sequence[str]]]


def split_tag(ref: str) -> tuple[str, str]:
    """"repo:tag" -> (repo, tag); the tag defaults to latest (a registry port is not a tag)."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


def _json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class _Counter:
    """Counts the bytes that go out (the end of a tar pads to a whole record)."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, chunks: Iterator[bytes] | bytes) -> Iterator[bytes]:
        for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
            self.total += len(chunk)
            yield chunk


def save(store: ImageStore, images: Images, fmt: str = "docker") -> Iterator[bytes]:
    """The archive of `images` ((image id, ["repo:tag", ...]) each) in format `fmt`."""
    if fmt not in ("docker", "oci"):
        raise InvalidArgument(f"unknown image archive format {fmt!r}")
    docs = {image_id: store.config_doc(image_id) for image_id, _ in images}  # NotFound early
    for doc in docs.values():
        for d in imageconfig.diff_ids(doc):
            if not store.has_layer(d):
                raise InvalidArgument(f"layer sha256:{d} is missing from the store")
    return _docker(store, images, docs) if fmt == "docker" else _oci(store, images, docs)


def _repositories(images: Images, top: dict[str, str]) -> bytes:
    repos: dict[str, dict[str, str]] = {}
    for image_id, tags in images:
        for ref in tags:
            repo, tag = split_tag(ref)
            repos.setdefault(repo, {})[tag] = top[image_id]
    return _json(repos)


def _docker(store: ImageStore, images: Images, docs: dict[str, dict[str, Any]]) -> Iterator[bytes]:
    out = _Counter()
    dirs_done: set[str] = set()
    tar_at: dict[str, str] = {}  # diff_id -> directory whose layer.tar holds it
    manifest: list[dict[str, Any]] = []
    top: dict[str, str] = {}
    configs_done: set[str] = set()
    for image_id, tags in images:
        doc = docs[image_id]
        ids = imageconfig.diff_ids(doc)
        chain = imageconfig.chain_ids(ids)
        for i, (diff_id, d) in enumerate(zip(ids, chain, strict=True)):
            if d in dirs_done:
                continue
            dirs_done.add(d)
            v1: dict[str, Any] = {"id": d, "created": "1970-01-01T00:00:00Z", "container_config": {},
                                  "os": doc.get("os", "linux")}
            if i:
                v1["parent"] = chain[i - 1]
            yield from out(dir_entry(f"{d}/"))
            yield from out(file_entry(f"{d}/VERSION", b"1.0"))
            yield from out(file_entry(f"{d}/json", _json(v1)))
            if diff_id in tar_at:
                yield from out(symlink_entry(f"{d}/layer.tar", f"../{tar_at[diff_id]}/layer.tar"))
            else:
                tar_at[diff_id] = d
                size, chunks = store.layer_tar(diff_id)
                yield from out(stream_entry(f"{d}/layer.tar", size, chunks))
        if image_id not in configs_done:
            configs_done.add(image_id)
            yield from out(file_entry(f"{image_id}.json", store.config_bytes(image_id)))
        top[image_id] = chain[-1] if chain else ""
        manifest.append({"Config": f"{image_id}.json", "RepoTags": list(tags) or None,
                         "Layers": [f"{d}/layer.tar" for d in chain]})
    yield from out(file_entry("manifest.json", _json(manifest)))
    yield from out(file_entry("repositories", _repositories(images, top)))
    yield end_of_archive(out.total)


def _descriptor(media_type: str, raw_or_size: bytes | int, digest: str) -> dict[str, Any]:
    size = raw_or_size if isinstance(raw_or_size, int) else len(raw_or_size)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": size}


def _oci(store: ImageStore, images: Images, docs: dict[str, dict[str, Any]]) -> Iterator[bytes]:
    out = _Counter()
    blobs: set[str] = set()
    sizes: dict[str, int] = {}  # layers written so far
    index: list[dict[str, Any]] = []
    manifest_json: list[dict[str, Any]] = []
    yield from out(file_entry("oci-layout", _json({"imageLayoutVersion": "1.0.0"})))
    yield from out(dir_entry("blobs/"))
    yield from out(dir_entry("blobs/sha256/"))
    for image_id, tags in images:
        ids = imageconfig.diff_ids(docs[image_id])
        layers = []
        for diff_id in ids:
            if diff_id not in sizes:
                size, chunks = store.layer_tar(diff_id)
                sizes[diff_id] = size
                blobs.add(diff_id)
                yield from out(stream_entry(f"blobs/sha256/{diff_id}", size, chunks))
            layers.append(_descriptor(OCI_LAYER, sizes[diff_id], diff_id))
        config = store.config_bytes(image_id)
        if image_id not in blobs:
            blobs.add(image_id)
            yield from out(file_entry(f"blobs/sha256/{image_id}", config))
        manifest = _json({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": _descriptor(OCI_CONFIG, config, image_id), "layers": layers})
        digest = imageconfig.digest_hex(manifest)
        if digest not in blobs:
            blobs.add(digest)
            yield from out(file_entry(f"blobs/sha256/{digest}", manifest))
        desc = _descriptor(OCI_MANIFEST, manifest, digest)
        for ref in tags:
            repo, tag = split_tag(ref)
            index.append({**desc, "annotations": {REF_NAME: tag, CONTAINERD_NAME: f"{repo}:{tag}"}})
        if not tags:
            index.append(desc)
        manifest_json.append({"Config": f"blobs/sha256/{image_id}", "RepoTags": list(tags) or None,
                              "Layers": [f"blobs/sha256/{d}" for d in ids]})
    yield from out(file_entry("index.json", _json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                   "manifests": index})))
    yield from out(file_entry("manifest.json", _json(manifest_json)))
    top = {image_id: image_id for image_id, _ in images}
    yield from out(file_entry("repositories", _repositories(images, top)))
    yield end_of_archive(out.total)
