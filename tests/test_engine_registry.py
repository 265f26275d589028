"""containers.engine.image.registry against a real registry (docker-registry) with skopeo as the
reference client. No Django DB, no `stack`; only 127.0.0.1 is contacted."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest
import requests

from containers.engine import errors
from containers.engine.image import registry as reg
from tests import registry_fixture
from tests.registry_fixture import TokenProxy

registry = registry_fixture.registry
auth_registry = registry_fixture.auth_registry

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _tar(files: dict[str, bytes], busybox: bool = False) -> bytes:
    """An uncompressed layer tar: `files` (parents included), plus /bin/busybox and bin/sh."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        names = list(files) + (["bin/busybox"] if busybox else [])
        for d in sorted({os.path.dirname(n) for n in names} - {""}):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1000
            tar.addfile(ti)
        if busybox:
            with open("/bin/busybox", "rb") as f:
                files = {**files, "bin/busybox": f.read()}
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o755, 1000
            tar.addfile(ti, io.BytesIO(data))
        if busybox:
            ti = tarfile.TarInfo("bin/sh")
            ti.type, ti.linkname, ti.mtime = tarfile.SYMTYPE, "busybox", 1000
            tar.addfile(ti)
    return buf.getvalue()


def _config(diff_ids: list[str], arch: str = "amd64") -> bytes:
    return json.dumps({"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
                       "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids},
                       "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "test"}
                                   for _ in diff_ids]}).encode()


