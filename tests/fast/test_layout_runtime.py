"""engine/layout.py: a container's runtime files live under runtime/ (a tmpfs, fs/runroot.py);
a container an older version started keeps them in its directory until its next start."""

from __future__ import annotations

import os

from containers.engine.fs import runroot
from containers.engine.layout import LEGACY_RUNTIME_FILES, Layout

CID = "d" * 64


def test_runtime_files_are_under_runtime_and_the_rest_on_the_disk(tmp_path):
    layout = Layout(str(tmp_path))
    p = layout.container(CID)
    assert p.dir == os.path.join(layout.containers, CID)
    assert p.run == os.path.join(layout.runtime, CID)
    for path in (p.lxc_config, p.lxc_log, p.supervisor_log, p.state, p.attach, p.etc):
        assert os.path.dirname(path) == p.run
    for path in (p.upper, p.work, p.rootfs, p.spec, p.exit, p.log):
        assert os.path.dirname(path) == p.dir


def test_a_container_started_by_an_older_version_keeps_its_files_until_it_starts_again(tmp_path):
    layout = Layout(str(tmp_path))
    d = os.path.join(layout.containers, CID)
    os.makedirs(os.path.join(d, "etc"))
    for name in (*LEGACY_RUNTIME_FILES, "container.log", "supervisor.spec"):
        with open(os.path.join(d, name), "w") as f:
            f.write("{}")
    old = layout.container(CID)  # it runs with its state in its directory
    assert old.run == d and old.state == os.path.join(d, "state.json")
    assert old.attach == os.path.join(d, "attach.sock") and old.etc == os.path.join(d, "etc")
    with open(os.path.join(d, "exit.json"), "w") as f:
        f.write("{}")
    # once it ended, whoever waits for its next run (an attach before a start) looks in runtime/
    assert layout.container(CID).run == os.path.join(layout.runtime, CID)
    new = layout.container_to_start(CID)  # its next start moves to runtime/
    assert new.run == os.path.join(layout.runtime, CID) and os.path.isdir(new.run)
    assert sorted(os.listdir(d)) == ["container.log", "exit.json", "supervisor.spec"]
    assert layout.container(CID) == new


def test_runroot_never_mounts_over_files(tmp_path):
    runtime = tmp_path / "runtime"
    (runtime / CID).mkdir(parents=True)  # runtime files of containers that run from the plain dir
    why = runroot.ensure(str(runtime))
    assert "holds runtime files already" in why
    assert os.listdir(runtime) == [CID]
