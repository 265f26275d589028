"""engine/fs/rootfs.py: a container root's mount is detected and undone without reading the
mount table (issue 13: /proc/self/mountinfo waits for every other mount and unmount on the
host); both stay idempotent."""

from __future__ import annotations

import os

from containers.engine.fs import rootfs


def test_overlay_mount_is_seen_and_unmount_is_idempotent(tmp_path):
    lower, upper, work, merged = (str(tmp_path / n) for n in ("lower", "upper", "work", "merged"))
    os.makedirs(lower)
    with open(os.path.join(lower, "f"), "w") as f:
        f.write("x")
    assert not rootfs.overlay_mounted(merged)  # absent
    os.makedirs(merged)
    assert not rootfs.overlay_mounted(merged)  # a plain directory
    rootfs.mount_overlay([lower], upper, work, merged)
    try:
        assert rootfs.overlay_mounted(merged) and rootfs.is_mounted(merged)
        rootfs.mount_overlay([lower], upper, work, merged)  # idempotent: not mounted twice
        assert rootfs.mounts_under(str(tmp_path)) == [merged]
        assert os.listdir(merged) == ["f"]
    finally:
        rootfs.unmount(merged)
    assert not rootfs.overlay_mounted(merged) and not rootfs.is_mounted(merged)
    assert rootfs.mounts_under(str(tmp_path)) == []
    rootfs.unmount(merged)  # not a mount point: nothing happens
    rootfs.unmount(str(tmp_path / "absent"))  # absent: nothing happens


def test_a_busy_root_is_detached(tmp_path):
    lower, upper, work, merged = (str(tmp_path / n) for n in ("lower", "upper", "work", "merged"))
    os.makedirs(lower)
    rootfs.mount_overlay([lower], upper, work, merged)
    home = os.getcwd()
    fd = os.open(merged, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fchdir(fd)  # the cwd of this process keeps it busy
        cwd_before = os.getcwd()
        rootfs.unmount(merged)  # EBUSY: lazily detached instead
        assert rootfs.mounts_under(str(tmp_path)) == []
    finally:
        os.chdir(home)
        os.close(fd)
    assert cwd_before == merged