class Layout:
    """An OCI image layout written by hand: blobs/sha256/*, index.json, oci-layout."""

    def __init__(self, d: str):
        self.d = d
        os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)

    def blob(self, data: bytes, media_type: str) -> dict:
        digest = _sha(data)
        with open(os.path.join(self.d, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, tars: list[bytes], arch: str = "amd64") -> tuple[dict, bytes]:
        """(manifest descriptor, config bytes) of an image of the gzipped `tars`."""
        config = _config([_sha(t) for t in tars], arch)
        manifest = {"schemaVersion": 2, "mediaType": reg.OCI_MANIFEST,
                    "config": self.blob(config, OCI_CONFIG),
                    "layers": [self.blob(gzip.compress(t, mtime=0), OCI_LAYER) for t in tars]}
        desc = self.blob(json.dumps(manifest).encode(), reg.OCI_MANIFEST)
        return {**desc, "platform": {"architecture": arch, "os": "linux"}}, config

    def index(self, manifests: list[dict]) -> dict:
        return self.blob(json.dumps({"schemaVersion": 2, "mediaType": reg.OCI_INDEX,
                                     "manifests": manifests}).encode(), reg.OCI_INDEX)

    def tag(self, tag: str, desc: dict) -> None:
        desc = {**desc, "annotations": {"org.opencontainers.image.ref.name": tag}}
        with open(os.path.join(self.d, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [desc]}, f)
        with open(os.path.join(self.d, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)


def _skopeo_push(srv, tmp_path, desc: dict, layout: Layout, dest: str, *extra: str) -> None:
    layout.tag("t", desc)
    srv.skopeo("copy", *extra, "--dest-tls-verify=false", f"oci:{layout.d}:t", f"docker://{srv.addr}/{dest}")


def _pull(srv, ref: str, tmp_path, **kw) -> reg.PullResult:
    return reg.pull(f"{srv.addr}/{ref}", str(tmp_path / "dl"), insecure={srv.addr}, **kw)


def _diff_id(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    return _sha(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def _inspect(srv, ref: str, *extra: str) -> dict:
    return json.loads(srv.skopeo("inspect", "--tls-verify=false", *extra, f"docker://{srv.addr}/{ref}").stdout)


# -- references -------------------------------------------------------------------------------


@pytest.mark.parametrize("ref,want", [
    ("busybox", ("docker.io", "library/busybox", "latest", "")),
    ("library/busybox:1.36", ("docker.io", "library/busybox", "1.36", "")),
    ("docker.io/alpine:3.19", ("docker.io", "library/alpine", "3.19", "")),
    ("index.docker.io/user/app", ("docker.io", "user/app", "latest", "")),
    ("localhost:5000/a/b:tag", ("localhost:5000", "a/b", "tag", "")),
    ("localhost/a", ("localhost", "a", "latest", "")),
    ("busybox@sha256:" + "a" * 64, ("docker.io", "library/busybox", "", "sha256:" + "a" * 64)),
    ("quay.io/x/y:v1@sha256:" + "b" * 64, ("quay.io", "x/y", "v1", "sha256:" + "b" * 64)),
])
def test_parse_reference(ref, want):
    r = reg.parse_reference(ref)
    assert (r.registry, r.repository, r.tag, r.digest) == want
    assert r.host == ("registry-1.docker.io" if r.registry == "docker.io" else r.registry)


def test_parse_reference_default_registry():
    r = reg.parse_reference("busybox", default_registry="127.0.0.1:5000")
    assert (r.registry, r.repository, r.tag, str(r)) == ("127.0.0.1:5000", "busybox", "latest",
                                                          "127.0.0.1:5000/busybox:latest")


@pytest.mark.parametrize("ref", ["", " x", "UPPER/case", "a:b:c", "x@sha256:123", "x@md5:" + "a" * 32,
                                 "a//b", "x:", "reg.io/", "x:-bad", "a/b/"])
def test_parse_reference_invalid(ref):
    with pytest.raises(errors.InvalidArgument, match="invalid reference format"):
        reg.parse_reference(ref)


def test_check_diff_ids():
    a, b = _sha(b"a"), _sha(b"b")
    config = _config([a, b])
    reg.check_diff_ids(config, [a, b[7:]])
    reg.check_diff_ids(json.loads(config), [a, b])
    with pytest.raises(errors.InvalidArgument, match="layer 1"):
        reg.check_diff_ids(config, [a, a])
    with pytest.raises(errors.InvalidArgument, match="2 layers"):
        reg.check_diff_ids(config, [a])
    with pytest.raises(errors.InvalidArgument, match="rootfs"):
        reg.check_diff_ids(b"{}", [])


def test_progress_message():
    assert reg.progress_message("abc", "Downloading", 5, 10) == {
        "status": "Downloading", "progressDetail": {"current": 5, "total": 10}, "id": "abc"}
    assert reg.progress_message("abc", "Pull complete", 0, 0)["progressDetail"] == {}


# -- pull -------------------------------------------------------------------------------------


def test_pull_skopeo_pushed_image(registry, tmp_path):
    layout = Layout(str(tmp_path / "oci"))
    tars = [_tar({"etc/hostname": b"test\n"}, busybox=True),
            _tar({"etc/motd": b"hello\n", "data/blob.bin": os.urandom(300_000)})]
    desc, config = layout.image(tars)
    _skopeo_push(registry, tmp_path, desc, layout, "tiny/busybox:1.0")
    remote = _inspect(registry, "tiny/busybox:1.0")

    events = []
    res = _pull(registry, "tiny/busybox:1.0", tmp_path, progress=lambda *a: events.append(a))
    assert res.digest == res.manifest_digest == remote["Digest"] == _sha(res.manifest)
    assert res.config == config and res.image_id == _sha(config)[7:]
    assert [ly.digest for ly in res.layers] == remote["Layers"]
    for layer, tar in zip(res.layers, tars, strict=True):
        assert layer.media_type in (OCI_LAYER, reg.DOCKER_LAYER) and layer.diff_id == _sha(tar)
        with open(layer.path, "rb") as f:
            blob = f.read()
        assert _sha(blob) == layer.digest and len(blob) == layer.size and gzip.decompress(blob) == tar
    reg.check_diff_ids(res.config, [_diff_id(ly.path) for ly in res.layers])

    ids = {reg._short(ly.digest) for ly in res.layers}
    assert {e[0] for e in events} == ids
    statuses = [(e[0], e[1]) for e in events]
    for i in ids:
        assert [s for (j, s) in statuses if j == i and s != "Downloading"] == [
            "Pulling fs layer", "Verifying Checksum", "Download complete"]
    big = [e for e in events if e[1] == "Downloading" and e[3] > 300_000]
    assert len(big) >= 2 and big[-1][2] == big[-1][3]
    res.cleanup()
    assert os.listdir(tmp_path / "dl") == []

    # by digest; with the bottom layer already present
    events.clear()
    again = _pull(registry, f"tiny/busybox@{remote['Digest']}", tmp_path,
                  have_layer=lambda d: d == _sha(tars[0]), progress=lambda *a: events.append(a))
    assert again.config == config and again.layers[0].path is None and again.layers[1].path
    assert (reg._short(again.layers[0].digest), "Already exists", 0, again.layers[0].size) in events
    again.cleanup()


def test_pull_index_picks_linux_amd64(registry, tmp_path):
    layout = Layout(str(tmp_path / "oci"))
    arm, _ = layout.image([_tar({"arch": b"arm64\n"})], "arm64")
    amd, amd_config = layout.image([_tar({"arch": b"amd64\n"})], "amd64")
    index = layout.index([arm, amd])
    _skopeo_push(registry, tmp_path, index, layout, "multi/arch:latest", "--all")
    res = _pull(registry, "multi/arch", tmp_path)
    assert res.config == amd_config
    assert res.digest == index["digest"] and res.manifest_digest == amd["digest"]
    with open(res.layers[0].path, "rb") as f:
        assert b"amd64\n" in gzip.decompress(f.read())
    res.cleanup()

    layout2 = Layout(str(tmp_path / "oci2"))
    only_arm = layout2.index([layout2.image([_tar({"a": b"1"})], "arm64")[0]])
    _skopeo_push(registry, tmp_path, only_arm, layout2, "multi/armonly:latest", "--all")
    with pytest.raises(errors.NotFound, match="no matching manifest for linux/amd64"):
        _pull(registry, "multi/armonly", tmp_path)


def test_pull_not_found(registry, tmp_path):
    with pytest.raises(errors.NotFound, match="manifest for .*/nothing/here:nope not found"):
        _pull(registry, "nothing/here:nope", tmp_path)
    layout = Layout(str(tmp_path / "oci"))
    _skopeo_push(registry, tmp_path, layout.image([_tar({"f": b"1"})])[0], layout, "exists/repo:t")
    with pytest.raises(errors.NotFound, match="manifest unknown"):
        _pull(registry, "exists/repo:other", tmp_path)
    with pytest.raises(errors.NotFound):
        _pull(registry, "exists/repo@sha256:" + "0" * 64, tmp_path)
    assert os.listdir(tmp_path / "dl") == []


def test_pull_corrupted_blob(registry, tmp_path):
    layout = Layout(str(tmp_path / "oci"))
    desc, _ = layout.image([_tar({"f": b"1"}), _tar({"payload": os.urandom(20000)})])
    _skopeo_push(registry, tmp_path, desc, layout, "corrupt/me:t")
    path = registry.blob_path(_inspect(registry, "corrupt/me:t")["Layers"][1])
    with open(path, "r+b") as f:  # same size, one byte flipped
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(reg.DigestMismatch, match="failed verification"):
        _pull(registry, "corrupt/me:t", tmp_path)
    assert os.listdir(tmp_path / "dl") == []  # the good first layer's file is gone too


def _raw_push(srv, repo: str, tag: str, blobs: list[bytes], manifest: bytes, media_type: str) -> None:
    """Upload blobs and a manifest with plain HTTP (for images skopeo would not make)."""
    for b in blobs:
        loc = requests.post(f"{srv.url}/v2/{repo}/blobs/uploads/").headers["Location"]
        sep = "&" if "?" in loc else "?"
        requests.put(f"{loc}{sep}digest={_sha(b)}", data=b).raise_for_status()
    requests.put(f"{srv.url}/v2/{repo}/manifests/{tag}", data=manifest,
                 headers={"Content-Type": media_type}).raise_for_status()


def test_pull_zstd_refused(registry, tmp_path):
    tar = _tar({"f": b"1"})
    zst = b"\x28\xb5\x2f\xfd" + os.urandom(64)
    config = _config([_sha(tar)])
    for repo, media_type in (("zstd/typed", OCI_LAYER.replace("gzip", "zstd")), ("zstd/sniffed", OCI_LAYER)):
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": reg.OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": _sha(config), "size": len(config)},
            "layers": [{"mediaType": media_type, "digest": _sha(zst), "size": len(zst)}]})
        _raw_push(registry, repo, "t", [config, zst], manifest.encode(), reg.OCI_MANIFEST)
        with pytest.raises(errors.InvalidArgument, match="zstd-compressed"):
            _pull(registry, f"{repo}:t", tmp_path)
    assert os.listdir(tmp_path / "dl") == []


def test_pull_verifies_manifest_digest(registry, tmp_path):
    layout = Layout(str(tmp_path / "oci"))
    desc, _ = layout.image([_tar({"f": b"1"})])
    _skopeo_push(registry, tmp_path, desc, layout, "tamper/manifest:t")
    path = registry.blob_path(desc["digest"])
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:  # still valid JSON, same size, other bytes
        f.write(raw.replace(b", ", b",\t", 1))
    with pytest.raises(reg.DigestMismatch, match="expected " + desc["digest"]):
        _pull(registry, f"tamper/manifest@{desc['digest']}", tmp_path)


def test_pull_refuses_non_images(registry, tmp_path):
    config = b'{"name": "chart"}'
    manifest = json.dumps({"schemaVersion": 2, "mediaType": reg.OCI_MANIFEST, "layers": [],
                           "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json",
                                      "digest": _sha(config), "size": len(config)}}).encode()
    _raw_push(registry, "helm/chart", "t", [config], manifest, reg.OCI_MANIFEST)
    with pytest.raises(errors.InvalidArgument, match="not a container image"):
        _pull(registry, "helm/chart:t", tmp_path)


