"""Image archives in: `docker save` tars and OCI image layouts (tar stream or directory).

Contract: configs are stored as the archive's exact bytes, so image ids are the sha256 of
those bytes (the ids `docker save` or any OCI tool gave them); each layer's diff_id must be
the one its config names, every digest-named blob must hash to its name, and anything else
raises InvalidArgument with nothing of the failing image left behind (layers already in the
store are reused, never re-extracted). The outer tar is extracted safely into tmp/ first
(archive.extract_layer without whiteouts) and read from there; paths inside it are resolved
without leaving it (inroot.py). Which format: manifest.json (docker save, also
written by Docker 25+ beside an OCI layout) wins; else index.json (OCI layout).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import InvalidArgument, shown
from ..fs import inroot
from ..fs.archive import extract_layer
from . import config as imageconfig

if TYPE_CHECKING:
    from .store import ImageInfo, ImageStore

MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


@dataclass
class Loaded:
    info: ImageInfo
    doc: dict[str, Any]
    repo_tags: list[str] = field(default_factory=list)  # "repo:tag", for the caller to apply


def load(store: ImageStore, stream: BinaryIO) -> list[Loaded]:
    """Load every image of an archive stream (plain or compressed tar)."""
    store.layout.ensure()
    tmp = tempfile.mkdtemp(prefix="load-", dir=store.layout.tmp)
    try:
        extract_layer(stream, tmp)
        return load_dir(store, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_dir(store: ImageStore, root: str) -> list[Loaded]:
    """Load every image of an extracted archive or OCI layout directory `root`."""
    if os.path.lexists(os.path.join(root, "manifest.json")):
        entries = _docker_entries(root)
    elif os.path.lexists(os.path.join(root, "index.json")):
        entries = _oci_entries(root)
    else:
        raise InvalidArgument("not an image archive: neither manifest.json nor index.json")
    out: dict[str, Loaded] = {}
    for config_raw, layers, tags in entries:
        image_id = imageconfig.digest_hex(config_raw)
        if image_id not in out:
            info, doc = _load_image(store, root, config_raw, layers)
            out[image_id] = Loaded(info, doc)
        out[image_id].repo_tags.extend(t for t in tags if t not in out[image_id].repo_tags)
    return list(out.values())


# (path of the layer blob inside root, expected blob digest hex or "") per layer
Layer = tuple[str, str]


def _load_image(store: ImageStore, root: str, config_raw: bytes,
                layers: list[Layer]) -> tuple[ImageInfo, dict[str, Any]]:
    doc = imageconfig.parse(config_raw)
    ids = imageconfig.diff_ids(doc)
    if len(ids) != len(layers):
        raise InvalidArgument(f"image has {len(layers)} layers but its config lists {len(ids)} diff_ids")
    created: list[str] = []
    try:
        for (path, blob_digest), diff_id in zip(layers, ids, strict=True):
            if store.has_layer(diff_id):
                continue
            with _open(root, path) as f:
                reader = _Digest(f)
                diff, new = store._install_layer(reader, expect=diff_id)
                if new:
                    created.append(diff)
                got = reader.hexdigest()
            if blob_digest and got != blob_digest:
                raise InvalidArgument(f"blob {shown(path)} does not match its digest sha256:{blob_digest}")
        return store.write_config(config_raw), doc
    except BaseException:
        for d in created:
            store.remove_layer(d)
        raise


class _Digest:
    """A reader that hashes what goes through (a compressed blob's own digest)."""

    def __init__(self, f: BinaryIO):
        self.f, self.sha = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha.update(data)
        return data

    def hexdigest(self) -> str:
        while self.read(1 << 20):  # the rest after the tar's end, if any
            pass
        return self.sha.hexdigest()


def _open(root: str, path: str) -> BinaryIO:
    """A regular file inside `root` (symlinks resolved within it, never outside)."""
    root_fd = inroot.open_root(root)
    try:
        fd = inroot.open_file(root_fd, path)
    except OSError as e:
        raise InvalidArgument(f"archive member {shown(path)}: {e.strerror}") from None
    except InvalidArgument:
        raise InvalidArgument(f"archive member {shown(path)} is not a file") from None
    finally:
        os.close(root_fd)
    return os.fdopen(fd, "rb")


def _read(root: str, path: str) -> bytes:
    with _open(root, path) as f:
        raw = f.read(imageconfig.MAX_CONFIG + 1)
    if len(raw) > imageconfig.MAX_CONFIG:
        raise InvalidArgument(f"archive member {shown(path)} is too large")
    return raw


def _read_json(root: str, path: str) -> Any:
    return _json(_read(root, path), path)


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"{what} is not JSON") from None


