"""containers.engine.image.store (+ imageconfig, imagesave, imageload) on real files and real
overlayfs mounts (no Django DB, no `stack`, no network). Stores live in tmp dirs; mounts are
unmounted in teardown."""

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

from containers.engine.errors import EngineError, InvalidArgument, NotFound
from containers.engine.fs import rootfs
from containers.engine.fs.changes import changes
from containers.engine.fs.tarcreate import tar_stream
from containers.engine.image import config as imageconfig
from containers.engine.image.load import load_dir
from containers.engine.image.store import ImageStore
from containers.engine.layout import Layout
from tests.fstree import snapshot


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def make_store(tmp_path, name="state") -> ImageStore:
    s = ImageStore(Layout(str(tmp_path / name)))
    s.layout.ensure()
    return s


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return make_store(tmp_path)


@pytest.fixture
def overlay(tmp_path):
    """mount(lowers, name) -> (upper, merged); umount(merged). All unmounted in teardown."""
    mounted: list[str] = []

    def mount(lowers, name):
        base = tmp_path / "containers" / name
        upper, work, merged = base / "upper", base / "work", base / "merged"
        rootfs.mount_overlay([str(x) for x in lowers], str(upper), str(work), str(merged))
        mounted.append(str(merged))
        return upper, merged

    yield mount
    for mp in reversed(mounted):
        rootfs.unmount(mp)
    assert rootfs.mounts_under(str(tmp_path)) == []


def rootfs_tarball(tmp_path) -> tuple[bytes, bytes]:
    """(gzipped tar made by GNU tar, its uncompressed bytes) of a small root filesystem."""
    src = tmp_path / "rootfs-src"
    spec = {"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "etc/group": "root:x:0:\n", "etc/hostname": "h\n",
            "usr/lib/a/b": "b", "usr/lib/c": "c", "opt/old1": "1", "opt/old2/x": "2", "bin/busybox": "bb"}
    for rel, text in spec.items():
        os.makedirs(src / os.path.dirname(rel), exist_ok=True)
        (src / rel).write_text(text)
    os.makedirs(src / "var/log")
    os.makedirs(src / "tmp")
    os.chmod(src / "tmp", 0o1777)
    os.symlink("/bin/busybox", src / "bin/sh")
    (src / "big").write_bytes(os.urandom(1 << 20))
    out = subprocess.run(["tar", "--numeric-owner", "-C", str(src), "-cf", "-", "."], check=True,
                         capture_output=True).stdout
    return gzip.compress(out), out




def modify(m) -> None:
    """What the container does in its merged root."""
    with open(m / "etc/passwd", "a") as f:
        f.write("alice:x:1000:1000::/home/alice:/bin/sh\n")
    (m / "etc/new").write_text("new")
    os.unlink(m / "etc/group")
    shutil.rmtree(m / "usr/lib")
    shutil.rmtree(m / "opt")
    os.mkdir(m / "opt")
    (m / "opt/fresh").write_text("f")
    os.chmod(m / "var/log", 0o700)
    os.rename(m / "etc/hostname", m / "etc/hostname2")
    os.makedirs(m / "home/alice")
    (m / "home/alice/notes").write_text("x")
    os.symlink("/", m / "root-link")


EXPECTED_CHANGES = {
    ("/etc", 0), ("/etc/passwd", 0), ("/etc/new", 1), ("/etc/group", 2), ("/etc/hostname", 2),
    ("/etc/hostname2", 1), ("/usr", 0), ("/usr/lib", 2), ("/opt", 0), ("/opt/fresh", 1), ("/opt/old1", 2),
    ("/opt/old2", 2), ("/var", 0), ("/var/log", 0), ("/home", 1), ("/home/alice", 1),
    ("/home/alice/notes", 1), ("/root-link", 1)}


# -- import, commit, mount: the whole round trip ----------------------------------------------


