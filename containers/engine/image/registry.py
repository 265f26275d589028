"""Registry client (Docker Registry HTTP API v2 / OCI distribution): references, pull, push.

Plain Python + `requests`; knows nothing of the image store. Auth and HTTP errors live in
registry_auth.py.

pull(ref, dest_dir) downloads an image (choosing linux/amd64 from a manifest list or OCI
index) into temp files under `dest_dir` and returns a PullResult: the config's exact bytes
(its sha256 is the image id) and each layer blob's file, media type and digest. Every byte is
verified while it streams: the manifest when named by digest (and a list's entry), the config
and each layer against their sha256 digests. The caller extracts the layers, computing each
uncompressed tar's sha256, and checks them with check_diff_ids(result.config, computed).

push(ref, config, layer_tars, work_dir) gzips each uncompressed layer tar to a temp file,
checks its sha256 against the config's rootfs.diff_ids, uploads the blobs the registry does
not have (HEAD, then POST + PUT, or PATCH chunks + PUT) and PUTs a Docker v2 schema 2
manifest under the tag; it returns the manifest digest.

Progress is reported as progress(id, status, current, total) with Docker's ids and statuses
(pull: the layer digest's 12 hex, "Pulling fs layer", "Already exists", "Downloading",
"Verifying Checksum", "Download complete"; push: the diff_id's 12 hex, "Preparing",
"Layer already exists", "Pushing", "Pushed"); progress_message() turns one into Docker's JSON.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import EngineError, InvalidArgument, NotFound, shown
from . import config as imageconfig
from . import reference
from .registry_auth import Credentials, RegistrySession, Unauthorized

DOCKER_HUB = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
CONFIG_TYPES = frozenset({DOCKER_CONFIG, "application/vnd.oci.image.config.v1+json"})
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
LAYER_TYPES = frozenset({DOCKER_LAYER, "application/vnd.docker.image.rootfs.diff.tar",
                         "application/vnd.oci.image.layer.v1.tar",
                         "application/vnd.oci.image.layer.v1.tar+gzip"})
ACCEPT = ", ".join((DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX))
PLATFORM = ("linux", "amd64")
MAX_MANIFEST = 4 << 20  # bytes, as Docker
CHUNK = 1 << 20
PROGRESS_EVERY = 512 << 10  # bytes between two "Downloading"/"Pushing" reports

Progress = Callable[[str, str, int, int], None]  # (id, status, current, total)

_REPO_RE = reference.PATH_RE
_TAG_RE = reference.TAG_RE
_DIGEST_RE = reference.DIGEST_RE
_HOST_RE = reference.DOMAIN_RE
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class DigestMismatch(EngineError):
    """Content from the registry does not match its digest (a corrupt or tampered blob)."""


__all__ = ["DOCKER_HUB", "Credentials", "DigestMismatch", "PullResult", "PulledLayer", "Reference",
           "Unauthorized", "check_diff_ids", "parse_reference", "progress_message", "pull", "push"]

# ---------------------------------------------------------------------------------------------
# references


@dataclass(frozen=True)
class Reference:
    """A parsed image reference. `registry` is as written ("docker.io" for Docker Hub)."""

    registry: str
    repository: str
    tag: str  # "" only for a digest reference without a tag
    digest: str  # "sha256:<64 hex>" or ""

    @property
    def host(self) -> str:
        """Where the registry API lives: docker.io is served by registry-1.docker.io."""
        return DOCKER_HUB_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest if there is one, else the tag."""
        return self.digest or self.tag

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}" + (f":{self.tag}" if self.tag else "") + (
            f"@{self.digest}" if self.digest else "")


def parse_reference(ref: str, default_registry: str = DOCKER_HUB) -> Reference:
    """Parse `name[:tag][@sha256:hex]`; InvalidArgument if malformed.

    The first path component is a registry when it has a "." or ":" or is "localhost"; else the
    registry is `default_registry`. On Docker Hub (docker.io, index.docker.io) a one-component
    name gets "library/". Without tag or digest the tag is "latest"."""
    def bad(why: str = "") -> InvalidArgument:
        return InvalidArgument(f"invalid reference format{': ' + why if why else ''}: {shown(ref)}")

    if not isinstance(ref, str) or not ref or ref != ref.strip():
        raise bad()
    name, _, digest = ref.partition("@")
    if digest and not _DIGEST_RE.fullmatch(digest):
        raise bad("unsupported or malformed digest (want sha256:<64 hex>)")
    tag = ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
        if not _TAG_RE.fullmatch(tag):
            raise bad("bad tag")
    if len(name) > reference.NAME_TOTAL_MAX:
        raise bad(f"repository name must not be more than {reference.NAME_TOTAL_MAX} characters")
    registry = default_registry
    first, rest = reference.split_domain(name)
    if first:
        if not _HOST_RE.fullmatch(first):
            raise bad("bad registry host")
        registry, name = first, rest
    if registry in (DOCKER_HUB, "index.docker.io", DOCKER_HUB_HOST):
        registry = DOCKER_HUB
        if "/" not in name:
            name = f"library/{name}"
    if not _REPO_RE.fullmatch(name) or len(name) > 255:
        raise bad("repository name must be lowercase" if name != name.lower() else "")
    return Reference(registry, name, tag or ("" if digest else "latest"), digest)