def _docker_entries(root: str) -> list[tuple[bytes, list[Layer], list[str]]]:
    manifest = _read_json(root, "manifest.json")
    if not isinstance(manifest, list):
        raise InvalidArgument("manifest.json is not a list")
    out = []
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers"), list):
            raise InvalidArgument("manifest.json entry without Config and Layers")
        config_path = entry["Config"]
        raw = _read(root, config_path)
        named = _named_digest(config_path)
        if named and named != imageconfig.digest_hex(raw):
            raise InvalidArgument(f"config {shown(config_path)} does not match its name")
        layers = [(str(p), _named_digest(str(p)) if str(p).startswith("blobs/") else "")
                  for p in entry["Layers"]]
        tags = [familiar(t) for t in entry.get("RepoTags") or [] if isinstance(t, str)]
        out.append((raw, layers, tags))
    return out


def _named_digest(path: str) -> str:
    """The sha256 a path names: blobs/sha256/<hex> or <hex>.json; else ""."""
    base = os.path.basename(path)
    if base.endswith(".json"):
        base = base[:-5]
    return base if imageconfig.HEX64.fullmatch(base) else ""


def _blob(root: str, digest: Any) -> tuple[str, str]:
    """(path, hex) of a blob named by a descriptor digest; only sha256 is supported."""
    if not isinstance(digest, str) or not digest.startswith("sha256:") \
            or not imageconfig.HEX64.fullmatch(digest[7:]):
        raise InvalidArgument(f"unsupported blob digest {shown(str(digest))}")
    return f"blobs/sha256/{digest[7:]}", digest[7:]


def _verified_blob(root: str, desc: dict[str, Any]) -> bytes:
    path, hexd = _blob(root, desc.get("digest"))
    raw = _read(root, path)
    if imageconfig.digest_hex(raw) != hexd:
        raise InvalidArgument(f"blob {shown(path)} does not match its digest")
    return raw


def _ref_name(annotations: dict[str, Any]) -> str:
    """"repo:tag" from an index entry's annotations, "" when only a bare tag is given."""
    name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME) or ""
    if not isinstance(name, str) or ":" not in name.rsplit("/", 1)[-1] and "/" not in name:
        return ""
    return familiar(name)


def familiar(name: str) -> str:
    """docker.io/library/busybox:latest -> busybox:latest (as `docker images` shows it)."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _oci_entries(root: str) -> list[tuple[bytes, list[Layer], list[str]]]:
    index = _read_json(root, "index.json")
    out: list[tuple[bytes, list[Layer], list[str]]] = []
    _walk_index(root, index, out, depth=0)
    return out


def _walk_index(root: str, index: Any, out: list, depth: int) -> None:
    if depth > 4 or not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InvalidArgument("index.json has no manifests")
    for desc in index["manifests"]:
        if not isinstance(desc, dict):
            raise InvalidArgument("invalid descriptor in index")
        media = desc.get("mediaType", "")
        if media in INDEX_TYPES:
            child = _json(_verified_blob(root, desc), "image index")
            if isinstance(child, dict):
                child = {**child, "manifests": [m for m in child.get("manifests") or []
                                                if _linux_amd64(m)]}
            _walk_index(root, child, out, depth + 1)
        elif media in MANIFEST_TYPES or not media:
            if not _linux_amd64(desc):
                continue
            manifest = _json(_verified_blob(root, desc), "image manifest")
            if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
                raise InvalidArgument("image manifest without config")
            config = _verified_blob(root, manifest["config"])
            layers = []
            for ld in manifest.get("layers") or []:
                if "zstd" in str(ld.get("mediaType", "")):
                    raise InvalidArgument(f"layer {ld.get('digest')} is zstd-compressed: not supported")
                layers.append(_blob(root, ld.get("digest")))
            name = _ref_name(desc.get("annotations") or {})
            out.append((config, layers, [name] if name else []))


def _linux_amd64(desc: Any) -> bool:
    p = desc.get("platform") if isinstance(desc, dict) else None
    return not isinstance(p, dict) or (p.get("os", "linux") == "linux"
                                       and p.get("architecture", "amd64") == "amd64")
