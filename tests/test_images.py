"""Images and filesystem through the REST API: import, changes, commit, export, tag,
history, remove, prune; malicious archives are refused and nothing lands outside a layer."""

from __future__ import annotations

import io
import os
import tarfile
import uuid

import pytest


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], compression: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}" if compression else "w") as t:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def _entry(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o755
    return info, None


def _rootfs(compression: str = "") -> bytes:
    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    return _tar([_entry("bin", tarfile.DIRTYPE), _file("bin/busybox", busybox, 0o755),
                 _entry("bin/sh", tarfile.SYMTYPE, "busybox"), _file("etc/motd", b"imported\n")],
                compression)


def _import(api, body: bytes, repo: str, tag: str = "latest"):
    return api.api("POST", f"/api/images/import/?repo={repo}&tag={tag}&message=hi", data=body,
                   headers={"Content-Type": "application/x-tar"})


@pytest.mark.parametrize("compression", ["", "gz", "bz2", "xz"])
def test_import_every_compression_and_run(api, compression):
    r = _import(api, _rootfs(compression), "imported", compression or "plain")
    assert r.status_code == 201, r.text
    img = r.json()
    assert f"imported:{compression or 'plain'}" in img["repo_tags"] and img["comment"] == "hi"
    c = api.run(image=f"imported:{compression or 'plain'}", cmd=["/bin/busybox", "cat", "/etc/motd"])
    assert api.wait(c["id"])["exit_code"] == 0
    assert api.logs(c["id"]) == b"imported\n"


def test_same_content_is_stored_once(api):
    a = _import(api, _rootfs(), "dedup", "a").json()
    b = _import(api, _rootfs("gz"), "dedup", "b").json()
    assert a["layers"] == b["layers"]  # content-addressed: the layer is stored once
    assert len(os.listdir(os.path.join(api.root, "layers"))) == len({
        d for i in api.api("GET", "/api/images/").json() for d in i["layers"]})


def test_changes_commit_run_export(api):
    script = ("echo new > /added; echo extra >> /etc/passwd; rm /bin/vi; mkdir -p /d/e; echo x > /d/e/f; "
              "ln -s /etc/shadow-of-host /evil")
    c = api.run(cmd=["sh", "-c", script])
    assert api.wait(c["id"])["exit_code"] == 0
    ch = {x["path"]: x["kind"] for x in api.api("GET", f"/api/containers/{c['id']}/changes/").json()}
    for path, kind in {"/added": 1, "/etc": 0, "/etc/passwd": 0, "/bin": 0, "/bin/vi": 2, "/d": 1,
                       "/d/e/f": 1, "/evil": 1}.items():
        assert ch.get(path) == kind, (path, ch)
    r = api.api("POST", f"/api/containers/{c['id']}/commit/",
                json={"repo": "committed", "tag": "v1", "author": "tester", "message": "my change",
                      "changes": {"Cmd": ["cat", "/added"]}})
    assert r.status_code == 201, r.text
    img = r.json()
    busybox = api.api("GET", "/api/images/busybox/").json()
    assert img["parent"] == busybox["id"] and img["author"] == "tester"
    assert len(img["layers"]) == len(busybox["layers"]) + 1
    hist = api.api("GET", "/api/images/committed:v1/history/").json()
    assert hist[0]["comment"] == "my change" and len(hist) == 2 and hist[0]["size"] > 0
    n = api.run(image="committed:v1")  # the committed Cmd
    assert api.wait(n["id"])["exit_code"] == 0 and api.logs(n["id"]) == b"new\n"
    n2 = api.run(image="committed:v1", cmd=["sh", "-c", "test -e /bin/vi; echo $?; tail -1 /etc/passwd"])
    api.wait(n2["id"])
    assert api.logs(n2["id"]) == b"1\nextra\n"
    full = tarfile.open(fileobj=io.BytesIO(api.api("GET", f"/api/containers/{c['id']}/export/").content))
    names = set(full.getnames())
    assert {"added", "d/e/f", "bin/busybox"} <= names and "bin/vi" not in names
    assert full.getmember("evil").issym()  # stored, never followed
    rw = tarfile.open(fileobj=io.BytesIO(api.api("GET", f"/api/containers/{c['id']}/export/?rw=1").content))
    assert {"added", "bin/.wh.vi", "etc/passwd"} <= set(rw.getnames()) and "bin/busybox" not in rw.getnames()


