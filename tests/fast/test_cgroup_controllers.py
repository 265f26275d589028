"""engine/run/cgroups.controllers: listed again only when the cgroup root's entries change."""

from __future__ import annotations

import os

from containers.engine.run import cgroups


def test_controllers_follow_the_roots_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", str(tmp_path))
    monkeypatch.setattr(cgroups, "_controllers", None)
    (tmp_path / "memory").mkdir()
    (tmp_path / "cpu,cpuacct").mkdir()
    (tmp_path / "cpu").symlink_to("cpu,cpuacct")
    assert cgroups.controllers() == [str(tmp_path / "cpu,cpuacct"), str(tmp_path / "memory")]
    assert cgroups.controllers() == [str(tmp_path / "cpu,cpuacct"), str(tmp_path / "memory")]
    st = os.stat(tmp_path)
    (tmp_path / "pids").mkdir()  # a hierarchy's mount point made: the root's mtime moves
    os.utime(tmp_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # coarse clocks
    assert str(tmp_path / "pids") in cgroups.controllers()
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "blkio").mkdir()
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", str(other))  # another root: its own listing
    assert cgroups.controllers() == [str(other / "blkio")]