def _ref(ref: str | Reference, default_registry: str) -> Reference:
    return ref if isinstance(ref, Reference) else parse_reference(ref, default_registry)


def _session(r: Reference, actions: str, credentials: Credentials | None,
             insecure: Collection[str]) -> RegistrySession:
    allowed = r.registry in insecure or r.host in insecure
    s = RegistrySession(r.host, r.repository, actions, credentials=credentials,
                        insecure={r.host} if allowed else ())
    try:
        s.login()
    except BaseException:
        s.close()
        raise
    return s


# ---------------------------------------------------------------------------------------------
# progress


def progress_message(layer_id: str, status: str, current: int, total: int) -> dict[str, Any]:
    """One of our progress reports as a line of Docker's JSON progress stream."""
    msg: dict[str, Any] = {"status": status, "progressDetail": {}, "id": layer_id}
    if status in ("Downloading", "Pushing"):
        msg["progressDetail"] = {"current": current, "total": total}
    return msg


class _Ticker:
    """Calls progress(id, status, n, total) at most every PROGRESS_EVERY bytes, and at the end."""

    def __init__(self, progress: Progress | None, layer_id: str, status: str, total: int):
        self.progress, self.id, self.status, self.total = progress, layer_id, status, total
        self.last = -PROGRESS_EVERY

    def __call__(self, n: int) -> None:
        if self.progress and (n - self.last >= PROGRESS_EVERY or n == self.total):
            self.last = n
            self.progress(self.id, self.status, n, self.total)


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# pull


@dataclass(frozen=True)
class PulledLayer:
    digest: str  # of the blob as stored in the registry (compressed)
    media_type: str
    size: int
    diff_id: str  # "sha256:..." the config claims for the uncompressed tar: see check_diff_ids
    path: str | None  # the verified blob; None if skipped (have_layer said the caller has it)


@dataclass
class PullResult:
    reference: Reference
    digest: str  # of the manifest the reference names (a list's, if it was one): the repo digest
    manifest_digest: str  # of the image manifest (== digest unless a list was resolved)
    manifest: bytes
    config: bytes  # exact bytes; sha256 is the image id
    layers: list[PulledLayer] = field(default_factory=list)  # bottom-most first

    @property
    def config_digest(self) -> str:
        return _sha256(self.config)

    @property
    def image_id(self) -> str:
        """64 hex, no "sha256:" prefix."""
        return hashlib.sha256(self.config).hexdigest()

    def cleanup(self) -> None:
        """Remove the downloaded layer files (the caller's job once they are extracted)."""
        for layer in self.layers:
            if layer.path:
                try:
                    os.unlink(layer.path)
                except FileNotFoundError:
                    pass


def config_diff_ids(config: bytes | Mapping[str, Any]) -> list[str]:
    """rootfs.diff_ids of an image config ("sha256:..."); InvalidArgument if missing/malformed
    (imageconfig does the checking)."""
    doc = imageconfig.parse(config) if isinstance(config, bytes) else dict(config)
    return [f"sha256:{d}" for d in imageconfig.diff_ids(doc)]


def check_diff_ids(config: bytes | Mapping[str, Any], computed: Sequence[str]) -> None:
    """Raise InvalidArgument unless `computed` (sha256 of each uncompressed layer tar, bottom
    first, with or without "sha256:") equals the config's rootfs.diff_ids."""
    want = config_diff_ids(config)
    got = [d if d.startswith("sha256:") else f"sha256:{d}" for d in computed]
    if len(got) != len(want):
        raise InvalidArgument(f"the image config lists {len(want)} layers, got {len(got)}")
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if w != g:
            raise InvalidArgument(f"layer {i}: diff_id {g} does not match the config's {w}")