def test_malicious_archives_are_refused_and_nothing_escapes(api):
    marker = f"dw-pwned-{uuid.uuid4().hex[:8]}"
    outside = f"/tmp/{marker}"
    cases = {
        "dotdot": [_file(f"../../../../../../tmp/{marker}", b"x")],
        "symlink-then-write": [_entry("link", tarfile.SYMTYPE, "/tmp"), _file(f"link/{marker}", b"x")],
        "hardlink-outside": [_entry("pw", tarfile.LNKTYPE, "/etc/passwd")],
        "hardlink-dotdot": [_entry("pw", tarfile.LNKTYPE, "../../../../etc/passwd")],
    }
    for name, members in cases.items():
        r = _import(api, _tar(members), "evil", name)
        assert r.status_code == 400, (name, r.text)
        assert r.json()["message"]
    # absolute paths are neutralised into the layer; device nodes are skipped
    dev = tarfile.TarInfo("dev/sda")
    dev.type, dev.devmajor, dev.devminor = tarfile.BLKTYPE, 8, 0
    r = _import(api, _tar([_file(f"/tmp/{marker}", b"inside"), (dev, None)]), "evil", "neutral")
    assert r.status_code == 201, r.text
    layer = os.path.join(api.root, "layers", r.json()["layers"][0])
    assert open(os.path.join(layer, "tmp", marker)).read() == "inside"
    assert not os.path.exists(os.path.join(layer, "dev", "sda"))
    assert not os.path.exists(outside)
    garbage = _import(api, b"\x1f\x8b" + os.urandom(4000), "evil", "garbage")
    assert garbage.status_code == 400 and "corrupt" in garbage.json()["message"]
    assert not any(n.startswith("layer-") for n in os.listdir(os.path.join(api.root, "tmp")))


def test_tag_remove_and_prune(api):
    base = _import(api, _rootfs(), "tagme", "one").json()
    assert api.api("POST", "/api/images/tagme:one/tag/?repo=tagme&tag=two").status_code == 200
    assert {"tagme:one", "tagme:two"} <= set(api.api("GET", "/api/images/tagme:one/").json()["repo_tags"])
    assert api.api("POST", "/api/images/tagme:one/tag/?repo=Bad Name").status_code == 400
    r = api.api("DELETE", "/api/images/tagme:two/")
    assert r.status_code == 200 and r.json() == [{"Untagged": "tagme:two"}]
    c = api.create(image="tagme:one", cmd=["/bin/busybox", "true"])
    r = api.api("DELETE", "/api/images/tagme:one/")
    assert r.status_code == 409 and "being used by container" in r.json()["message"]
    assert "tagme:one" in api.api("GET", f"/api/images/{base['id']}/").json()["repo_tags"]  # unchanged
    r = api.api("DELETE", "/api/images/tagme:one/?force=1")
    assert r.status_code == 200 and r.json() == [{"Untagged": "tagme:one"}]  # untagged, kept
    r = api.api("DELETE", f"/api/images/{base['id']}/")
    assert r.status_code == 409 and "being used by container" in r.json()["message"]
    api.api("DELETE", f"/api/containers/{c['id']}/")
    pruned = api.api("POST", "/api/images/prune/")
    assert pruned.status_code == 200, pruned.text
    assert base["id"] in pruned.json()["deleted"]
    assert api.api("GET", f"/api/images/{base['id']}/").status_code == 404