def test_import_modify_commit_mount_export(store, overlay, tmp_path):
    tgz, raw = rootfs_tarball(tmp_path)
    base, doc = store.import_image(io.BytesIO(tgz), comment="base fs", author="me",
                                   changes={"Cmd": ["/bin/sh"]})
    assert base.layers == [sha(raw)] and doc == store.config_doc(base.id)
    assert base.id == sha(store.config_bytes(base.id))
    assert doc["config"] == {"Cmd": ["/bin/sh"], "Env": [f"PATH={imageconfig.DEFAULT_PATH}"]}
    assert doc["history"] == [{"created": doc["created"], "author": "me", "comment": "base fs"}]
    assert store.get(base.id) == base and base.size == store.layer_size(base.layers[0]) > (1 << 20)

    # a container: overlay of the image, changed in its merged root
    upper, merged = overlay(store.lower_dirs(base), "c1")
    modify(merged)
    assert set(changes(str(upper), store.lower_dirs(base))) == EXPECTED_CHANGES
    exported = b"".join(tar_stream(str(merged)))
    own_layer = b"".join(tar_stream(str(upper), whiteouts=True))

    child = store.commit(str(upper), base, author="alice", comment="tweaks",
                         config_changes={"Env": ["A=1"], "WorkingDir": "/opt"}, created_by="sh -c edit")
    assert child.layers == [*base.layers, sha(own_layer)]
    size, chunks = store.layer_tar(child.layers[1])
    assert b"".join(chunks) == own_layer and size == len(own_layer)
    assert child.config == {"Cmd": ["/bin/sh"], "Env": ["A=1", f"PATH={imageconfig.DEFAULT_PATH}"],
                            "WorkingDir": "/opt"}
    hist = store.history(child.id)
    assert [h["created_by"] for h in hist] == ["sh -c edit", ""]
    assert [h["comment"] for h in hist] == ["tweaks", "base fs"]
    assert [h["author"] for h in hist] == ["alice", "me"]
    assert [h["layer"] for h in hist] == list(reversed(child.layers))
    assert hist[1]["size"] == base.size and 0 < hist[0]["size"] < 1000

    # the new image, mounted on its own: the same filesystem as the container had
    upper2, merged2 = overlay(store.lower_dirs(child), "c2")
    assert snapshot(merged2) == snapshot(merged)
    assert not os.path.lexists(merged2 / "etc/group") and os.listdir(merged2 / "opt") == ["fresh"]
    assert not os.path.exists(merged2 / "usr/lib")
    assert (merged2 / "etc/passwd").read_text().endswith("alice:x:1000:1000::/home/alice:/bin/sh\n")
    assert b"".join(tar_stream(str(merged2))) == exported
    assert changes(str(upper2), store.lower_dirs(child)) == []


def test_commit_of_nothing_and_config_merge(store, tmp_path):
    base = store.build_busybox()
    assert store.build_busybox() == base and len(os.listdir(store.layout.layers)) == 1
    (tmp_path / "empty").mkdir()
    child = store.commit(str(tmp_path / "empty"), base, config_changes={"Entrypoint": ["/bin/echo"],
                                                                         "Labels": {"a": "1"}})
    assert len(child.layers) == 2 and store.layer_size(child.layers[1]) == 0
    assert "Cmd" not in child.config and child.config["Entrypoint"] == ["/bin/echo"]
    grand = store.commit(str(tmp_path / "empty"), child, config_changes={"Labels": {"b": "2"}, "Cmd": ["x"]})
    assert grand.config["Labels"] == {"a": "1", "b": "2"} and grand.config["Cmd"] == ["x"]
    assert grand.layers[1] == grand.layers[2]  # the same empty layer, stored once
    assert len(os.listdir(store.layout.layers)) == 2


