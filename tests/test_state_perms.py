"""The state root is root's only (as Docker's data-root): a local unprivileged user (`nobody`,
a real host user via setpriv) can neither read the database or the secret key nor run a
setuid-root file of an image layer.

The test stack's root is a mkdtemp (0700 whatever the code does), so the attack runs on a
state root made the way an installation makes it: `manage.py migrate` + `setup` on a fresh
path under a 0755 parent, then an image import (the same code the REST import runs)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile

import pytest

from containers.engine.fs import rootfs
from tests.stack import PY, REPO

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
IMPORT = ("import sys; from containers.images import import_tar; "
          "print(import_tar(open(sys.argv[1], 'rb'), 'suid', 'latest', user=None).id)")


def _suid_tar() -> tuple[bytes, str]:
    """A one-layer rootfs: /bin/id, setuid root. Returns (tar bytes, diff_id hex)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo("bin")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(d)
        with open("/usr/bin/id", "rb") as f:
            data = f.read()
        ti = tarfile.TarInfo("bin/id")
        ti.mode, ti.size, ti.uid, ti.gid = 0o4755, len(data), 0, 0
        tar.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return raw, hashlib.sha256(raw).hexdigest()


class Install:
    def __init__(self, parent: str):
        self.root = os.path.join(parent, "state")
        self.env = {**os.environ, "DOCKERWEB_STATE_ROOT": self.root,
                    "DJANGO_SETTINGS_MODULE": "dockerweb.settings"}

    def manage(self, *args: str) -> str:
        return subprocess.run([PY, "manage.py", *args], cwd=REPO, env=self.env, check=True,
                              capture_output=True, text=True, timeout=300).stdout


@pytest.fixture(scope="module")
def install():
    parent = tempfile.mkdtemp(prefix=f"dwt-{os.environ['DOCKERWEB_TEST_RUN']}-perms-", dir="/tmp")
    os.chmod(parent, 0o755)  # as /var/lib: anyone may traverse it
    inst = Install(parent)
    try:
        inst.manage("migrate", "--noinput", "-v0")
        inst.manage("setup", "--password", "perms-password")
        raw, diff_id = _suid_tar()
        tar_path = os.path.join(parent, "suid.tar")
        with open(tar_path, "wb") as f:
            f.write(raw)
        inst.manage("shell", "-c", IMPORT.replace("sys.argv[1]", repr(tar_path)))
        os.unlink(tar_path)
        inst.suid = os.path.join(inst.root, "layers", diff_id, "bin", "id")
        st = os.lstat(inst.suid)
        assert st.st_uid == 0 and st.st_mode & 0o7777 == 0o4755  # the layer keeps its modes
        yield inst
    finally:
        for mp in reversed(rootfs.mounts_under(parent)):
            rootfs.unmount(mp)
        shutil.rmtree(parent, ignore_errors=True)


def _as_nobody(*argv: str) -> subprocess.CompletedProcess:
    """Run `argv` in a shell of user nobody (setpriv itself must not exec the program: it
    reaches a path that nobody cannot)."""
    script = 'exec "$@"'
    p = subprocess.run([*NOBODY, "/bin/sh", "-c", script, "sh", *argv], capture_output=True, timeout=30)
    p.stdout, p.stderr = (x.decode(errors="replace") for x in (p.stdout, p.stderr))
    return p


def _assert_nobody_gets_nothing(inst: Install) -> None:
    p = _as_nobody(inst.suid, "-u")
    assert p.returncode != 0 and p.stdout.strip() != "0", \
        f"nobody ran a setuid-root layer file: euid {p.stdout.strip()}"
    assert "Permission denied" in p.stderr, p.stderr
    for name in ("db.sqlite3", "secret.key"):
        p = _as_nobody("cat", os.path.join(inst.root, name))
        assert p.returncode != 0 and p.stdout == "", f"nobody read {name}: {p.stdout[:80]!r}"
        assert "Permission denied" in p.stderr, p.stderr


