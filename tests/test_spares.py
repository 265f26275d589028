"""Spare container directories (engine/fs/spares.py): a removed container's directory is made
as new and kept for the next container, so nothing of one container reaches the next, on
real files (root: owners, device nodes, trusted xattrs, a mount) and on the real stack."""

from __future__ import annotations

import os
import stat
import subprocess

from containers.engine.fs import rootfs, spares
from tests.waiting import until

SKELETON = sorted(spares.DIRS)


def _used_container_dir(d) -> str:
    """A container directory as a run and its user leave it."""
    path = str(d)
    upper = os.path.join(path, "upper")
    os.makedirs(os.path.join(upper, "etc", "deep"))
    with open(os.path.join(upper, "secret"), "w") as f:
        f.write("of the last container")
    os.symlink("/etc/hostname", os.path.join(upper, "link-out"))  # never followed
    os.mknod(os.path.join(upper, "whiteout"), stat.S_IFCHR | 0o000, os.makedev(0, 0))
    os.setxattr(os.path.join(upper, "etc"), "trusted.overlay.opaque", b"y")
    os.setxattr(upper, "trusted.overlay.impure", b"y")
    os.setxattr(upper, "user.mine", b"x")
    os.chmod(upper, 0o777)
    os.chown(upper, 1000, 1000)
    os.makedirs(os.path.join(path, "work", "work", "#7"))
    os.setxattr(os.path.join(path, "work"), "trusted.overlay.x", b"y")
    os.chmod(os.path.join(path, "work"), 0o700)
    os.makedirs(os.path.join(path, "rootfs"))
    os.makedirs(os.path.join(path, "exec", "e1"))
    for name, text in (("container.log", "lines"), ("container.log.1", "older"),
                       ("exit.json", "{}"), ("supervisor.spec", "x")):
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
    return path


def _only(spare_dir: str) -> str:
    names = [n for n in os.listdir(spare_dir) if n.startswith(spares.PREFIX)]
    assert len(names) == 1, names
    return os.path.join(spare_dir, names[0])


def test_a_removed_containers_directory_becomes_an_empty_spare_as_new(tmp_path):
    path = _used_container_dir(tmp_path / "removed-c1")
    spare_dir = str(tmp_path / "spare")
    assert spares.recycle(path, spare_dir)
    assert not os.path.exists(path)
    s = _only(spare_dir)
    assert sorted(os.listdir(s)) == SKELETON  # without the upper directory: each its own
    for name in spares.DIRS:
        d = os.path.join(s, name)
        st = os.lstat(d)
        assert os.listdir(d) == [] and stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == 0
        assert os.listxattr(d) == []
    assert stat.S_IMODE(os.stat(s).st_mode) == 0o700
    assert os.path.exists("/etc/hostname")  # the link was deleted, not its target
    dest = str(tmp_path / "containers" / "c2")
    os.makedirs(os.path.dirname(dest))
    assert spares.take(spare_dir, dest) and sorted(os.listdir(dest)) == SKELETON
    assert not spares.take(spare_dir, str(tmp_path / "containers" / "c3"))  # none left


def test_a_reader_of_the_log_keeps_what_it_holds_open(tmp_path):
    """A log follower (docker run --rm) may still read the removed container's log: the
    log is unlinked, never emptied in place."""
    path = _used_container_dir(tmp_path / "removed-c1")
    with open(os.path.join(path, "container.log"), "rb") as follower:
        assert spares.recycle(path, str(tmp_path / "spare"))
        assert follower.read() == b"lines"


def test_a_mounted_or_surplus_directory_is_not_made_a_spare(tmp_path):
    spare_dir = str(tmp_path / "spare")
    path = _used_container_dir(tmp_path / "removed-c1")
    rootfs_dir = os.path.join(path, "rootfs")
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", rootfs_dir], check=True)
    try:
        assert not spares.recycle(path, spare_dir)  # left for the caller to delete
    finally:
        rootfs.unmount(rootfs_dir)
    assert os.path.isdir(path) and not [n for n in os.listdir(spare_dir)]
    assert spares.recycle(path, spare_dir, cap=1)
    other = _used_container_dir(tmp_path / "removed-c2")
    assert not spares.recycle(other, spare_dir, cap=1) and os.path.isdir(other)


def test_the_next_container_gets_a_spare_and_nothing_of_the_last_one(api):
    """A container writes a file, opens up "/" and is removed; the next one, started in its
    directory made a spare, sees neither."""
    spare_dir = os.path.join(api.root, "spare")
    a = api.run(cmd=["sh", "-c", "echo the-last-one > /secret && chmod 777 / && chown 1000 /"])
    assert api.wait(a["id"])["exit_code"] == 0
    before = len(os.listdir(spare_dir)) if os.path.isdir(spare_dir) else 0
    assert api.api("DELETE", f"/api/containers/{a['id']}/").status_code == 204
    until(lambda: len(os.listdir(spare_dir)) > before)
    b = api.run(cmd=["sh", "-c", "ls /secret; stat -c '%a %u' /"])
    assert api.wait(b["id"])["exit_code"] == 0
    out = api.logs(b["id"]).decode()
    assert "No such file" in out and "755 0" in out, out
    assert len(os.listdir(spare_dir)) == before  # it took the spare