def test_merge_config_rules():
    base = {"Env": ["PATH=/bin", "A=1", "B=2"], "Cmd": ["sh"], "Labels": {"x": "1"},
            "ExposedPorts": {"80/tcp": {}}}
    got = imageconfig.merge_config(base, {"Env": ["B=3", "C=4"], "ExposedPorts": {"443/tcp": {}},
                                          "User": "nobody"})
    assert got["Env"] == ["B=3", "C=4", "PATH=/bin", "A=1"] and got["Cmd"] == ["sh"]
    assert got["ExposedPorts"] == {"80/tcp": {}, "443/tcp": {}} and got["User"] == "nobody"
    assert imageconfig.merge_config(base, {"Entrypoint": ["e"], "Cmd": ["c"]})["Cmd"] == ["c"]
    assert base["Env"] == ["PATH=/bin", "A=1", "B=2"]  # not modified
    d1, d2 = "a" * 64, "b" * 64
    assert imageconfig.chain_ids([d1, d2]) == [d1, sha(f"sha256:{d1} sha256:{d2}".encode())]
    for bad in ("sha256:../../etc", "md5:" + "a" * 32, "a" * 64, "sha256:" + "A" * 64):
        with pytest.raises(InvalidArgument):
            imageconfig.diff_ids({"rootfs": {"diff_ids": [bad]}})


# -- layers: shared, removed, reproduced ------------------------------------------------------


def test_layers_are_shared_and_removed_when_unused(store, tmp_path):
    tgz, raw = rootfs_tarball(tmp_path)
    a = store.import_tar(io.BytesIO(tgz), comment="a")
    b = store.import_tar(io.BytesIO(raw), comment="b")  # same tar, uncompressed
    assert a.id != b.id and a.layers == b.layers and os.listdir(store.layout.layers) == a.layers
    (tmp_path / "up").mkdir()
    (tmp_path / "up/f").write_text("child")
    child = store.commit(str(tmp_path / "up"), a)
    assert sorted(store.image_ids()) == sorted([a.id, b.id, child.id])

    assert store.remove(child.id, store.layers_of([a.id, b.id])) == [child.layers[1]]
    assert sorted(os.listdir(store.layout.layers)) == a.layers
    assert not os.path.exists(store.meta_path(child.layers[1]))
    assert store.remove(a.id, store.layers_of([b.id])) == []
    assert os.listdir(store.layout.layers) == a.layers
    assert store.remove(b.id, store.layers_of([])) == b.layers
    assert os.listdir(store.layout.layers) == [] and os.listdir(store.layermeta) == []
    assert os.listdir(store.layout.images) == [] and os.listdir(store.layout.tmp) == []
    with pytest.raises(NotFound):
        store.remove(b.id, set())
    with pytest.raises(NotFound):
        store.get("../../etc/passwd")


def test_layer_tar_without_records_and_after_tampering(store, tmp_path):
    bb = store.build_busybox()
    shutil.rmtree(store.meta_path(bb.layers[0]))  # as an older store had it
    size, chunks = store.layer_tar(bb.layers[0])  # re-tarring reproduces what tar_stream made
    assert sha(b"".join(chunks)) == bb.layers[0]
    tgz, raw = rootfs_tarball(tmp_path)
    img = store.import_tar(io.BytesIO(tgz))
    with open(os.path.join(store.layer_path(img.layers[0]), "etc/passwd"), "r+") as f:
        f.write("X")  # same size, other bytes
    with pytest.raises(EngineError, match="changed on disk"):
        b"".join(store.layer_tar(img.layers[0])[1])
    shutil.rmtree(store.meta_path(img.layers[0]))
    with pytest.raises(EngineError, match="cannot be reproduced"):
        store.layer_tar(img.layers[0])
    assert os.listdir(store.layout.tmp) == []