def _open_to_others(root: str, skip: set[str]) -> list[str]:
    """Paths under `root` (root included) with a group/other bit or another owner than root.
    Does not descend into `skip` (what containers see: it keeps its own modes). The one
    documented exception: the Docker API sockets run/docker*.sock, group rw (0660, as Docker's)."""
    bad = []

    def check(path: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:  # gone meanwhile (SQLite's -shm/-wal, a finished exec)
            return
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            return
        # Docker API sockets (docker.sock, and the ones tests start beside it) are 0660
        sock = (os.path.basename(os.path.dirname(path)) == "run" and stat.S_ISSOCK(st.st_mode)
                and os.path.basename(path).startswith("docker"))
        allowed = 0o060 if sock else 0
        if mode & 0o077 & ~allowed or st.st_uid != 0:
            bad.append(f"{mode:o} uid {st.st_uid} {os.path.relpath(path, root)}")

    check(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            check(os.path.join(dirpath, name))
        for name in list(dirnames):
            path = os.path.join(dirpath, name)
            if path in skip:
                dirnames.remove(name)
            else:
                check(path)
    return bad


def _content(root: str) -> set[str]:
    """Layer contents, tar-split stashes (hard links of layer files), container roots, the
    /etc files bind-mounted into containers and volume data."""
    out = set()
    for d in ("layers", "layermeta"):
        base = os.path.join(root, d)
        for name in os.listdir(base) if os.path.isdir(base) else []:
            out.add(os.path.join(base, name) if d == "layers" else os.path.join(base, name, "stash"))
    base = os.path.join(root, "volumes")
    for name in os.listdir(base) if os.path.isdir(base) else []:
        out.add(os.path.join(base, name, "_data"))
    base = os.path.join(root, "containers")
    for cid in os.listdir(base) if os.path.isdir(base) else []:
        out |= {os.path.join(base, cid, part) for part in ("upper", "work", "rootfs", "etc")}
    base = os.path.join(root, "runtime")
    for cid in os.listdir(base) if os.path.isdir(base) else []:
        out.add(os.path.join(base, cid, "etc"))
    return out


def test_fresh_install_is_roots_only(install):
    _assert_nobody_gets_nothing(install)
    assert stat.S_IMODE(os.stat(install.root).st_mode) == 0o700
    assert _open_to_others(install.root, _content(install.root)) == []


def test_an_older_install_is_closed_at_start(install):
    """An installation made by an older version (root and directories 0711, layer 0755, the
    database 0644): `nobody` runs the setuid file as root there; the next start closes it."""
    root = install.root
    for d in ("", "layers", "images", "layermeta", "containers", "tmp", "run", "lxc"):
        os.chmod(os.path.join(root, d), 0o711)
    os.chmod(os.path.join(root, "db.sqlite3"), 0o644)
    os.chmod(os.path.join(root, "secret.key"), 0o644)
    p = _as_nobody(install.suid, "-u")
    assert p.stdout.strip() == "0", p  # the attack works on such a tree (euid 0)
    assert _as_nobody("cat", os.path.join(root, "secret.key")).returncode == 0
    install.manage("setup")  # any dockerweb process start does it (containers.runtime.engine)
    _assert_nobody_gets_nothing(install)
    assert _open_to_others(root, _content(root)) == []


def test_running_stack_state_root(api, cli):
    """The live stack's own files with a running container, a published port and an exec:
    container records, logs, exec records, sockets, the database and its WAL."""
    c = api.run(cmd=["sleep", "1000"], ports=["80"], name="perms-walk", volumes=["permsvol:/v"])
    cli("exec", "perms-walk", "true")
    root = api.root
    ours = [os.path.join(root, d) for d in ("containers", "images", "layers", "layermeta", "lxc",
                                            "run", "runtime", "tmp", "volumes")]
    ours += [os.path.join(root, n) for n in os.listdir(root)
             if n.startswith("db.sqlite3") or n in ("secret.key", *(f"{p}.log" for p in api.procs))]
    bad = [b for path in ours for b in _open_to_others(path, _content(root))]
    assert bad == [], bad
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert os.path.isdir(os.path.join(root, "containers", c["id"], "exec"))
    assert os.path.isdir(os.path.join(root, "volumes", "permsvol", "_data"))
    api.api("DELETE", f"/api/containers/{c['id']}/?force=1")
    assert api.api("DELETE", "/api/volumes/permsvol/").status_code == 204
