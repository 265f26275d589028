"""engine/fs/initlayer.py: the shared layer of /etc mount points serves only the images that
lack all of them under a plain /etc; it is made once, root's, 0755/0644."""

from __future__ import annotations

import os
import stat

import pytest

from containers.engine.fs import initlayer
from containers.engine.fs.archive import OPAQUE_XATTR


def _layer(root, name: str, files: dict[str, str]) -> str:
    """A layer directory: path -> "dir", "file", "->target" (symlink) or "whiteout"."""
    d = root / name
    d.mkdir()
    for rel, kind in files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            p.mkdir()
        elif kind == "file":
            p.write_text("x")
        elif kind.startswith("->"):
            p.symlink_to(kind[2:])
        elif kind == "whiteout":
            os.mknod(p, stat.S_IFCHR, os.makedev(0, 0))
    return str(d)


def test_an_image_with_a_plain_etc_and_none_of_the_files_fits(tmp_path):
    assert initlayer.fits([_layer(tmp_path, "a", {"etc/passwd": "file", "bin": "dir"})])
    assert initlayer.fits([_layer(tmp_path, "b", {"bin": "dir"})])  # no /etc at all


@pytest.mark.parametrize("files", [
    {"etc/hosts": "file"},
    {"etc/resolv.conf": "->../run/resolv.conf"},  # an image's symlink is never shadowed
    {"etc/hostname": "dir"},
    {"etc": "->private/etc"},
])
def test_an_image_with_any_of_them_or_an_odd_etc_keeps_the_old_way(tmp_path, files):
    assert not initlayer.fits([_layer(tmp_path, "a", files)])


def test_layers_are_read_top_most_first(tmp_path):
    lower = _layer(tmp_path, "lower", {"etc/hosts": "file"})
    assert not initlayer.fits([_layer(tmp_path, "top", {"etc/passwd": "file"}), lower])
    assert not initlayer.fits([_layer(tmp_path, "wh", {"etc/hosts": "whiteout"}), lower])
    opaque = _layer(tmp_path, "opaque", {"etc/passwd": "file"})
    try:
        os.setxattr(os.path.join(opaque, "etc"), OPAQUE_XATTR, b"y")
    except OSError as e:
        pytest.skip(f"no trusted xattrs here: {e}")
    assert initlayer.fits([opaque, lower])  # the opaque /etc hides the lower one's hosts


def test_the_layer_is_made_once_with_empty_points(tmp_path):
    lib = str(tmp_path / "lib")
    os.makedirs(lib)
    made = initlayer.ensure(lib)
    assert initlayer.ensure(lib) == made == initlayer.path(lib)
    assert sorted(os.listdir(os.path.join(made, "etc"))) == sorted(initlayer.POINTS)
    assert stat.S_IMODE(os.stat(os.path.join(made, "etc")).st_mode) == 0o755
    for name in initlayer.POINTS:
        st = os.stat(os.path.join(made, "etc", name))
        assert (stat.S_IMODE(st.st_mode), st.st_size) == (0o644, 0)
    assert os.listdir(lib) == [initlayer.NAME]  # no temporary left


def test_a_half_made_copy_is_swept_and_a_failed_one_not_left(tmp_path, monkeypatch):
    """A maker that died half-way left its temporary: the next make takes it away once it
    is older than STALE_S (a young one may be a live maker's); a failing make leaves none."""
    lib = str(tmp_path / "lib")
    old, young = (os.path.join(lib, f".{initlayer.NAME}-{x}") for x in ("dead", "live"))
    for d in (old, young):
        os.makedirs(os.path.join(d, "etc"))
    os.utime(old, (1, 1))
    real_open = os.open

    def failing_open(p, *a, **kw):
        if p.endswith("hosts"):
            raise OSError(28, "No space left on device")
        return real_open(p, *a, **kw)

    monkeypatch.setattr(initlayer.os, "open", failing_open)
    with pytest.raises(OSError):
        initlayer.ensure(lib)
    assert os.listdir(lib) == [os.path.basename(young)]
    monkeypatch.setattr(initlayer.os, "open", real_open)
    initlayer.ensure(lib)
    assert sorted(os.listdir(lib)) == sorted([initlayer.NAME, os.path.basename(young)])


def test_an_image_whose_etc_is_not_roots_0755_keeps_the_old_way(tmp_path):
    """The merged /etc would show the init layer's owner and mode instead of the image's."""
    layer = _layer(tmp_path, "a", {"etc/passwd": "file"})
    os.chmod(os.path.join(layer, "etc"), 0o775)
    assert not initlayer.fits([layer])
    os.chmod(os.path.join(layer, "etc"), 0o755)
    if os.geteuid() == 0:
        os.chown(os.path.join(layer, "etc"), 1000, 0)
        assert not initlayer.fits([layer])
        os.chown(os.path.join(layer, "etc"), 0, 0)
    assert initlayer.fits([layer]) == (os.stat(os.path.join(layer, "etc")).st_uid == 0)


def test_a_container_keeps_the_stack_of_its_first_mount(tmp_path):
    """Chosen at the root's first mount, marked on its upper directory, kept for its life: a
    container made before the init layer (an upper without the mark) never gets it."""
    from containers.engine.facade import Engine, EngineConfig
    from containers.engine.image.store import ImageInfo

    if os.geteuid() != 0:
        pytest.skip("the mark is a trusted.* xattr: root only")
    eng = Engine(EngineConfig(str(tmp_path / "state"), "dwfake", pids_limit=4096))
    diff = "e" * 64
    os.makedirs(os.path.join(eng.images.layer_path(diff), "etc"), mode=0o755)
    image = ImageInfo(id="f" * 64, layers=[diff], config={}, created="", size=0)
    own = [eng.images.layer_path(diff)]
    shared = [initlayer.path(eng.layout.lib), *own]
    new, old, never = (eng.layout.container(c * 64) for c in "123")
    assert eng._lowers(image, never, mounting=False) == own  # docker diff of a created one
    assert not os.path.exists(never.upper)
    assert eng._lowers(image, new) == shared and initlayer.marked(new.upper)
    assert eng._lowers(image, new) == shared  # its next mounts: the same
    os.makedirs(old.upper)  # made by a version without the init layer
    assert eng._lowers(image, old) == own and not initlayer.marked(old.upper)