def test_import_refuses_malicious_and_leaves_nothing(store, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("ok")
        tar.addfile(ti, io.BytesIO(b""))
        ti = tarfile.TarInfo("../../escape")
        tar.addfile(ti, io.BytesIO(b""))
    with pytest.raises(InvalidArgument, match="outside"):
        store.import_tar(io.BytesIO(buf.getvalue()))
    assert os.listdir(store.layout.layers) == [] and os.listdir(store.layout.images) == []
    assert os.listdir(store.layout.tmp) == [] and not os.path.exists(tmp_path / "escape")
    with pytest.raises(InvalidArgument, match="expected"):
        store.add_layer(io.BytesIO(buf.getvalue()[:512] + b"\0" * 1024), expect="0" * 64)
    assert os.listdir(store.layout.layers) == []


# -- docker save / OCI layout, both ways ------------------------------------------------------


def two_images(store, tmp_path):
    base = store.build_busybox()
    up = tmp_path / "upper"
    (up / "etc").mkdir(parents=True)
    (up / "etc/motd").write_text("hi\n")
    os.mknod(up / "etc/passwd", stat.S_IFCHR, os.makedev(0, 0))
    (up / "tmp").mkdir()
    os.setxattr(up / "tmp", "trusted.overlay.opaque", b"y")
    child = store.commit(str(up), base, comment="child", created_by="test")
    return base, child


def layer_trees(store, info) -> list[dict]:
    return [snapshot(store.layer_path(d)) for d in info.layers]


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_save_load_keeps_ids(tmp_path, fmt):
    one = make_store(tmp_path, "one")
    base, child = two_images(one, tmp_path)
    images = [(child.id, ["app:1", "registry.local:5000/team/app:v1"]), (base.id, ["busybox:latest"])]
    archive = b"".join(one.save(images, fmt))
    assert archive == b"".join(one.save(images, fmt))  # deterministic
    names = tarfile.open(fileobj=io.BytesIO(archive)).getnames()
    if fmt == "docker":
        assert {"manifest.json", "repositories", f"{child.id}.json", f"{base.id}.json"} <= set(names)
    else:
        assert {"oci-layout", "index.json", f"blobs/sha256/{child.id}", "manifest.json"} <= set(names)
        assert f"blobs/sha256/{child.layers[1]}" in names  # uncompressed layer: digest = diff_id

    two = make_store(tmp_path, "two")
    loaded = two.load(io.BytesIO(gzip.compress(archive)))
    assert [(x.info.id, x.repo_tags) for x in loaded] == [
        (child.id, ["app:1", "registry.local:5000/team/app:v1"]), (base.id, ["busybox:latest"])]
    assert loaded[0].info == child and loaded[1].info == base
    assert two.config_bytes(child.id) == one.config_bytes(child.id)
    assert layer_trees(two, child) == layer_trees(one, child)
    assert b"".join(two.save(images, fmt)) == archive  # and back out, byte for byte
    assert [x.info.id for x in two.load(io.BytesIO(archive))] == [child.id, base.id]  # idempotent
    assert sorted(os.listdir(two.layout.layers)) == sorted(child.layers)
    assert os.listdir(two.layout.tmp) == []


def test_save_of_shared_layer_in_two_chains(store, tmp_path):
    """The same layer at different places of two images: written once (docker: a symlink)."""
    base, child = two_images(store, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    a = store.commit(str(empty), base)
    b = store.commit(str(empty), child)
    archive = b"".join(store.save([(a.id, []), (b.id, [])]))
    members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(archive))}
    assert sum(1 for m in members.values() if m.name.endswith("layer.tar") and m.issym()) == 1
    other = make_store(tmp_path, "other")
    assert [x.info.id for x in other.load(io.BytesIO(archive))] == [a.id, b.id]