def pull(ref: str | Reference, dest_dir: str, *, credentials: Credentials | None = None,
         insecure: Collection[str] = (), progress: Progress | None = None,
         have_layer: Callable[[str], bool] | None = None, platform: tuple[str, str] = PLATFORM,
         default_registry: str = DOCKER_HUB) -> PullResult:
    """Pull `ref`: manifest, config, then each layer blob to a temp file in `dest_dir`.

    `have_layer(diff_id)` true skips that layer's download (path None, "Already exists").
    `insecure`: registries (host[:port]) spoken to over http; others use https.
    Raises InvalidArgument (bad reference, zstd or unsupported media types, schema 1),
    NotFound (unknown repository, tag, digest, or no `platform` in a list), Unauthorized,
    DigestMismatch, EngineError. On error no file of this call is left in `dest_dir`; on
    success the caller owns the layer files (PullResult.cleanup())."""
    r = _ref(ref, default_registry)
    os.makedirs(dest_dir, exist_ok=True)
    with _session(r, "pull", credentials, insecure) as s:
        raw, digest, doc = _manifest(s, r, r.reference, r.digest)
        manifest_raw, manifest_digest = raw, digest
        if "manifests" in doc:
            child = _choose(doc, r, platform)
            manifest_raw, manifest_digest, doc = _manifest(s, r, child, child)
            if "manifests" in doc:
                raise InvalidArgument(f"{r}: manifest list entry {child} is itself a list")
        config_desc, layer_descs = _image_manifest(doc, r)
        config = _blob_bytes(s, config_desc)
        diff_ids = config_diff_ids(config)
        if len(diff_ids) != len(layer_descs):
            raise InvalidArgument(f"{r}: the manifest has {len(layer_descs)} layers, the config "
                                  f"{len(diff_ids)} diff_ids")
        result = PullResult(r, digest, manifest_digest, manifest_raw, config)
        for d in layer_descs:
            _report(progress, _short(d["digest"]), "Pulling fs layer", 0, d["size"])
        try:
            for d, diff_id in zip(layer_descs, diff_ids, strict=True):
                path = None
                if have_layer and have_layer(diff_id):
                    _report(progress, _short(d["digest"]), "Already exists", 0, d["size"])
                else:
                    path = _blob_file(s, d, dest_dir, progress)
                result.layers.append(PulledLayer(d["digest"], d["mediaType"], d["size"], diff_id, path))
        except BaseException:
            result.cleanup()
            raise
        return result


def _report(progress: Progress | None, layer_id: str, status: str, current: int, total: int) -> None:
    if progress:
        progress(layer_id, status, current, total)


def _manifest(s: RegistrySession, r: Reference, reference: str, expect: str) -> tuple[bytes, str, dict]:
    """(raw manifest, its digest, parsed) for a tag or digest; a digest is verified."""
    try:
        resp = s.request("GET", f"/v2/{r.repository}/manifests/{reference}", headers={"Accept": ACCEPT},
                         stream=True)
    except NotFound as e:
        raise NotFound(f"manifest for {r} not found: {e.message}") from None
    buf = bytearray()
    try:
        with resp:
            for chunk in resp.iter_content(64 << 10):
                buf += chunk
                if len(buf) > MAX_MANIFEST:
                    raise EngineError(f"{r}: manifest larger than {MAX_MANIFEST} bytes")
    except OSError as e:  # requests' stream errors are OSErrors too
        raise EngineError(f"{r}: reading the manifest failed: {e}") from None
    raw = bytes(buf)
    digest = _sha256(raw)
    if expect and digest != expect:
        raise DigestMismatch(f"{r}: manifest digest is {digest}, expected {expect}")
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise EngineError(f"{r}: the manifest is not a JSON object")
    media_type = doc.get("mediaType") or resp.headers.get("Content-Type", "").split(";")[0]
    if doc.get("schemaVersion") == 1:
        raise InvalidArgument(f"{r}: image manifest schema 1 is not supported; re-push the image")
    if media_type not in (DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX):
        raise InvalidArgument(f"{r}: unsupported manifest media type {media_type!r}")
    return raw, digest, doc


def _choose(index: dict[str, Any], r: Reference, platform: tuple[str, str]) -> str:
    for m in index.get("manifests") or []:
        p = m.get("platform") or {}
        if (p.get("os"), p.get("architecture")) == platform and _DIGEST_RE.fullmatch(str(m.get("digest"))):
            return m["digest"]
    raise NotFound(f"{r}: no matching manifest for {'/'.join(platform)} in the manifest list entries")


def _descriptor(d: Any, what: str, r: Reference) -> dict[str, Any]:
    if not (isinstance(d, dict) and _DIGEST_RE.fullmatch(str(d.get("digest")))
            and isinstance(d.get("size"), int) and d["size"] >= 0):
        raise InvalidArgument(f"{r}: {what} has no valid sha256 digest and size")
    return d


