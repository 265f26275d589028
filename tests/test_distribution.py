"""Images between dockerweb and other tools: save/load (docker and OCI archives) and registry
pull/push against a real docker-registry on 127.0.0.1, through the REST API, the docker CLI and
docker-py. skopeo places images in the registry and reads back what dockerweb pushed."""

from __future__ import annotations

import io
import json
import tarfile
import uuid

import pytest

from containers.engine.image.store import ImageStore
from containers.engine.layout import Layout
from tests import registry_fixture

registry = registry_fixture.registry
auth_registry = registry_fixture.auth_registry


def _rootfs(marker: str) -> bytes:
    """busybox plus /marker holding `marker`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t, open("/bin/busybox", "rb") as bb:
        d = tarfile.TarInfo("bin")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        t.addfile(d)
        data = bb.read()
        f = tarfile.TarInfo("bin/busybox")
        f.size, f.mode = len(data), 0o755
        t.addfile(f, io.BytesIO(data))
        for applet in ("sh", "cat"):
            s = tarfile.TarInfo(f"bin/{applet}")
            s.type, s.linkname = tarfile.SYMTYPE, "busybox"
            t.addfile(s)
        m = tarfile.TarInfo("marker")
        m.size = len(marker)
        t.addfile(m, io.BytesIO(marker.encode()))
    return buf.getvalue()


def _import(api, repo: str, tag: str) -> tuple[dict, str]:
    """A fresh image repo:tag with a unique /marker; (its record, the marker)."""
    marker = uuid.uuid4().hex
    r = api.api("POST", f"/api/images/import/?repo={repo}&tag={tag}", data=_rootfs(marker),
                headers={"Content-Type": "application/x-tar"})
    assert r.status_code == 201, r.text
    return r.json(), marker


def _cat_marker(api, image: str) -> bytes:
    c = api.run(image=image, cmd=["/bin/cat", "/marker"])
    assert api.wait(c["id"])["exit_code"] == 0
    return api.logs(c["id"])


def _lines(r) -> list[dict]:
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.iter_lines() if line]


def _errors(lines: list[dict]) -> list[str]:
    return [m["error"] for m in lines if "error" in m]


def test_rest_save_load_round_trip_keeps_ids(api, tmp_path):
    base, marker = _import(api, "roundtrip", "base")
    c = api.run(image="roundtrip:base", cmd=["/bin/sh", "-c", "echo child > /child"])
    assert api.wait(c["id"])["exit_code"] == 0
    r = api.api("POST", f"/api/containers/{c['id']}/commit/", json={"repo": "roundtrip", "tag": "child"})
    assert r.status_code == 201, r.text
    child = r.json()
    ids = {base["id"], child["id"]}

    archives = {}
    for fmt in ("docker", "oci"):
        r = api.api("GET", f"/api/images/save/?names=roundtrip:base&names=roundtrip:child&format={fmt}")
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-tar", r.text
        archives[fmt] = r.content
        # elsewhere: a bare engine store (no Django) loads the same images, same ids
        elsewhere = ImageStore(Layout(str(tmp_path / fmt)))
        assert {x.info.id for x in elsewhere.load(io.BytesIO(r.content))} == ids
    one = api.api("GET", "/api/images/roundtrip:child/save/")
    assert one.status_code == 200 and "roundtrip_child.tar" in one.headers["Content-Disposition"]

    # gone from dockerweb, then loaded back: same ids, tags and content
    assert api.api("DELETE", f"/api/containers/{c['id']}/").status_code == 204
    for ref in ("roundtrip:child", "roundtrip:base"):
        assert api.api("DELETE", f"/api/images/{ref}/").status_code == 200
    r = api.api("POST", "/api/images/load/", data=archives["oci"],
                headers={"Content-Type": "application/x-tar"})
    assert r.status_code == 201, r.text
    assert {i["id"] for i in r.json()} == ids
    assert {t for i in r.json() for t in i["repo_tags"]} == {"roundtrip:base", "roundtrip:child"}
    assert _cat_marker(api, "roundtrip:child") == marker.encode()
    again = api.api("POST", "/api/images/load/", data=archives["docker"])  # idempotent
    assert again.status_code == 201 and {i["id"] for i in again.json()} == ids

    bad = api.api("GET", "/api/images/save/?names=no-such-image:1")
    assert bad.status_code == 404 and "no-such-image" in bad.json()["message"]
    assert api.api("GET", "/api/images/save/").status_code == 400
    assert api.api("GET", "/api/images/roundtrip:base/save/?format=zip").status_code == 400
    junk = api.api("POST", "/api/images/load/", data=b"not an archive" * 100)
    assert junk.status_code == 400 and junk.json()["message"]


def test_rest_pull_of_a_skopeo_placed_image_runs(api, registry, tmp_path):
    src, marker = _import(api, "placed-src", "1")
    oci = tmp_path / "placed.tar"
    oci.write_bytes(api.api("GET", "/api/images/placed-src:1/save/?format=oci").content)
    assert api.api("DELETE", "/api/images/placed-src:1/").status_code == 200
    registry.skopeo("copy", "--dest-tls-verify=false", f"oci-archive:{oci}", f"docker://{registry.addr}/placed:1")

    ref = f"{registry.addr}/placed:1"
    lines = _lines(api.api("POST", "/api/images/pull/", json={"image": ref}, stream=True))
    assert not _errors(lines), lines
    statuses = [m.get("status", "") for m in lines]
    assert statuses[0] == "Pulling from placed" and "Downloading" in statuses and "Pull complete" in statuses
    assert statuses[-1] == f"Status: Downloaded newer image for {ref}"
    assert any(s.startswith("Digest: sha256:") for s in statuses)
    img = api.api("GET", f"/api/images/{ref}/").json()
    assert img["id"] == src["id"]  # the config travelled byte for byte: same image id
    assert _cat_marker(api, ref) == marker.encode()
    digest = next(s.split(" ", 1)[1] for s in statuses if s.startswith("Digest: "))
    by_digest = f"{registry.addr}/placed@{digest}"
    assert img["repo_digests"] == [by_digest]
    assert api.api("GET", f"/api/images/{by_digest}/").json()["id"] == src["id"]
    assert _cat_marker(api, by_digest) == marker.encode()  # runs by digest
    pulled = _lines(api.api("POST", "/api/images/pull/", json={"image": by_digest}, stream=True))
    assert pulled[-1]["status"] == f"Status: Image is up to date for {by_digest}"

    again = _lines(api.api("POST", "/api/images/pull/", json={"image": ref}, stream=True))
    assert again[-1]["status"] == f"Status: Image is up to date for {ref}"
    assert any(m.get("status") == "Already exists" for m in again)

    missing = api.api("POST", "/api/images/pull/", json={"image": f"{registry.addr}/placed:nope"})
    assert missing.status_code == 404 and "placed" in missing.json()["message"]
    bad = api.api("POST", "/api/images/pull/", json={"image": "Bad/Name"})
    assert bad.status_code == 400 and "reference" in bad.json()["message"]
    assert api.api("POST", "/api/images/pull/", json={}).status_code == 400
    closed = f"127.0.0.1:{registry_fixture.free_port()}/x"  # nothing listens there
    nobody = api.api("POST", "/api/images/pull/", json={"image": closed})
    assert nobody.status_code >= 500 and nobody.json()["message"]


def test_rest_push_is_read_back_by_skopeo(api, registry, tmp_path):
    src, _ = _import(api, "pushme", "1")
    ref = f"{registry.addr}/pushed:v1"
    assert api.api("POST", "/api/images/pushme:1/tag/", json={"repo": f"{registry.addr}/pushed",
                                                               "tag": "v1"}).status_code == 200
    lines = _lines(api.api("POST", f"/api/images/{ref}/push/", stream=True))
    assert not _errors(lines), lines
    assert lines[0]["status"] == f"The push refers to repository [{registry.addr}/pushed]"
    assert any(m.get("status") == "Pushed" for m in lines)
    digest = next(m["aux"]["Digest"] for m in lines if "aux" in m)
    seen = json.loads(registry.skopeo("inspect", "--tls-verify=false", f"docker://{ref}").stdout)
    assert seen["Digest"] == digest
    manifest = json.loads(registry.skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout)
    assert manifest["config"]["digest"] == f"sha256:{src['id']}"  # the image id survives the push
    registry.skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'back'}:x")

    again = _lines(api.api("POST", f"/api/images/{ref}/push/", stream=True))
    assert any(m.get("status") == "Layer already exists" for m in again)
    missing = api.api("POST", f"/api/images/{registry.addr}/nothing:1/push/")
    assert missing.status_code == 404 and "nothing" in missing.json()["message"]


def test_rest_registry_auth(api, auth_registry):
    _import(api, "authsrc", "1")
    ref = f"{auth_registry.addr}/private:1"
    api.api("POST", "/api/images/authsrc:1/tag/", json={"repo": f"{auth_registry.addr}/private", "tag": "1"})
    anon = api.api("POST", f"/api/images/{ref}/push/")
    assert anon.status_code == 401 and "authentication" in anon.json()["message"]
    wrong = api.api("POST", f"/api/images/{ref}/push/", json={"username": "alice", "password": "nope"})
    assert wrong.status_code == 401 and "incorrect" in wrong.json()["message"]
    ok = _lines(api.api("POST", f"/api/images/{ref}/push/", json={"username": "alice", "password": "s3cret"},
                        stream=True))
    assert not _errors(ok)
    pulled = _lines(api.api("POST", "/api/images/pull/", json={"image": ref, "username": "alice",
                                                                 "password": "s3cret"}, stream=True))
    assert not _errors(pulled)


def test_docker_cli_save_load_push_pull(api, cli, registry, tmp_path):
    _, marker = _import(api, "clisrc", "1")
    archive = tmp_path / "clisrc.tar"
    cli("save", "-o", str(archive), "clisrc:1")
    cli("rmi", "clisrc:1")
    assert b"Loaded image: clisrc:1" in cli("load", "-i", str(archive)).stdout
    assert cli("run", "--rm", "clisrc:1", "cat", "/marker").stdout == marker.encode()

    ref = f"{registry.addr}/cli:1"
    cli("tag", "clisrc:1", ref)
    out = cli("push", ref).stdout
    assert b"1: digest: sha256:" in out
    assert json.loads(registry.skopeo("inspect", "--tls-verify=false", f"docker://{ref}").stdout)["Digest"]
    cli("rmi", ref, "clisrc:1")
    assert b"Downloaded newer image" in cli("pull", ref).stdout
    assert cli("run", "--rm", ref, "cat", "/marker").stdout == marker.encode()
    assert b"Image is up to date" in cli("pull", ref).stdout
    digests = json.loads(cli("image", "inspect", ref).stdout)[0]["RepoDigests"]
    assert len(digests) == 1 and digests[0].startswith(f"{registry.addr}/cli@sha256:")
    assert cli("run", "--rm", digests[0], "cat", "/marker").stdout == marker.encode()

    bad = cli("pull", f"{registry.addr}/cli:nope", check=False)
    assert bad.returncode != 0 and b"not found" in bad.stderr.lower()


def test_docker_login_push_and_docker_py_pull(api, cli, dpy, auth_registry):
    _import(api, "loginsrc", "1")
    ref = f"{auth_registry.addr}/logged:1"
    cli("tag", "loginsrc:1", ref)
    wrong = cli("login", "-u", "alice", "--password-stdin", auth_registry.addr, input=b"nope", check=False)
    assert wrong.returncode != 0 and b"incorrect username or password" in wrong.stderr
    assert b"Login Succeeded" in cli("login", "-u", "alice", "--password-stdin", auth_registry.addr,
                                     input=b"s3cret").stdout
    cli("push", ref)
    cli("rmi", ref)
    img = dpy.images.pull(f"{auth_registry.addr}/logged", tag="1",
                          auth_config={"username": "alice", "password": "s3cret"})
    assert ref in img.tags
    assert ref in [t for i in dpy.images.list() for t in i.tags]
    with pytest.raises(Exception, match="(?i)unauthorized|authentication"):
        dpy.images.pull(f"{auth_registry.addr}/logged", tag="1")