def rewrite(archive: bytes, change) -> bytes:
    """The archive with change(name, data) -> data (None drops the member) applied."""
    src = tarfile.open(fileobj=io.BytesIO(archive))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            data = src.extractfile(m).read() if m.isreg() else None
            if data is not None:
                data = change(m.name, data)
                if data is None:
                    continue
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def test_load_refuses_tampered_archives(store, tmp_path):
    base, child = two_images(store, tmp_path)
    docker = b"".join(store.save([(child.id, ["x:1"])]))
    oci = b"".join(store.save([(child.id, ["x:1"])], "oci"))
    other_layer = b"".join(tar_stream(str(tmp_path / "upper")))  # a valid tar, another diff_id

    def config_edit(name, data):
        return data.replace(b'"os":"linux"', b'"os":"linuz"') if name == f"{child.id}.json" else data

    def layer_swap(name, data):
        return other_layer if name.endswith("layer.tar") and sha(data) == child.layers[1] else data

    def blob_swap(name, data):  # (and no manifest.json: the OCI index is read)
        if name == "manifest.json":
            return None
        return other_layer if name == f"blobs/sha256/{child.layers[1]}" else data

    def manifest_edit(name, data):
        if name == "manifest.json":
            return None
        return data.replace(b'"schemaVersion":2', b'"schemaVersion":3') if name.startswith("blobs/") else data

    cases = [(docker, config_edit, "does not match its name"), (docker, layer_swap, "diff_id"),
             (oci, blob_swap, "diff_id"), (oci, manifest_edit, "does not match its digest"),
             (docker, lambda n, d: None if n == "manifest.json" else d, "neither")]
    for archive, change, match in cases:
        fresh = make_store(tmp_path, "fresh")
        with pytest.raises(InvalidArgument, match=match):
            fresh.load(io.BytesIO(rewrite(archive, change)))
        assert os.listdir(fresh.layout.images) == [] and os.listdir(fresh.layout.tmp) == []
        assert os.listdir(fresh.layout.layers) == []
        shutil.rmtree(fresh.layout.root)

    # a config whose diff_id would name a directory outside the store
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:../../x"]}}).encode()
    evil = files_tar({"cfg.json": cfg, "l.tar": other_layer,
                      "manifest.json": json.dumps([{"Config": "cfg.json", "Layers": ["l.tar"]}]).encode()})
    fresh = make_store(tmp_path, "fresh")
    with pytest.raises(InvalidArgument, match="invalid diff_id"):
        fresh.load(io.BytesIO(evil))
    assert os.listdir(fresh.layout.images) == [] and os.listdir(fresh.layout.layers) == []


def files_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_load_refuses_an_escaping_outer_tar(store, tmp_path):
    with pytest.raises(InvalidArgument, match="outside"):
        store.load(io.BytesIO(files_tar({"manifest.json": b"[]", "../../../outside": b"x"})))
    assert os.listdir(store.layout.tmp) == [] and not os.path.exists(tmp_path / "outside")


SKOPEO = shutil.which("skopeo")


@pytest.mark.skipif(not SKOPEO, reason="skopeo is not installed")
def test_skopeo_reads_and_writes_what_we_do(store, tmp_path):
    """Interop with a real OCI tool: our docker-save tar -> skopeo -> OCI layout dir -> us, and
    our OCI archive -> skopeo -> docker-archive -> us: the image ids survive."""
    base, child = two_images(store, tmp_path)
    policy = tmp_path / "policy.json"
    policy.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')

    def skopeo(*args):
        subprocess.run([SKOPEO, "--policy", str(policy), *args], check=True, capture_output=True)

    ours = tmp_path / "ours.tar"
    ours.write_bytes(b"".join(store.save([(child.id, ["app:1"])])))
    skopeo("copy", "--preserve-digests", f"docker-archive:{ours}", f"oci:{tmp_path / 'layout'}:app:1")
    got = load_dir(make_store(tmp_path, "a"), str(tmp_path / "layout"))
    assert [(x.info.id, x.repo_tags) for x in got] == [(child.id, ["app:1"])]  # gzip layers, verified

    oci = tmp_path / "ours-oci.tar"
    oci.write_bytes(b"".join(store.save([(child.id, ["app:1"])], "oci")))
    skopeo("copy", f"oci-archive:{oci}:1", f"docker-archive:{tmp_path / 'back.tar'}:app:1")
    with open(tmp_path / "back.tar", "rb") as f:
        got = make_store(tmp_path, "b").load(f)
    assert [(x.info.id, x.repo_tags) for x in got] == [(child.id, ["app:1"])]
