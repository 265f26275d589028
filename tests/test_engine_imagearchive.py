"""ImageStore.save / ImageStore.load (engine/image/save.py, load.py): docker save / OCI layout
archives out and in, on real
files (no Django DB, no `stack`, no network). Stores live in pytest tmp dirs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from containers.engine.errors import InvalidArgument, NotFound
from containers.engine.image.store import ImageStore
from containers.engine.layout import Layout
from tests.fstree import snapshot

OPAQUE = "trusted.overlay.opaque"



def _save(store, items):
    return store.save(items)


def _save_oci(store, items):
    return store.save(items, "oci")


def _load(store, stream, _tmp_dir=None):
    """[(info, repo tags)] of what the archive held."""
    return [(x.info, list(x.repo_tags)) for x in store.load(stream)]


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def make_store(tmp_path, name) -> ImageStore:
    s = ImageStore(Layout(str(tmp_path / name)))
    s.layout.ensure()
    return s


def members(archive: bytes) -> dict[str, tarfile.TarInfo | bytes]:
    """name -> bytes for files, TarInfo for anything else."""
    out: dict[str, tarfile.TarInfo | bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        for m in t.getmembers():
            f = t.extractfile(m) if m.isreg() else None
            out[m.name.rstrip("/")] = f.read() if f else m
    return out


def tar_of(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti, data in entries:
            if data is not None:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def ti(name, kind=tarfile.REGTYPE, mode=0o644, mtime=1_600_000_000, uid=0, gid=0, linkname=""):
    i = tarfile.TarInfo(name)
    i.type, i.mode, i.mtime, i.uid, i.gid, i.linkname = kind, mode, mtime, uid, gid, linkname
    return i




@pytest.fixture
def images(tmp_path):
    """Store "a" with three images: busybox, a commit over it (whiteout + opaque dir), and an
    import of a hand-made GNU tar (unsorted, hard link, .wh. entries, odd owners and
    mtimes: a tar tar_stream would not write the same way). -> (store, items)."""
    store = make_store(tmp_path, "a")
    bb = store.build_busybox()
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "motd").write_text("hello from the commit\n")
    os.mknod(upper / "etc" / "group", stat.S_IFCHR | 0o600, os.makedev(0, 0))  # whiteout
    (upper / "opt").mkdir()
    os.setxattr(upper / "opt", OPAQUE, b"y")
    (upper / "opt" / "tool").write_bytes(b"#!/bin/sh\necho tool\n")
    os.chmod(upper / "opt" / "tool", 0o755)
    child = store.commit(str(upper), bb, comment="motd", created_by="/bin/sh -c motd")
    raw = tar_of([
        (ti("zeta", mode=0o600, uid=1000, gid=1000, mtime=1_234_567_890), b"z" * 3000),
        (ti("app", kind=tarfile.DIRTYPE, mode=0o750), None),
        (ti("app/data.bin", mtime=1_700_000_000), bytes(range(256)) * 40),
        (ti("app/link", kind=tarfile.SYMTYPE, linkname="data.bin"), None),
        (ti("app/hard", kind=tarfile.LNKTYPE, linkname="app/data.bin"), None),
        (ti("app/.wh.gone"), b""),
        (ti("var/.wh..wh..opq"), b""),
        (ti("var/keep"), b"kept\n"),
    ], fmt=tarfile.GNU_FORMAT)
    imp = store.import_tar(io.BytesIO(raw), comment="hand-made")
    assert imp.layers == [sha(raw)]
    items = [(child.id, ["app:1", "localhost:5000/team/app:v1"]), (bb.id, ["busybox:latest"]),
             (imp.id, ["imp:v1"])]
    return store, items


def check_same_images(src: ImageStore, dst: ImageStore, items) -> None:
    for image_id, _ in items:
        assert dst.config_bytes(image_id) == src.config_bytes(image_id)
        info = dst.get(image_id)
        assert info.layers == src.get(image_id).layers
        for d in info.layers:
            got, want = (snapshot(x.layer_path(d), dir_mtimes=False) for x in (dst, src))
            assert got == want, d


def test_docker_save_round_trip_keeps_ids_files_and_bytes(images, tmp_path):
    store, items = images
    first = b"".join(_save(store, items))

    m = members(first)
    manifest = json.loads(m["manifest.json"])
    assert [e["Config"] for e in manifest] == [f"{i}.json" for i, _ in items]
    assert [e["RepoTags"] for e in manifest] == [t for _, t in items]
    for entry, (image_id, _) in zip(manifest, items, strict=True):
        assert m[entry["Config"]] == store.config_bytes(image_id)
        layer_shas = [sha(m[p]) for p in entry["Layers"] if isinstance(m[p], bytes)]
        assert set(layer_shas) <= set(store.get(image_id).layers)
    repos = json.loads(m["repositories"])
    assert set(repos) == {"app", "localhost:5000/team/app", "busybox", "imp"}

    tmp_dir = str(tmp_path / "loadtmp")
    b = make_store(tmp_path, "b")
    got = _load(b, io.BytesIO(first), tmp_dir)
    assert sorted((info.id, tags) for info, tags in got) == sorted((i, list(t)) for i, t in items)
    check_same_images(store, b, items)
    assert os.listdir(store.layout.tmp) == []

    # second round trip: same bytes out, same ids in
    second = b"".join(_save(b, items))
    assert second == first
    c = make_store(tmp_path, "c")
    got2 = _load(c, io.BytesIO(gzip.compress(second)), tmp_dir)
    assert [(i.id, t) for i, t in got2] == [(i.id, t) for i, t in got]
    check_same_images(store, c, items)
    assert b"".join(_save(c, items)) == first

    # loading again into a store that has it all is a no-op with the same answer
    assert [(i.id, t) for i, t in _load(c, io.BytesIO(first), tmp_dir)] == \
        [(i.id, t) for i, t in got]


def test_oci_round_trip(images, tmp_path):
    store, items = images
    first = b"".join(_save_oci(store, items))

    m = members(first)
    assert json.loads(m["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(m["index.json"])
    tags = [d["annotations"]["org.opencontainers.image.ref.name"] for d in index["manifests"]]
    assert tags == ["1", "v1", "latest", "v1"]
    for desc in index["manifests"]:
        assert desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        raw = m[f"blobs/sha256/{desc['digest'][7:]}"]
        assert sha(raw) == desc["digest"][7:] and len(raw) == desc["size"]
        manifest = json.loads(raw)
        assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
        image_id = manifest["config"]["digest"][7:]
        assert m[f"blobs/sha256/{image_id}"] == store.config_bytes(image_id)
        assert [x["digest"][7:] for x in manifest["layers"]] == store.get(image_id).layers
        for layer in manifest["layers"]:
            assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
            assert sha(m[f"blobs/sha256/{layer['digest'][7:]}"]) == layer["digest"][7:]

    tmp_dir = str(tmp_path / "loadtmp")
    b = make_store(tmp_path, "b")
    got = _load(b, io.BytesIO(gzip.compress(first)), tmp_dir)
    assert sorted((info.id, t) for info, t in got) == sorted((i, list(t)) for i, t in items)
    check_same_images(store, b, items)
    assert b"".join(_save_oci(b, items)) == first
    c = make_store(tmp_path, "c")
    _load(c, io.BytesIO(b"".join(_save_oci(b, items))), tmp_dir)
    check_same_images(store, c, items)
    assert os.listdir(store.layout.tmp) == []


def test_save_unknown_image_fails_before_any_byte(images):
    store, _ = images
    with pytest.raises(NotFound):
        _save(store, [("0" * 64, ["x:1"])])
    with pytest.raises(NotFound):
        _save_oci(store, [("0" * 64, ["x:1"])])


def hand_made_layer() -> bytes:
    return tar_of([(ti("hello.txt", mtime=1_500_000_000), b"hi there\n"),
                   (ti("bin", kind=tarfile.DIRTYPE, mode=0o755), None),
                   (ti("bin/run", mode=0o755), b"#!/bin/sh\necho run\n")])


def hand_made_config(diff_id: str) -> bytes:
    # not this engine's canonical form (indented, keys unsorted): the id is still its sha256
    doc = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/run"]},
           "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
           "history": [{"created_by": "by hand"}]}
    return json.dumps(doc, indent=3).encode() + b"\n"


def test_hand_made_docker_save_archive_loads(tmp_path):
    layer = hand_made_layer()
    config = hand_made_config(sha(layer))
    image_id = sha(config)
    archive = tar_of([
        (ti("manifest.json"), json.dumps([{"Config": "cfg.json", "RepoTags": ["docker.io/library/hand:made"],
                                           "Layers": ["somewhere/layer.tar"]}]).encode()),
        (ti("cfg.json"), config),
        (ti("somewhere", kind=tarfile.DIRTYPE, mode=0o755), None),
        (ti("somewhere/layer.tar"), layer),
    ])
    store = make_store(tmp_path, "s")
    got = _load(store, io.BytesIO(archive), str(tmp_path / "t"))
    assert [(i.id, t) for i, t in got] == [(image_id, ["hand:made"])]
    assert store.config_bytes(image_id) == config
    info = store.get(image_id)
    assert info.layers == [sha(layer)] and info.config == {"Cmd": ["/bin/run"]}
    with open(os.path.join(store.layer_path(sha(layer)), "bin", "run"), "rb") as f:
        assert f.read() == b"#!/bin/sh\necho run\n"
    # and it goes out again with the same bytes for config and layer
    m = members(b"".join(_save(store, [(image_id, ["hand:made"])])))
    assert m[f"{image_id}.json"] == config
    assert [sha(v) for k, v in m.items() if k.endswith("/layer.tar")] == [sha(layer)]


def oci_archive(config: bytes, layer_blob: bytes, layer_type: str, tag: str = "made") -> bytes:
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": f"sha256:{sha(config)}", "size": len(config)},
                           "layers": [{"mediaType": layer_type, "digest": f"sha256:{sha(layer_blob)}",
                                       "size": len(layer_blob)}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{sha(manifest)}",
         "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": f"hand:{tag}"}}]})
    return tar_of([(ti("oci-layout"), b'{"imageLayoutVersion":"1.0.0"}'),
                   (ti("index.json"), index.encode()),
                   (ti(f"blobs/sha256/{sha(manifest)}"), manifest),
                   (ti(f"blobs/sha256/{sha(config)}"), config),
                   (ti(f"blobs/sha256/{sha(layer_blob)}"), layer_blob)])


def test_hand_made_oci_layout_with_gzip_layer_loads(tmp_path):
    layer = hand_made_layer()
    config = hand_made_config(sha(layer))
    archive = oci_archive(config, gzip.compress(layer), "application/vnd.oci.image.layer.v1.tar+gzip")
    store = make_store(tmp_path, "s")
    got = _load(store, io.BytesIO(archive), str(tmp_path / "t"))
    assert [(i.id, t) for i, t in got] == [(sha(config), ["hand:made"])]
    assert store.get(sha(config)).layers == [sha(layer)]
    # saved again, the layer is the uncompressed tar, whose digest is the diff_id
    m = members(b"".join(_save_oci(store, [(sha(config), ["hand:made"])])))
    assert m[f"blobs/sha256/{sha(layer)}"] == layer


def test_diff_id_mismatch_refused_and_nothing_kept(tmp_path):
    layer = hand_made_layer()
    config = hand_made_config("ab" * 32)  # names a diff_id the layer does not have
    archive = tar_of([
        (ti("manifest.json"), json.dumps([{"Config": f"{sha(config)}.json", "RepoTags": ["x:1"],
                                           "Layers": ["l/layer.tar"]}]).encode()),
        (ti(f"{sha(config)}.json"), config), (ti("l/layer.tar"), layer)])
    store = make_store(tmp_path, "s")
    with pytest.raises(InvalidArgument, match="diff_id"):
        _load(store, io.BytesIO(archive), str(tmp_path / "t"))
    assert store.image_ids() == [] and os.listdir(store.layout.layers) == []
    assert os.listdir(store.layout.tmp) == []

    # an OCI blob whose bytes do not match its digest
    bad = oci_archive(hand_made_config(sha(layer)), layer, "application/vnd.oci.image.layer.v1.tar")
    bad = bad.replace(b"hi there\n", b"HI THERE\n")
    with pytest.raises(InvalidArgument):
        _load(store, io.BytesIO(bad), str(tmp_path / "t"))
    assert store.image_ids() == []


def test_malicious_members_refused(tmp_path):
    store = make_store(tmp_path, "s")
    tmp_dir = tmp_path / "work" / "t"
    escape = tar_of([(ti("manifest.json"), b"[]"), (ti("../../escaped"), b"x")])
    with pytest.raises(InvalidArgument, match="outside"):
        _load(store, io.BytesIO(escape), str(tmp_dir))
    assert not (tmp_path / "work" / "escaped").exists() and not (tmp_path / "escaped").exists()
    assert os.listdir(store.layout.tmp) == []

    secret = tmp_path / "secret.tar"
    secret.write_bytes(hand_made_layer())
    layer = hand_made_layer()
    config = hand_made_config(sha(layer))
    # manifest paths that climb out, and a symlink member pointing out: never read
    for layer_path, extra in [(f"../../../../..{secret}", []), (str(secret), []),
                              ("l/layer.tar", [(ti("l/layer.tar", kind=tarfile.SYMTYPE,
                                                   linkname=str(secret)), None)]),
                              ("l/layer.tar", [(ti("l/layer.tar", kind=tarfile.SYMTYPE,
                                                   linkname="../../../../../../../" + str(secret)), None)])]:
        manifest = json.dumps([{"Config": "c.json", "Layers": [layer_path]}]).encode()
        archive = tar_of([(ti("manifest.json"), manifest), (ti("c.json"), config), *extra])
        with pytest.raises(InvalidArgument):
            _load(store, io.BytesIO(archive), str(tmp_dir))
        assert store.image_ids() == [] and os.listdir(store.layout.layers) == []
    assert os.listdir(store.layout.tmp) == []

    with pytest.raises(InvalidArgument, match="neither"):
        _load(store, io.BytesIO(tar_of([(ti("x"), b"y")])), str(tmp_dir))
    with pytest.raises(InvalidArgument):
        _load(store, io.BytesIO(b"not a tar at all" * 100), str(tmp_dir))


SKOPEO = shutil.which("skopeo")


@pytest.mark.skipif(not SKOPEO, reason="skopeo is not installed")
def test_skopeo_interop(images, tmp_path):
    store, items = images
    child_id = items[0][0]
    policy = tmp_path / "policy.json"
    policy.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')

    def skopeo(*args):
        r = subprocess.run([SKOPEO, "--policy", str(policy), *args], capture_output=True, text=True,
                           env={**os.environ, "TMPDIR": str(tmp_path)})
        assert r.returncode == 0, r.stderr

    oci = tmp_path / "ours-oci.tar"
    oci.write_bytes(b"".join(_save_oci(store, [(child_id, ["app:1"])])))
    docker = tmp_path / "ours-docker.tar"
    docker.write_bytes(b"".join(_save(store, [(child_id, ["app:1"])])))

    skopeo("copy", f"oci-archive:{oci}:1", f"oci:{tmp_path / 'dir1'}:1")
    skopeo("copy", f"docker-archive:{docker}", f"oci:{tmp_path / 'dir2'}:app")
    skopeo("copy", "--preserve-digests", f"docker-archive:{docker}", f"oci:{tmp_path / 'dir3'}:app")

    def load_layout(d):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            t.add(tmp_path / d, arcname=".")
        s = make_store(tmp_path, f"from-{d}")
        return s, _load(s, io.BytesIO(buf.getvalue()), str(tmp_path / "t"))

    # skopeo's layouts, tarred, load with the same image id (layers gzipped by skopeo)...
    for d in ("dir1", "dir3"):
        s, got = load_layout(d)
        assert [i.id for i, _ in got] == [child_id], d
        check_same_images(store, s, items[:1])
    # ...except when skopeo converts a docker-archive to OCI: it re-serialises the config
    # (key order, and it drops Docker-only fields such as "comment"), so the id is that of
    # its bytes; the rest of the document and the layers are the same
    s, got = load_layout("dir2")
    [(info, _)] = got
    ours = {k: v for k, v in store.config_doc(child_id).items() if k != "comment"}
    assert s.config_doc(info.id) == ours and info.layers == store.get(child_id).layers
    for d in info.layers:
        assert snapshot(s.layer_path(d), dir_mtimes=False) == snapshot(store.layer_path(d), dir_mtimes=False)

    out = tmp_path / "x.tar"
    skopeo("copy", f"oci:{tmp_path / 'dir1'}:1", f"docker-archive:{out}:name:tag")
    s = make_store(tmp_path, "from-skopeo-docker")
    with open(out, "rb") as f:
        got = _load(s, f, str(tmp_path / "t"))
    assert [(i.id, t) for i, t in got] == [(child_id, ["name:tag"])]
    check_same_images(store, s, items[:1])
