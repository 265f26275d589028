"""containers.engine.fs.changes (docker diff) on real directories and real overlayfs mounts (no
Django DB, no `stack`). Mounts live under tmp_path and are unmounted in teardown."""

from __future__ import annotations

import os
import shutil
import stat
import time

import pytest

from containers.engine.fs import rootfs
from containers.engine.fs.changes import ADDED, CHANGED, DELETED, LETTER, Change, changes

C, A, D = CHANGED, ADDED, DELETED


def files(root, spec: dict[str, str | None]) -> None:
    """Make `spec` below `root`: "dir/" dirs, "->target" symlinks, None whiteouts, else files."""
    for rel, what in spec.items():
        p = os.path.join(str(root), rel.rstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if rel.endswith("/"):
            os.makedirs(p, exist_ok=True)
        elif what is None:
            os.mknod(p, stat.S_IFCHR, os.makedev(0, 0))
        elif what.startswith("->"):
            os.symlink(what[2:], p)
        else:
            with open(p, "w") as f:
                f.write(what)


def opaque(path) -> None:
    os.setxattr(str(path), "trusted.overlay.opaque", b"y")


def diff(upper, *lowers) -> set[tuple[str, str]]:
    out = changes(str(upper), [str(x) for x in lowers])
    assert out == sorted(out) and all(isinstance(c, Change) for c in out)
    return {(c.path, c.letter) for c in out}


@pytest.fixture
def overlay(tmp_path):
    """mount(lowers, name) -> (upper, merged): an overlay of `lowers` (top-most first)."""
    mounted: list[str] = []

    def mount(lowers, name="c"):
        base = tmp_path / name
        upper, work, merged = base / "upper", base / "work", base / "merged"
        rootfs.mount_overlay([str(x) for x in lowers], str(upper), str(work), str(merged))
        mounted.append(str(merged))
        return upper, merged

    yield mount
    for mp in reversed(mounted):
        rootfs.unmount(mp)
    assert rootfs.mounts_under(str(tmp_path)) == []


# -- on synthetic upper dirs ------------------------------------------------------------------


def test_added_changed_deleted(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    files(lower, {"etc/passwd": "r", "etc/group": "g", "bin/sh": "->/bin/busybox", "usr/lib/a/b": "x"})
    files(upper, {"etc/passwd": "r2", "etc/new": "n", "etc/group": None, "tmp/x": "t", "bin/sh": "->dash"})
    assert diff(upper, lower) == {("/etc", "C"), ("/etc/passwd", "C"), ("/etc/new", "A"), ("/etc/group", "D"),
                                  ("/tmp", "A"), ("/tmp/x", "A"), ("/bin", "C"), ("/bin/sh", "C")}
    assert LETTER == {0: "C", 1: "A", 2: "D"}


def test_missing_upper_and_missing_lower(tmp_path):
    assert changes(str(tmp_path / "none"), [str(tmp_path)]) == []
    files(tmp_path / "upper", {"f": "1"})
    assert changes(str(tmp_path / "upper"), [str(tmp_path / "gone")]) == [("/f", ADDED)]


def test_opaque_upper_directory(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    files(lower, {"usr/lib/a/b": "x", "usr/lib/c": "c", "usr/lib/e": "e", "usr/bin/x": "x"})
    files(upper, {"usr/lib/c": "new c", "usr/lib/d": "d", "usr/lib/a/b2": "b2"})
    opaque(upper / "usr/lib")
    assert diff(upper, lower) == {
        ("/usr", "C"), ("/usr/lib", "C"), ("/usr/lib/c", "C"), ("/usr/lib/d", "A"), ("/usr/lib/e", "D"),
        ("/usr/lib/a", "C"), ("/usr/lib/a/b2", "A"), ("/usr/lib/a/b", "D")}


def test_several_lowers_follow_overlay_visibility(tmp_path):
    top, bottom, upper = tmp_path / "top", tmp_path / "bottom", tmp_path / "upper"
    files(bottom, {"x/f": "f", "y": "a file", "z/dir/g": "g", "z/n": "n", "w/old": "o"})
    files(top, {"x/f": None, "y/k": "k", "z/n": "n2", "w/": ""})
    opaque(top / "z")
    files(upper, {"x/f": "back", "y/k": "k2", "z/dir/g": "g2", "z/n": "n3", "w/old": "o2"})
    assert diff(upper, top, bottom) == {
        ("/x", "C"), ("/x/f", "A"),  # whited out by the top layer: added again
        ("/y", "C"), ("/y/k", "C"),  # a directory in top hides the file below
        ("/z", "C"), ("/z/dir", "A"), ("/z/dir/g", "A"), ("/z/n", "C"),  # opaque in top
        ("/w", "C"), ("/w/old", "C")}  # top's w merges with bottom's


def test_symlinks_are_never_followed(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    files(lower, {"data": "->/etc", "etc/hosts": "h"})
    files(upper, {"data/passwd": "mine", "root-link": "->/", "etc": "->/etc"})
    got = diff(upper, lower)
    # /data was a symlink to the host's /etc: its passwd is not "changed" because /etc/passwd exists
    assert got == {("/data", "C"), ("/data/passwd", "A"), ("/root-link", "A"), ("/etc", "C")}


# -- on real overlay mounts -------------------------------------------------------------------


def test_real_overlay(tmp_path, overlay):
    lower = tmp_path / "lower"
    files(lower, {"etc/passwd": "root\n", "etc/group": "g", "etc/hostname": "h", "usr/lib/a/b": "b",
                  "usr/lib/c": "c", "opt/old1": "1", "opt/old2/x": "2", "var/log/": "", "keep/me": "k"})
    upper, m = overlay([lower])
    with open(m / "etc/passwd", "a") as f:
        f.write("me\n")
    (m / "etc/new").write_text("new")
    os.unlink(m / "etc/group")
    shutil.rmtree(m / "usr/lib")
    shutil.rmtree(m / "opt")
    os.mkdir(m / "opt")
    (m / "opt/fresh").write_text("f")
    os.chmod(m / "var/log", 0o700)
    os.rename(m / "etc/hostname", m / "etc/hostname2")
    os.makedirs(m / "newdir/sub")
    (m / "newdir/sub/file").write_text("x")
    os.symlink("/", m / "root-link")
    assert diff(upper, lower) == {
        ("/etc", "C"), ("/etc/passwd", "C"), ("/etc/new", "A"), ("/etc/group", "D"),
        ("/etc/hostname", "D"), ("/etc/hostname2", "A"),
        ("/usr", "C"), ("/usr/lib", "D"),
        ("/opt", "C"), ("/opt/fresh", "A"), ("/opt/old1", "D"), ("/opt/old2", "D"),
        ("/var", "C"), ("/var/log", "C"),
        ("/newdir", "A"), ("/newdir/sub", "A"), ("/newdir/sub/file", "A"), ("/root-link", "A")}


def test_real_overlay_on_two_layers(tmp_path, overlay):
    bottom, top = tmp_path / "bottom", tmp_path / "top"
    files(bottom, {"a/x": "x", "a/y": "y", "b/z": "z"})
    files(top, {"a/y": None, "a/w": "w", "b/": ""})
    opaque(top / "b")
    upper, m = overlay([top, bottom])
    assert sorted(os.listdir(m / "a")) == ["w", "x"] and os.listdir(m / "b") == []
    (m / "a/y").write_text("y again")
    (m / "b/z").write_text("z again")
    os.unlink(m / "a/x")
    assert diff(upper, top, bottom) == {("/a", "C"), ("/a/y", "A"), ("/a/x", "D"), ("/b", "C"),
                                        ("/b/z", "A")}


def test_ten_thousand_files(tmp_path, capsys):
    """Bench-like: 10,000 changed files in 100 directories, half present below (the goal
    is <= 100 ms; the time is printed, not asserted)."""
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for base in (lower, upper):
        for i in range(100):
            os.makedirs(base / f"d{i}")
    for i in range(10_000):
        rel = f"d{i % 100}/f{i}"
        if i % 2 == 0:
            open(lower / rel, "w").close()
        with open(upper / rel, "w") as f:
            f.write("x")
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        out = changes(str(upper), [str(lower)])
        best = min(best, time.perf_counter() - t0)
    assert len(out) == 10_100
    kinds = [c.kind for c in out]
    assert kinds.count(CHANGED) == 5_100 and kinds.count(ADDED) == 5_000
    with capsys.disabled():
        print(f"\nchanges() of 10,000 files: {best * 1000:.1f} ms (best of 5)")
