"""Volumes, bind mounts, env without a value, `lo` with network none, and what diff/export/
commit leave out (issue 14), through the real docker CLI, docker-py and the REST API."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid

import docker
import pytest

from tests.users import new_user, remove_users
from tests.waiting import until


@pytest.fixture
def hostdir():
    d = tempfile.mkdtemp(prefix="dw vol ")  # a space in the path: escaped in the LXC entry
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def vols(api):
    """Removes every volume a test made (after its containers: `api` cleans those last)."""
    before = {v["name"] for v in api.api("GET", "/api/volumes/").json()}
    yield
    for c in api.api("GET", "/api/containers/?all=1").json():
        api.api("DELETE", f"/api/containers/{c['id']}/?force=1")
    for v in api.api("GET", "/api/volumes/").json():
        if v["name"] not in before:
            api.api("DELETE", f"/api/volumes/{v['name']}/?force=1")


def _name() -> str:
    return f"v{uuid.uuid4().hex[:10]}"


def test_bind_mount_rw_ro_and_inspect(cli, vols, hostdir):
    with open(os.path.join(hostdir, "in.txt"), "w") as f:
        f.write("from host\n")
    out = cli("run", "--rm", "-v", f"{hostdir}:/mnt/h", "busybox", "sh", "-c",
              "cat /mnt/h/in.txt; echo from container > /mnt/h/out.txt").stdout
    assert out == b"from host\n"
    with open(os.path.join(hostdir, "out.txt")) as f:
        assert f.read() == "from container\n"
    p = cli("run", "--rm", "-v", f"{hostdir}:/mnt/h:ro", "busybox", "sh", "-c",
            "cat /mnt/h/in.txt; touch /mnt/h/no", check=False)
    assert p.returncode != 0 and p.stdout == b"from host\n" and b"Read-only" in p.stderr
    assert not os.path.exists(os.path.join(hostdir, "no"))
    # a file bind, and a bind made with --mount
    cli("create", "--name", "bm1", "-v", f"{hostdir}/in.txt:/etc/motd:ro",
        "--mount", f"type=bind,source={hostdir},target=/srv", "busybox", "cat", "/etc/motd", "/srv/in.txt")
    doc = json.loads(cli("inspect", "bm1").stdout)[0]
    assert doc["HostConfig"]["Binds"] == [f"{hostdir}/in.txt:/etc/motd:ro"]
    assert doc["HostConfig"]["Mounts"] == [{"Type": "bind", "Source": hostdir, "Target": "/srv"}]
    got = {m["Destination"]: m for m in doc["Mounts"]}
    assert got["/etc/motd"]["RW"] is False and got["/etc/motd"]["Type"] == "bind"
    assert got["/srv"]["Source"] == hostdir and got["/srv"]["RW"] is True
    cli("start", "bm1")
    assert cli("wait", "bm1").stdout.strip() == b"0"
    assert cli("logs", "bm1").stdout == b"from host\nfrom host\n"
    # a file of the image as the mount point: used as it is, not copied into the layer
    cli("run", "--name", "bm2", "-v", f"{hostdir}/in.txt:/etc/group:ro", "busybox", "cat", "/etc/group")
    assert cli("logs", "bm2").stdout == b"from host\n" and cli("diff", "bm2").stdout == b""
    # a unix socket (as -v /var/run/docker.sock:...) is mounted on a file point
    sock = cli.env["DOCKER_HOST"].removeprefix("unix://")
    out = cli("run", "--rm", "-v", f"{sock}:/run/d.sock", "busybox", "sh", "-c",
              "test -S /run/d.sock && echo s")
    assert out.stdout == b"s\n"


def test_bad_mounts_are_refused(cli, vols, hostdir):
    for args, words in (
        (["-v", f"{hostdir}:/"], "destination can't be '/'"),
        (["-v", f"{hostdir}:rel"], "absolute"),
        (["-v", f"{hostdir}:/proc/x"], "cannot mount over"),
        (["-v", "a/b:/x"], "invalid volume name"),
        (["-v", f"{hostdir}:/x:bogus"], "invalid mode"),
        (["-v", f"{hostdir}:/x", "-v", "named1:/x"], "Duplicate mount point"),
        (["--mount", f"type=bind,source={hostdir}/missing,target=/x"], "does not exist"),
    ):
        p = cli("create", *args, "busybox", "true", check=False)
        assert p.returncode != 0 and words.encode() in p.stderr, (args, p.stderr)
    assert not os.path.exists(os.path.join(hostdir, "missing"))


def test_bad_mounts_via_api_never_become_lxc_keys(dpy, vols, hostdir):
    """A newline or other control character in a source or target is a 400, whatever door."""
    for binds in ([f"{hostdir}\nlxc.cap.keep = sys_admin:/x"], [f"{hostdir}:/x\nlxc.init.uid = 0"],
                  [f"{hostdir}:/x\ty"]):
        with pytest.raises(docker.errors.APIError) as e:
            dpy.api.create_container("busybox", "true", host_config={"Binds": binds})
        assert e.value.status_code == 400, binds


def test_named_volume_persists_ls_inspect_rm_prune(cli, vols):
    name = _name()
    # a new volume gets the image's files at its target; nocopy leaves it empty
    assert cli("run", "--rm", "-v", f"{name}x:/etc", "busybox", "ls", "/etc").stdout.split()[:2] == [
        b"group", b"hostname"]
    assert cli("run", "--rm", "-v", f"{name}y:/etc:nocopy", "busybox", "ls", "/etc").stdout.split() == [
        b"hostname", b"hosts", b"resolv.conf"]
    assert cli("run", "--rm", "--mount", f"type=volume,src={name}z,dst=/etc,volume-nocopy", "busybox",
               "ls", "/etc").stdout.split() == [b"hostname", b"hosts", b"resolv.conf"]
    cli("volume", "rm", f"{name}x", f"{name}y", f"{name}z")
    cli("run", "--rm", "-v", f"{name}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert cli("run", "--rm", "-v", f"{name}:/data:ro", "busybox", "cat", "/data/f").stdout == b"kept\n"
    assert name in cli("volume", "ls", "-q").stdout.decode().split()  # --rm kept the named one
    doc = json.loads(cli("volume", "inspect", name).stdout)[0]
    assert doc["Name"] == name and doc["Driver"] == "local"
    assert doc["Mountpoint"].endswith(f"/volumes/{name}/_data")
    with open(os.path.join(doc["Mountpoint"], "f")) as f:
        assert f.read() == "kept\n"
    cli("create", "--name", "user1", "-v", f"{name}:/data", "busybox", "true")
    p = cli("volume", "rm", name, check=False)
    assert p.returncode != 0 and b"volume is in use" in p.stderr
    assert cli("volume", "ls", "-q", "--filter", "dangling=true").stdout.decode().split().count(name) == 0
    cli("rm", "user1")
    assert name in cli("volume", "ls", "-q", "--filter", "dangling=true").stdout.decode().split()
    assert name in cli("volume", "ls", "-q", "--filter", f"name={name[:6]}").stdout.decode().split()
    cli("volume", "prune", "-f")  # anonymous only (Docker 23+): the named one stays
    assert name in cli("volume", "ls", "-q").stdout.decode().split()
    cli("volume", "rm", name)
    assert not os.path.exists(doc["Mountpoint"])
    p = cli("volume", "inspect", name, check=False)
    assert p.returncode != 0 and b"no such volume" in p.stderr.lower()
    # created explicitly, with labels; prune --all takes unused named ones too
    other = _name()
    cli("volume", "create", "--label", "team=a", other)
    assert cli("volume", "ls", "-q", "--filter", "label=team=a").stdout.decode().split() == [other]
    out = cli("volume", "prune", "-af").stdout.decode()
    assert other in out and other not in cli("volume", "ls", "-q").stdout.decode()


def test_anonymous_volumes_rm_v_and_run_rm(cli, vols):
    before = set(cli("volume", "ls", "-q").stdout.decode().split())
    cid = cli("create", "-v", "/data", "busybox", "sh", "-c", "echo x > /data/x").stdout.decode().strip()
    doc = json.loads(cli("inspect", cid).stdout)[0]
    [m] = doc["Mounts"]
    assert m["Type"] == "volume" and m["Destination"] == "/data" and len(m["Name"]) == 64
    assert doc["Config"]["Volumes"] == {"/data": {}}
    cli("start", "-a", cid)
    cli("start", "-a", cid)  # again: the mount points and the volume are there already
    assert m["Name"] in cli("volume", "ls", "-q").stdout.decode()
    cli("rm", "-v", cid)
    assert set(cli("volume", "ls", "-q").stdout.decode().split()) == before
    named = _name()
    cli("run", "--rm", "-v", "/anon", "-v", f"{named}:/named", "busybox", "true")
    assert set(cli("volume", "ls", "-q").stdout.decode().split()) == before | {named}
    # without -v the anonymous volume stays; prune takes it
    cid = cli("create", "-v", "/data", "busybox", "true").stdout.decode().strip()
    anon = json.loads(cli("inspect", cid).stdout)[0]["Mounts"][0]["Name"]
    cli("rm", cid)
    assert anon in cli("volume", "ls", "-q").stdout.decode()
    assert anon in cli("volume", "prune", "-f").stdout.decode()


def test_docker_py_volumes(dpy, vols):
    name = _name()
    vol = dpy.volumes.create(name, labels={"k": "v"})
    assert dpy.volumes.get(name).attrs["Labels"] == {"k": "v"}
    out = dpy.containers.run("busybox", ["sh", "-c", "echo py > /v/f; cat /v/f"],
                             volumes={name: {"bind": "/v", "mode": "rw"}}, remove=True)
    assert out == b"py\n"
    assert name in [v.name for v in dpy.volumes.list(filters={"label": "k=v"})]
    c = dpy.containers.create("busybox", "true", volumes=[f"{name}:/v"])
    with pytest.raises(docker.errors.APIError) as e:
        vol.remove()
    assert e.value.status_code == 409
    c.remove()
    vol.remove()
    with pytest.raises(docker.errors.NotFound):
        dpy.volumes.get(name)


def _commit_with(api, ref: str, changes: dict, repo: str) -> str:
    r = api.api("POST", f"/api/containers/{ref}/commit/", json={"repo": repo, "tag": "t",
                                                                "changes": changes})
    assert r.status_code == 201, r.text
    return f"{repo}:t"


def test_image_volume_is_anonymous_and_out_of_diff_export_commit(cli, api, vols, tmp_path):
    cli("run", "--name", "base1", "busybox", "sh", "-c", "mkdir -p /data && echo image > /data/seed")
    img = _commit_with(api, "base1", {"Volumes": {"/data": {}}}, "volimg")
    try:
        out = cli("run", "--name", "vc1", "--hostname", "secrethost", img, "sh", "-c",
                  "cat /data/seed; echo inside > /data/new; echo layer > /layerfile").stdout
        assert out == b"image\n"  # copied from the image into the new volume (Docker's copy-up)
        doc = json.loads(cli("inspect", "vc1").stdout)[0]
        [m] = doc["Mounts"]
        assert m["Destination"] == "/data" and m["Type"] == "volume"
        with open(os.path.join(m["Source"], "new")) as f:
            assert f.read() == "inside\n"
        diff = cli("diff", "vc1").stdout.decode().split("\n")
        assert "A /layerfile" in diff
        assert not any(x.startswith(("A /data/", "C /data/")) for x in diff), diff
        assert not any("/etc" in x for x in diff), diff  # hostname/hosts/resolv.conf: bind mounts
        export = tmp_path / "vc1.tar"
        cli("export", "-o", str(export), "vc1")
        with tarfile.open(export) as t:
            names = set(t.getnames())
            assert "layerfile" in names and "data/new" not in names
            for n in ("etc/hostname", "etc/hosts", "etc/resolv.conf"):
                if n in names:
                    assert b"secrethost" not in t.extractfile(n).read(), n
        cli("commit", "vc1", "volimg:c2")
        p = cli("run", "--rm", "--hostname", "other", "volimg:c2", "sh", "-c",
                "cat /etc/hostname; cat /layerfile; ls /data")
        assert p.stdout.decode().split("\n")[:2] == ["other", "layer"]
        assert b"new" not in p.stdout  # the volume's contents were not committed
        save = tmp_path / "c2.tar"
        cli("save", "-o", str(save), "volimg:c2")
        with tarfile.open(save) as t:
            manifest = json.load(t.extractfile("manifest.json"))
            top = t.extractfile(manifest[0]["Layers"][-1]).read()
        with tarfile.open(fileobj=io.BytesIO(top)) as layer:
            members = set(layer.getnames())
        assert "layerfile" in members
        assert not members & {"etc/hostname", "etc/hosts", "etc/resolv.conf"}, members
    finally:
        cli("rm", "-fv", "vc1", "base1", check=False)
        cli("rmi", "volimg:c2", img, check=False)


def test_symlink_in_image_cannot_redirect_a_mount_onto_the_host(cli, api, vols, hostdir):
    """The attack: an image whose /evil is a symlink to a host path (absolute, as the host
    sees it). A volume or bind mounted at /evil/sub must land inside the container's root
    (the kernel resolves the target in it), never at the host's <hostdir>/sub."""
    victim = os.path.join(hostdir, "victim")
    os.mkdir(victim)
    # the image holds the same path too (so the link resolves inside it) and a dangling link
    cli("run", "--name", "evil1", "busybox", "sh", "-c",
        f"mkdir -p '{victim}'; ln -s '{victim}' /evil; ln -s / /rootlink; ln -s '{hostdir}/gone' /dangling")
    img = _commit_with(api, "evil1", {}, "evilimg")
    name = _name()
    try:
        p = cli("run", "--rm", "-v", f"{name}:/dangling/sub", img, "true", check=False)
        assert p.returncode == 125 and b"is not a directory" in p.stderr
        assert os.listdir(hostdir) == ["victim"]
        out = cli("run", "--rm", "-v", f"{name}:/evil/sub", "-v", f"{hostdir}:/rootlink/evil2", img,
                  "sh", "-c", "echo pwned > /evil/sub/f; ls /evil2 >/dev/null; readlink /evil").stdout
        assert out.decode().strip() == victim
        assert os.listdir(victim) == []  # nothing made or mounted on the host's path
        assert not os.path.exists(os.path.join(victim, "sub"))
        # the write went into the volume, which the container sees at the in-root path
        assert cli("run", "--rm", "-v", f"{name}:/v", "busybox", "cat", "/v/f").stdout == b"pwned\n"
        # the bind at /rootlink/evil2 went to the container's /evil2, not the host's /evil2
        assert not os.path.exists("/evil2")
    finally:
        cli("rm", "-f", "evil1", check=False)
        cli("rmi", img, check=False)