def test_insecure_only_when_allowed(registry, tmp_path):
    with pytest.raises(errors.EngineError, match="insecure registries"):
        reg.pull(f"{registry.addr}/any/thing", str(tmp_path / "dl"))


# -- push -------------------------------------------------------------------------------------


def test_push_then_skopeo(registry, tmp_path):
    tars = [_tar({"etc/hostname": b"pushed\n"}, busybox=True), _tar({"etc/extra": os.urandom(200_000)})]
    paths = []
    for i, t in enumerate(tars):
        p = tmp_path / f"layer{i}.tar"
        p.write_bytes(t)
        paths.append(str(p))
    config = _config([_sha(t) for t in tars])
    work = str(tmp_path / "work")
    events = []
    digest = reg.push(f"{registry.addr}/pushed/bb:v1", config, [paths[0], io.BytesIO(tars[1])], work,
                      insecure={registry.addr}, progress=lambda *a: events.append(a))
    assert os.listdir(work) == []
    ids = [_sha(t)[7:19] for t in tars]
    for i in ids:
        assert [s for (j, s, *_) in events if j == i and s != "Pushing"] == ["Preparing", "Pushed"]
    assert any(s == "Pushing" and c == t > 0 for (_, s, c, t) in events)

    raw = registry.skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{registry.addr}/pushed/bb:v1").stdout
    assert _sha(raw.encode()) == digest
    manifest = json.loads(raw)
    assert manifest["mediaType"] == reg.DOCKER_MANIFEST and manifest["config"]["digest"] == _sha(config)
    info = _inspect(registry, "pushed/bb:v1")
    assert info["Digest"] == digest and info["Architecture"] == "amd64"

    oci = tmp_path / "copy"
    registry.skopeo("copy", "--src-tls-verify=false", f"docker://{registry.addr}/pushed/bb:v1",
                    f"oci:{oci}:v1")
    index = json.loads((oci / "index.json").read_text())
    copied = json.loads((oci / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    # converting to OCI rewrites the config (so its digest), never the layers
    copied_config = json.loads((oci / "blobs/sha256" / copied["config"]["digest"][7:]).read_bytes())
    assert copied_config["rootfs"]["diff_ids"] == [_sha(t) for t in tars]
    assert [ly["digest"] for ly in copied["layers"]] == [ly["digest"] for ly in manifest["layers"]]
    for layer, tar in zip(copied["layers"], tars, strict=True):
        assert gzip.decompress((oci / "blobs/sha256" / layer["digest"][7:]).read_bytes()) == tar

    # our pull reads it back
    res = _pull(registry, "pushed/bb:v1", tmp_path)
    assert res.digest == digest and res.config == config
    reg.check_diff_ids(res.config, [_diff_id(ly.path) for ly in res.layers])
    res.cleanup()

    # again: every layer is there (deterministic gzip), same manifest digest
    events.clear()
    assert reg.push(f"{registry.addr}/pushed/bb:v1", config, paths, work, insecure={registry.addr},
                    progress=lambda *a: events.append(a)) == digest
    assert [s for (_, s, *_) in events if s != "Preparing"] == ["Layer already exists"] * 2

    # chunked upload (PATCH) into another repository gives the same manifest
    assert reg.push(f"{registry.addr}/pushed/chunked:v1", config, paths, work, insecure={registry.addr},
                    chunk_size=64 * 1024) == digest
    assert _inspect(registry, "pushed/chunked:v1")["Digest"] == digest


def test_push_refuses_bad_input(registry, tmp_path):
    tar = _tar({"f": b"1"})
    work = str(tmp_path / "work")
    kw = {"insecure": {registry.addr}}
    with pytest.raises(errors.InvalidArgument, match="diff_id"):
        reg.push(f"{registry.addr}/bad/push:t", _config([_sha(b"other")]), [io.BytesIO(tar)], work, **kw)
    with pytest.raises(errors.InvalidArgument, match="1 layers, got 2"):
        reg.push(f"{registry.addr}/bad/push:t", _config([_sha(tar)]), [io.BytesIO(tar)] * 2, work, **kw)
    with pytest.raises(errors.InvalidArgument, match="digest reference"):
        reg.push(f"{registry.addr}/bad/push@sha256:" + "a" * 64, _config([]), [], work, **kw)
    assert os.listdir(work) == []
    assert requests.get(f"{registry.url}/v2/bad/push/tags/list").status_code == 404


# -- auth -------------------------------------------------------------------------------------


def test_basic_auth(auth_registry, tmp_path):
    srv = auth_registry
    tar = _tar({"secret": b"data\n"})
    config = _config([_sha(tar)])
    kw = {"insecure": {srv.addr}}
    ref = f"{srv.addr}/auth/img:1"
    with pytest.raises(reg.Unauthorized, match="requires authentication"):
        reg.push(ref, config, [io.BytesIO(tar)], str(tmp_path / "w"), **kw)
    with pytest.raises(reg.Unauthorized, match="incorrect username or password"):
        reg.pull(ref, str(tmp_path / "dl"), credentials=("alice", "wrong"), **kw)
    digest = reg.push(ref, config, [io.BytesIO(tar)], str(tmp_path / "w"), credentials=("alice", "s3cret"),
                      chunk_size=1024, **kw)  # relative Location URLs on this registry
    res = reg.pull(ref, str(tmp_path / "dl"), credentials=("alice", "s3cret"), **kw)
    assert res.digest == digest and res.config == config
    res.cleanup()
    with pytest.raises(reg.Unauthorized, match="requires authentication"):
        reg.pull(ref, str(tmp_path / "dl"), **kw)


def test_bearer_token_flow(registry, tmp_path):
    tar = _tar({"token": b"yes\n"})
    config = _config([_sha(tar)])
    with TokenProxy(registry.url) as proxy:
        kw = {"insecure": {proxy.addr}, "credentials": ("alice", "s3cret")}
        ref = f"{proxy.addr}/bearer/img:1"
        digest = reg.push(ref, config, [io.BytesIO(tar)], str(tmp_path / "w"), **kw)
        assert proxy.token_requests[-1] == {
            "service": ["test-svc"], "scope": ["repository:bearer/img:pull,push"], "account": ["alice"]}
        res = reg.pull(ref, str(tmp_path / "dl"), **kw)
        assert proxy.token_requests[-1]["scope"] == ["repository:bearer/img:pull"]
        assert res.digest == digest and res.config == config
        res.cleanup()
        assert _inspect(registry, "bearer/img:1")["Digest"] == digest  # really stored upstream

        with pytest.raises(reg.Unauthorized, match="incorrect username or password"):
            reg.pull(ref, str(tmp_path / "dl"), insecure={proxy.addr}, credentials=("alice", "no"))
        with pytest.raises(reg.Unauthorized, match="refused an anonymous token"):
            reg.pull(ref, str(tmp_path / "dl"), insecure={proxy.addr})
        with pytest.raises(errors.NotFound):
            reg.pull(f"{proxy.addr}/bearer/none:1", str(tmp_path / "dl"), **kw)
