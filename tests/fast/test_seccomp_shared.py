"""confine/seccomp.shared: one profile file per distinct profile under the lib directory,
written once, root's only; containers with the same capabilities share it (a file per
container cost an inode allocation per start and a deletion per removal, issue 13)."""

from __future__ import annotations

import os
import stat

from containers.engine.confine import seccomp


def test_one_file_per_profile_written_once(tmp_path):
    lib = str(tmp_path / "lib")
    default = frozenset({"chown", "kill"})
    a = seccomp.shared(lib, default)
    assert seccomp.shared(lib, frozenset({"kill", "chown"})) == a  # same set, same file
    with open(a) as f:
        assert f.read() == seccomp.render(default)
    assert stat.S_IMODE(os.stat(a).st_mode) == 0o600 and stat.S_IMODE(os.stat(lib).st_mode) == 0o700
    before = os.stat(a).st_ino
    seccomp.shared(lib, default)
    assert os.stat(a).st_ino == before  # not rewritten
    b = seccomp.shared(lib, default | {"sys_admin"})
    assert b != a and open(b).read() == seccomp.render(default | {"sys_admin"})
    assert sorted(os.listdir(lib)) == sorted(os.path.basename(p) for p in (a, b))  # no temporaries
    os.unlink(a)  # gone (a cleaned state root): made again
    assert seccomp.shared(lib, default) == a and os.path.exists(a)