def test_rest_users_get_volumes_not_host_binds(api, vols):
    alice, bob = new_user(api), new_user(api)
    try:
        r = alice.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["true"],
                                                        "volumes": ["/etc:/host-etc"]})
        assert r.status_code == 403 and "staff" in r.json()["message"]
        name = _name()
        r = alice.api("POST", "/api/containers/", json={
            "image": "busybox", "cmd": ["sh", "-c", "echo a > /d/f"], "volumes": [f"{name}:/d", "/anon"]})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        assert alice.api("POST", f"/api/containers/{cid}/start/").status_code == 200
        assert alice.api("POST", f"/api/containers/{cid}/wait/").json()["exit_code"] == 0
        mine = {v["name"]: v for v in alice.api("GET", "/api/volumes/").json()}
        assert name in mine and mine[name]["in_use_by"] == [cid] and len(mine) == 2
        assert alice.api("GET", f"/api/volumes/{name}/").json()["name"] == name
        # bob sees none of it and cannot take the name
        assert bob.api("GET", "/api/volumes/").json() == []
        assert bob.api("GET", f"/api/volumes/{name}/").status_code == 404
        assert bob.api("DELETE", f"/api/volumes/{name}/").status_code == 404
        r = bob.api("POST", "/api/containers/", json={"image": "busybox", "volumes": [f"{name}:/d"]})
        assert r.status_code == 409
        assert alice.api("DELETE", f"/api/volumes/{name}/").status_code == 409
        rows = api.api("GET", "/api/audit/", params={"target": name, "page_size": 500}).json()["results"]
        got = {(r["username"], r["action"], r["status"]) for r in rows}
        assert {(alice.name, "DELETE api/volumes/<str:name>/", 409),
                (bob.name, "DELETE api/volumes/<str:name>/", 404)} <= got, got
        assert alice.api("DELETE", f"/api/containers/{cid}/?v=1").status_code == 204
        left = [v["name"] for v in alice.api("GET", "/api/volumes/").json()]
        assert left == [name]  # the anonymous one went with -v, the named one stays
        assert alice.api("GET", "/api/volumes/?dangling=true").json()[0]["name"] == name
        assert alice.api("POST", "/api/volumes/prune/?all=1").json()["VolumesDeleted"] == [name]
        r = alice.api("POST", "/api/volumes/", json={"name": "bad/name"})
        assert r.status_code == 400
    finally:
        remove_users(api, alice, bob)