def _image_manifest(doc: dict[str, Any], r: Reference) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(config descriptor, layer descriptors) of an image manifest; refuses what we cannot use."""
    config = _descriptor(doc.get("config"), "the config", r)
    if config.get("mediaType", DOCKER_CONFIG) not in CONFIG_TYPES:
        raise InvalidArgument(f"{r} is not a container image (config media type {config['mediaType']!r})")
    layers = [_descriptor(d, "a layer", r) for d in doc.get("layers") or []]
    for d in layers:
        media_type = d.get("mediaType", "")
        if "zstd" in media_type:
            raise InvalidArgument(f"{r}: layer {d['digest']} is zstd-compressed ({media_type}); "
                                  "zstd layers are not supported")
        if media_type not in LAYER_TYPES:
            raise InvalidArgument(f"{r}: layer {d['digest']} has unsupported media type {media_type!r}")
    return config, layers


def _stream_blob(s: RegistrySession, desc: dict[str, Any], out: BinaryIO,
                 tick: Callable[[int], None] | None) -> None:
    """GET a blob into `out`, checking its size and sha256 as it streams."""
    digest, size = desc["digest"], desc["size"]
    resp = s.request("GET", f"/v2/{s.repository}/blobs/{digest}", stream=True)
    h, n = hashlib.sha256(), 0
    try:
        with resp:
            for chunk in resp.iter_content(CHUNK):
                n += len(chunk)
                if n > size:
                    raise DigestMismatch(f"blob {digest}: more than the {size} bytes announced")
                h.update(chunk)
                out.write(chunk)
                if tick:
                    tick(n)
    except OSError as e:  # requests' stream errors are OSErrors too
        raise EngineError(f"download of {digest} failed: {e}") from None
    if n != size or "sha256:" + h.hexdigest() != digest:
        raise DigestMismatch(f"blob {digest} failed verification: got {n} bytes with digest "
                             f"sha256:{h.hexdigest()}")


def _blob_bytes(s: RegistrySession, desc: dict[str, Any]) -> bytes:
    if desc["size"] > MAX_MANIFEST * 2:
        raise EngineError(f"the image config is too large ({desc['size']} bytes)")
    buf = io.BytesIO()
    _stream_blob(s, desc, buf, None)
    return buf.getvalue()


def _blob_file(s: RegistrySession, desc: dict[str, Any], dest_dir: str, progress: Progress | None) -> str:
    layer_id = _short(desc["digest"])
    fd, path = tempfile.mkstemp(prefix="blob-", suffix=".layer", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            _stream_blob(s, desc, f, _Ticker(progress, layer_id, "Downloading", desc["size"]))
        _report(progress, layer_id, "Verifying Checksum", desc["size"], desc["size"])
        with open(path, "rb") as f:
            if f.read(4) == _ZSTD_MAGIC:
                raise InvalidArgument(f"layer {desc['digest']} is zstd-compressed; zstd layers are "
                                      "not supported")
        _report(progress, layer_id, "Download complete", desc["size"], desc["size"])
        return path
    except BaseException:
        os.unlink(path)
        raise


# ---------------------------------------------------------------------------------------------
# push

LayerTar = str | os.PathLike[str] | BinaryIO  # an uncompressed layer tar: a path or a binary file


def push(ref: str | Reference, config: bytes, layers: Sequence[LayerTar], work_dir: str, *,
         credentials: Credentials | None = None, insecure: Collection[str] = (),
         progress: Progress | None = None, chunk_size: int = 0,
         default_registry: str = DOCKER_HUB) -> str:
    """Push an image as `ref`'s tag; returns the manifest digest ("sha256:...").

    `config` is the image config's exact bytes; `layers` the uncompressed layer tars, bottom
    first, whose sha256 must be the config's rootfs.diff_ids (else InvalidArgument, nothing
    uploaded). Each is gzipped (deterministically) to a temp file in `work_dir`, removed on
    return. `chunk_size` > 0 uploads blobs larger than that in PATCH chunks of that size.
    Raises InvalidArgument (digest reference, bad config), Unauthorized, EngineError."""
    r = _ref(ref, default_registry)
    if r.digest:
        raise InvalidArgument(f"cannot push to a digest reference: {r}")
    diff_ids = config_diff_ids(config)
    if len(diff_ids) != len(layers):
        raise InvalidArgument(f"the image config lists {len(diff_ids)} layers, got {len(layers)} tars")
    os.makedirs(work_dir, exist_ok=True)
    with _session(r, "pull,push", credentials, insecure) as s, ExitStack() as cleanup:
        blobs: list[tuple[str, int, str]] = []  # (gzip digest, size, temp file)
        computed: list[str] = []
        for tar, diff_id in zip(layers, diff_ids, strict=True):
            _report(progress, _short(diff_id), "Preparing", 0, 0)
            fd, path = tempfile.mkstemp(prefix="push-", suffix=".tar.gz", dir=work_dir)
            cleanup.callback(os.unlink, path)
            with os.fdopen(fd, "wb") as out:
                uncompressed, digest, size = _gzip(tar, out)
            computed.append(uncompressed)
            blobs.append((digest, size, path))
        check_diff_ids(config, computed)
        for (digest, size, path), diff_id in zip(blobs, diff_ids, strict=True):
            if _has_blob(s, digest):
                _report(progress, _short(diff_id), "Layer already exists", 0, 0)
                continue
            with open(path, "rb") as f:
                _upload(s, digest, f, size, chunk_size, _Ticker(progress, _short(diff_id), "Pushing", size))
            _report(progress, _short(diff_id), "Pushed", size, size)
        config_digest = _sha256(config)
        if not _has_blob(s, config_digest):
            _upload(s, config_digest, io.BytesIO(config), len(config), 0, None)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": config_digest},
            "layers": [{"mediaType": DOCKER_LAYER, "size": size, "digest": digest}
                       for digest, size, _ in blobs],
        }, indent=3).encode()
        digest = _sha256(manifest)
        resp = s.request("PUT", f"/v2/{r.repository}/manifests/{r.tag}", ok=(201,), data=manifest,
                         headers={"Content-Type": DOCKER_MANIFEST})
        resp.close()
        remote = resp.headers.get("Docker-Content-Digest")
        if remote and remote != digest:
            raise EngineError(f"{r.host} reports manifest digest {remote}, we sent {digest}")
        return digest


def _gzip(tar: LayerTar, out: BinaryIO) -> tuple[str, str, int]:
    """gzip `tar` into `out` (no name, mtime 0: the same tar gives the same blob):
    (sha256 of the tar, sha256 of the gzip, its size)."""
    raw, gz, size = hashlib.sha256(), hashlib.sha256(), 0
    z = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip wrapper
    with ExitStack() as stack:
        f = tar if hasattr(tar, "read") else stack.enter_context(open(tar, "rb"))  # type: ignore[arg-type]
        while chunk := f.read(CHUNK):  # type: ignore[union-attr]
            raw.update(chunk)
            data = z.compress(chunk)
            gz.update(data)
            out.write(data)
            size += len(data)
    tail = z.flush()
    gz.update(tail)
    out.write(tail)
    return "sha256:" + raw.hexdigest(), "sha256:" + gz.hexdigest(), size + len(tail)


def _has_blob(s: RegistrySession, digest: str) -> bool:
    try:
        s.request("HEAD", f"/v2/{s.repository}/blobs/{digest}").close()
        return True
    except NotFound:
        return False


class _Reader:
    """A file body of known length that reports how much was read (requests streams it)."""

    def __init__(self, f: BinaryIO, size: int, tick: Callable[[int], None] | None):
        self.f, self.size, self.tick, self.done = f, size, tick, 0

    def __len__(self) -> int:
        return self.size - self.done

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(CHUNK if n is None or n < 0 else n)
        self.done += len(data)
        if self.tick and data:
            self.tick(self.done)
        return data


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + f"digest={digest}"


def _upload(s: RegistrySession, digest: str, f: BinaryIO, size: int, chunk_size: int,
            tick: Callable[[int], None] | None) -> None:
    """POST an upload session, then PUT the blob whole, or PATCH it in chunks and PUT."""
    resp = s.request("POST", f"/v2/{s.repository}/blobs/uploads/", ok=(202,))
    resp.close()
    location = resp.headers.get("Location") or ""
    if not location:
        raise EngineError(f"{s.host}: upload session without a Location")
    octets = {"Content-Type": "application/octet-stream"}
    if chunk_size <= 0 or size <= chunk_size:
        s.request("PUT", _with_digest(location, digest), ok=(201,), data=_Reader(f, size, tick),
                  headers={**octets, "Content-Length": str(size)}).close()
        return
    done = 0
    while chunk := f.read(chunk_size):
        resp = s.request("PATCH", location, ok=(202,), data=chunk,
                         headers={**octets, "Content-Range": f"{done}-{done + len(chunk) - 1}"})
        resp.close()
        location = resp.headers.get("Location") or location
        done += len(chunk)
        if tick:
            tick(done)
    s.request("PUT", _with_digest(location, digest), ok=(201,), data=b"",
              headers={"Content-Length": "0"}).close()