def test_env_without_value(dpy, cli, api, vols):
    cli("run", "--name", "envbase", "busybox", "true")
    img = _commit_with(api, "envbase", {"Env": ["FROMIMG=1", "KEEP=2"]}, "envimg")
    try:
        c = dpy.containers.create(img, ["env"], environment=["FROMIMG", "Other=one", "Blank=", "Foo"])
        assert sorted(c.attrs["Config"]["Env"]) == ["Blank=", "FROMIMG", "Foo", "Other=one"]
        c.start()
        assert c.wait()["StatusCode"] == 0
        env = c.logs().decode().split("\n")
        assert "Other=one" in env and "Blank=" in env and "KEEP=2" in env
        assert not any(e.startswith(("Foo", "FROMIMG")) for e in env), env
        c.remove()
    finally:
        cli("rm", "-f", "envbase", check=False)
        cli("rmi", img, check=False)


def test_network_none_has_lo_up(cli):
    out = cli("run", "--rm", "--network", "none", "busybox", "sh", "-c",
              "ip link show lo; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo pinged").stdout.decode()
    assert "LOOPBACK,UP" in out and "pinged" in out


def test_docker_py_low_level_volume_api_and_volumes_from(dpy, vols, hostdir):
    api = dpy.api
    made = api.create_volume()  # no name: generated, anonymous (prune takes it)
    assert made in api.volumes()["Volumes"]
    assert api.inspect_volume(made["Name"])["Labels"] == {"com.docker.volume.anonymous": ""}
    with pytest.raises(docker.errors.NotFound):
        api.create_volume(_name(), driver="invalid")
    assert made["Name"] in api.prune_volumes()["VolumesDeleted"]
    with pytest.raises(docker.errors.NotFound):
        api.remove_volume(made["Name"])
    assert dpy.api.delete(dpy.api._url("/volumes/{0}", made["Name"]), params={"force": 1}).status_code == 204
    # binds with modes and a Mounts bind with a propagation, as docker-py's own tests check them
    m2 = docker.types.Mount("/m2", hostdir, type="bind", propagation="rslave")
    hc = api.create_host_config(binds={hostdir: {"bind": "/m1", "mode": "ro"}}, mounts=[m2])
    src = api.create_container("busybox", ["sh", "-c", "ls /m1 /m2"], name="vfsrc", host_config=hc,
                               volumes=["/anon"])
    info = api.inspect_container(src["Id"])
    got = {m["Destination"]: m for m in info["Mounts"]}
    assert (got["/m1"]["Source"], got["/m1"]["RW"], got["/m1"]["Propagation"]) == (hostdir, False, "rprivate")
    assert (got["/m2"]["Source"], got["/m2"]["RW"], got["/m2"]["Propagation"]) == (hostdir, True, "rslave")
    # VolumesFrom takes the other container's mounts, read-only when asked
    dst = api.create_container("busybox", ["sh", "-c", "echo x > /anon/f; echo y > /m2/no"],
                               host_config=api.create_host_config(volumes_from=["vfsrc:ro"]))
    info = api.inspect_container(dst["Id"])
    assert info["HostConfig"]["VolumesFrom"] == ["vfsrc:ro"]
    assert {m["Destination"] for m in info["Mounts"]} == {"/m1", "/m2", "/anon"}
    api.start(dst["Id"])
    assert api.wait(dst["Id"])["StatusCode"] != 0
    assert b"Read-only" in api.logs(dst["Id"])
    assert not os.path.exists(os.path.join(hostdir, "no"))
    api.remove_container(dst["Id"], v=True)
    api.remove_container(src["Id"], v=True)


COMPOSE = shutil.which("docker-compose")


@pytest.mark.skipif(COMPOSE is None, reason="no docker-compose")
def test_compose_named_volume_up_and_down_v(cli, vols, tmp_path):
    """Debian's docker-compose: a named volume written by one service and read by another,
    `down -v` removes it (networks: the default bridge; user networks are issue 14's too)."""
    project = f"p{uuid.uuid4().hex[:8]}"
    (tmp_path / "docker-compose.yml").write_text(f"""
version: "3.7"
services:
  writer:
    image: busybox
    network_mode: bridge
    command: ["sh", "-c", "echo from-writer > /www/index.html"]
    volumes: ["pages:/www"]
  reader:
    image: busybox
    network_mode: bridge
    command: ["sh", "-c", "sleep 1; cat /www/index.html; sleep 300"]
    volumes: ["pages:/www:ro", "/anon"]
volumes:
  pages:
    labels: {{owner: {project}}}
""")
    env = {**cli.env, "COMPOSE_PROJECT_NAME": project}

    def compose(*args: str) -> subprocess.CompletedProcess:
        p = subprocess.run([COMPOSE, *args], cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    compose("up", "-d")
    vol = f"{project}_pages"
    doc = json.loads(cli("volume", "inspect", vol).stdout)[0]
    assert doc["Labels"]["owner"] == project and doc["Labels"]["com.docker.compose.project"] == project
    reader = f"{project}_reader_1"
    until(lambda: b"from-writer" in cli("logs", reader).stdout, timeout=30)
    compose("down", "-v")
    assert vol not in cli("volume", "ls", "-q").stdout.decode()
    assert project not in cli("ps", "-a").stdout.decode()


def test_tmpfs_mounts(cli, api, vols):
    cid = cli("create", "--tmpfs", "/run/t:size=1m,mode=1777", "--mount", "type=tmpfs,dst=/scratch",
              "busybox", "sh", "-c", "grep -E ' /(run/t|scratch) ' /proc/mounts; stat -c %a /run/t; "
              "echo x > /scratch/f; dd if=/dev/zero of=/run/t/big bs=1k count=2048 2>/dev/null"
              " || echo full").stdout.decode().strip()
    doc = json.loads(cli("inspect", cid).stdout)[0]
    assert doc["HostConfig"]["Tmpfs"] == {"/run/t": "size=1m,mode=1777"}
    assert [m["Type"] for m in doc["Mounts"]] == ["tmpfs"]
    cli("start", "-a", cid)
    out = cli("logs", cid).stdout.decode()
    t = next(line for line in out.splitlines() if " /run/t " in line)
    assert "tmpfs" in t and "nosuid" in t and "nodev" in t and "noexec" in t and "size=1024k" in t, out
    assert " /scratch " in out and "1777" in out and out.rstrip().endswith("full"), out
    assert not any("scratch/" in x or "run/t/" in x for x in cli("diff", cid).stdout.decode().split("\n"))
    for bad in ("size=1m,exec;reboot", "bogus", "size=1m\nlxc.x=1"):
        p = cli("create", "--tmpfs", f"/x:{bad}", "busybox", "true", check=False)
        assert p.returncode != 0 and b"invalid" in p.stderr.lower(), (bad, p.stderr)
    r = api.api("POST", "/api/containers/", json={"image": "busybox", "tmpfs": {"/t": "size=64k"}})
    assert r.status_code == 201, r.text
