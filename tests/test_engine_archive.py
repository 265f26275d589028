"""containers.engine.fs.archive / tarcreate / tarsplit / compression on real files (no Django DB,
no `stack`). Every extraction goes into <sandbox>/dest; "nothing outside" means the sandbox
holds nothing but dest (and the victims the test put there, unchanged) afterwards."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import shutil
import stat
import subprocess
import tarfile
import threading

import pytest

from containers.engine.errors import EngineError, InvalidArgument
from containers.engine.fs import inroot
from containers.engine.fs.archive import extract_layer
from containers.engine.fs.tarcreate import tar_path, tar_stream
from containers.engine.image import tarsplit
from tests.fstree import snapshot

# -- helpers ----------------------------------------------------------------------------------


def member(name: str, kind: str = "file", data: bytes = b"", *, mode: int | None = None,
           link: str = "", mtime: int = 1_600_000_000, uid: int = 0, gid: int = 0,
           dev: tuple[int, int] = (0, 0), pax: dict[str, str] | None = None) -> tuple:
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
             "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
             "fifo": tarfile.FIFOTYPE}
    ti = tarfile.TarInfo(name)
    ti.type = types[kind]
    ti.mode = mode if mode is not None else (0o755 if kind == "dir" else 0o644)
    ti.linkname, ti.mtime, ti.uid, ti.gid = link, mtime, uid, gid
    ti.devmajor, ti.devminor = dev
    if pax:
        ti.pax_headers = dict(pax)
    if kind == "file":
        ti.size = len(data)
    return ti, data


def make_tar(*members: tuple) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti, data in members:
            tar.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def sandbox(tmp_path):
    box = tmp_path / "sandbox"
    (box / "dest").mkdir(parents=True)
    (box / "victim").write_text("precious\n")
    (box / "victimdir").mkdir(mode=0o700)
    os.chmod(box / "victimdir", 0o700)
    return box


def untouched(box) -> None:
    """Nothing was created, changed or removed outside dest."""
    assert sorted(os.listdir(box)) == ["dest", "victim", "victimdir"]
    assert (box / "victim").read_text() == "precious\n"
    assert os.stat(box / "victim").st_nlink == 1
    assert stat.S_IMODE(os.stat(box / "victimdir").st_mode) == 0o700
    assert os.listdir(box / "victimdir") == []


def extract(raw: bytes, dest, **kw) -> str:
    return extract_layer(io.BytesIO(raw), str(dest), **kw)




# -- compression and the diff_id --------------------------------------------------------------

SAMPLE = make_tar(member("etc", "dir"), member("etc/hello", data=b"hello\n"),
                  member("bin", "dir"), member("bin/sh", "sym", link="/bin/busybox"),
                  member("big", data=os.urandom(300_000)))


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress, bz2.compress, lzma.compress],
                         ids=["plain", "gzip", "bzip2", "xz"])
def test_compressions_give_the_diff_id_of_the_plain_tar(tmp_path, compress):
    dest = tmp_path / "d"
    dest.mkdir()
    assert extract(compress(SAMPLE), dest) == sha(SAMPLE)
    assert (dest / "etc/hello").read_bytes() == b"hello\n"
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"


def test_extract_from_a_pipe_streams(tmp_path):
    """A non-seekable source of 40 MB (gzip) is extracted while it is being written."""
    payload = os.urandom(1 << 20) * 40
    raw = make_tar(member("data.bin", data=payload))
    r, w = os.pipe()

    def writer():
        with os.fdopen(w, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=1) as gz:
            for i in range(0, len(raw), 1 << 16):
                gz.write(raw[i:i + (1 << 16)])

    t = threading.Thread(target=writer)
    t.start()
    with os.fdopen(r, "rb") as f:
        diff_id = extract_layer(f, str(tmp_path))
    t.join()
    assert diff_id == sha(raw)
    assert os.path.getsize(tmp_path / "data.bin") == len(payload)


def test_plain_tar_whose_first_name_looks_like_bzip2(tmp_path):
    raw = make_tar(member("BZh91AY&SYx", data=b"not compressed"))
    assert extract(raw, tmp_path) == sha(raw)
    assert (tmp_path / "BZh91AY&SYx").read_bytes() == b"not compressed"


@pytest.mark.parametrize("raw", [
    b"\x28\xb5\x2f\xfd" + os.urandom(64),  # zstd
    gzip.compress(SAMPLE)[:-40],  # truncated gzip
    gzip.compress(SAMPLE)[:200] + b"\0" * 100 + gzip.compress(SAMPLE)[300:],  # corrupt deflate
    bz2.compress(SAMPLE)[:100],
    lzma.compress(SAMPLE)[:100],
    SAMPLE[:1500],  # truncated inside a header
    SAMPLE[:1536],  # truncated between members, no end blocks
    SAMPLE[:1536] + os.urandom(512) + SAMPLE[2048:],  # a bad header in mid-archive
    SAMPLE[:1024 + 200],  # truncated inside a file's data
    os.urandom(2048),
    b"",
], ids=["zstd", "gzip-truncated", "gzip-corrupt", "bzip2-truncated", "xz-truncated",
        "tar-truncated-header", "tar-truncated-boundary", "tar-bad-header", "tar-truncated-data",
        "garbage", "empty"])
def test_corrupt_archives_are_invalid(tmp_path, raw):
    with pytest.raises(InvalidArgument):
        extract(raw, tmp_path)


# -- malicious archives -----------------------------------------------------------------------


def test_absolute_names_land_inside(sandbox):
    raw = make_tar(member(f"{sandbox}/victim", data=b"pwned"), member("/abs", data=b"x"))
    extract(raw, sandbox / "dest")
    untouched(sandbox)
    assert (sandbox / "dest" / str(sandbox).lstrip("/") / "victim").read_bytes() == b"pwned"
    assert (sandbox / "dest/abs").read_bytes() == b"x"


def _raw_header(name: str, kind: bytes, size: int, patch: dict[int, int] | None = None) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size = kind, size
    buf = bytearray(ti.tobuf(tarfile.GNU_FORMAT))
    for pos, value in (patch or {}).items():
        buf[pos] = value
    buf[148:156] = b"        "
    buf[148:156] = b"%06o\0 " % (256 + sum(buf[:148]) + sum(buf[156:]))
    return bytes(buf)


def _pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    n = len(body) + len(str(len(body)))
    n = len(body) + len(str(n))
    return str(n).encode() + body


def test_header_limits(sandbox):
    """Go's limits: pax globals, header chains, GNU sparse maps (tarlimits.py)."""
    def refused(raw: bytes, what: str) -> None:
        with pytest.raises(InvalidArgument, match=what):
            extract_layer(io.BytesIO(raw), str(sandbox))

    rec = _pax_record("comment", "c" * (600 * 1024))
    glob = _raw_header("g", tarfile.XGLTYPE, len(rec)) + rec + b"\0" * (-len(rec) % 512)
    refused(glob * 2 + make_tar(member("f", data=b"x")), "global headers")
    # an old GNU sparse member whose extension blocks never end
    ext = bytearray(512)
    ext[504] = 1
    sparse = _raw_header("s", tarfile.GNUTYPE_SPARSE, 0, {482: 1}) + bytes(ext) * 3000
    refused(sparse, "sparse map")
    ok = _pax_record("comment", "c" * 1000)
    one = _raw_header("g", tarfile.XGLTYPE, len(ok)) + ok + b"\0" * (-len(ok) % 512)
    extract_layer(io.BytesIO(one + make_tar(member("f", data=b"x"))), str(sandbox))
    assert (sandbox / "f").read_bytes() == b"x"


@pytest.mark.parametrize("name", ["../victim", "a/../../victim", "./../victim", "../dest/../victim"])
def test_dotdot_escape_is_refused(sandbox, name):
    with pytest.raises(InvalidArgument, match="outside"):
        extract(make_tar(member(name, data=b"pwned")), sandbox / "dest")
    untouched(sandbox)


def test_dotdot_inside_is_fine(sandbox):
    extract(make_tar(member("a/b/../c", data=b"ok")), sandbox / "dest")
    assert (sandbox / "dest/a/c").read_bytes() == b"ok"
    untouched(sandbox)


@pytest.mark.parametrize("target", ["SANDBOX", "..", "../victimdir", "/"])
def test_symlink_escape_then_write_through_it_is_refused(sandbox, target):
    target = str(sandbox) if target == "SANDBOX" else target
    raw = make_tar(member("link", "sym", link=target), member("link/victim", data=b"pwned"))
    with pytest.raises(InvalidArgument, match="symlink"):
        extract(raw, sandbox / "dest")
    untouched(sandbox)
    assert os.readlink(sandbox / "dest/link") == target  # the link itself is kept, inert


def test_symlink_then_regular_file_of_same_name_replaces_the_link(sandbox):
    raw = make_tar(member("f", "sym", link=str(sandbox / "victim")), member("f", data=b"mine"))
    extract(raw, sandbox / "dest")
    untouched(sandbox)
    assert (sandbox / "dest/f").read_bytes() == b"mine" and not os.path.islink(sandbox / "dest/f")


def test_symlink_then_directory_of_same_name(sandbox):
    raw = make_tar(member("d", "sym", link=str(sandbox / "victimdir")), member("d", "dir", mode=0o777),
                   member("d/x", data=b"in"))
    extract(raw, sandbox / "dest")
    untouched(sandbox)
    assert (sandbox / "dest/d/x").read_bytes() == b"in"


def test_directory_replaced_by_symlink_gets_no_chmod(sandbox):
    """Directory modes are applied at the end: never through a symlink that replaced one."""
    raw = make_tar(member("d", "dir", mode=0o777), member("d", "sym", link=str(sandbox / "victimdir")),
                   member("e", "dir", mode=0o777), member("e/f", "dir", mode=0o777),
                   member("e", "sym", link=str(sandbox)))
    extract(raw, sandbox / "dest")
    untouched(sandbox)


@pytest.mark.parametrize("link", ["/etc/passwd", "etc/passwd", "../victim", "s/victim", "nothing"])
def test_hardlink_outside_or_missing_is_refused(sandbox, link):
    raw = make_tar(member("s", "sym", link=str(sandbox)), member("h", "hard", link=link))
    with pytest.raises(InvalidArgument):
        extract(raw, sandbox / "dest")
    untouched(sandbox)
    assert os.stat("/etc/passwd").st_nlink == 1
    assert not os.path.lexists(sandbox / "dest/h")


def test_hardlink_to_symlink_or_dir_is_refused(sandbox):
    for target in (member("t", "sym", link="/etc/passwd"), member("t", "dir")):
        with pytest.raises(InvalidArgument, match="not a regular file"):
            extract(make_tar(target, member("h", "hard", link="t")), sandbox / "dest")
        shutil.rmtree(sandbox / "dest")
        (sandbox / "dest").mkdir()
    untouched(sandbox)


def test_hardlink_inside_archive(sandbox):
    raw = make_tar(member("a/f", data=b"same"), member("b/h", "hard", link="a/f"))
    extract(raw, sandbox / "dest")
    assert os.stat(sandbox / "dest/a/f").st_ino == os.stat(sandbox / "dest/b/h").st_ino


def test_device_nodes_and_fifos_are_not_created(sandbox):
    raw = make_tar(member("dev/sda", "chr", dev=(8, 0)), member("dev/sdb", "blk", dev=(8, 16)),
                   member("dev/mem", "chr", dev=(1, 1)), member("fifo", "fifo"),
                   member("dev/null0", "chr", dev=(0, 0)), member("ok", data=b"ok"))
    extract(raw, sandbox / "dest")
    assert os.listdir(sandbox / "dest") == ["ok"]
    untouched(sandbox)


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", "a/.wh..."])
def test_bad_whiteout_names_are_refused(sandbox, name):
    """`.wh...` once meant "remove the parent of the target directory"."""
    raw = make_tar(member("a", "dir"), member("a/keep", data=b"k"), member(name, data=b""))
    with pytest.raises(InvalidArgument, match="whiteout"):
        extract(raw, sandbox / "dest", whiteouts=True)
    untouched(sandbox)
    assert (sandbox / "dest/a/keep").exists()


def test_trusted_xattrs_are_dropped_user_ones_kept(sandbox):
    pax = {"SCHILY.xattr.trusted.overlay.redirect": "/victim", "SCHILY.xattr.user.note": "hi",
           "SCHILY.xattr.trusted.overlay.opaque": "y"}
    extract(make_tar(member("f", data=b"x", pax=pax), member("d", "dir", pax=pax)), sandbox / "dest")
    for p in ("f", "d"):
        names = os.listxattr(sandbox / "dest" / p)
        assert "user.note" in names and not [n for n in names if n.startswith("trusted.")]
    untouched(sandbox)


def test_metadata_is_kept(tmp_path):
    raw = make_tar(member("d", "dir", mode=0o750, uid=1000, gid=1001, mtime=1_000_000_000),
                   member("d/suid", data=b"#!", mode=0o4755, uid=1000, gid=1001, mtime=1_234_567_890),
                   member("d/l", "sym", link="suid", uid=7, gid=8, mtime=1_111_111_111))
    extract(raw, tmp_path)
    st = os.lstat(tmp_path / "d/suid")
    want = (0o4755, 1000, 1001, 1_234_567_890)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == want
    st = os.lstat(tmp_path / "d/l")
    assert (st.st_uid, st.st_gid, st.st_mtime) == (7, 8, 1_111_111_111)
    st = os.lstat(tmp_path / "d")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_mtime) == (0o750, 1000, 1_000_000_000)


def test_long_and_unicode_names(tmp_path):
    long = "/".join(["x" * 60] * 5) + "/f"
    raw = make_tar(member(long, data=b"1"), member("ünïcødé/ß", data=b"2"))
    extract(raw, tmp_path)
    assert (tmp_path / long).read_bytes() == b"1"
    assert (tmp_path / "ünïcødé/ß").read_bytes() == b"2"


# -- whiteouts --------------------------------------------------------------------------------


def test_whiteouts_become_overlay_form(tmp_path):
    raw = make_tar(member("etc", "dir"), member("etc/.wh.passwd"), member("opt", "dir"),
                   member("opt/.wh..wh..opq"), member("opt/new", data=b"n"), member(".wh..wh.plnk", "dir"))
    extract(raw, tmp_path, whiteouts=True)
    st = os.lstat(tmp_path / "etc/passwd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "opt", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(tmp_path)) == ["etc", "opt"]
    assert sorted(os.listdir(tmp_path / "opt")) == ["new"]


def test_whiteout_removes_an_earlier_entry_of_the_same_layer(tmp_path):
    raw = make_tar(member("d/x/y", data=b"1"), member("d/.wh.x"))
    extract(raw, tmp_path, whiteouts=True)
    assert stat.S_ISCHR(os.lstat(tmp_path / "d/x").st_mode)


def test_whiteouts_kept_as_files_without_conversion(tmp_path):
    """docker cp: `.wh.` names are ordinary files there."""
    extract(make_tar(member(".wh.x", data=b"1"), member("d/.wh..wh..opq")), tmp_path)
    assert (tmp_path / ".wh.x").read_bytes() == b"1"
    assert (tmp_path / "d/.wh..wh..opq").exists()


# -- tar creation -----------------------------------------------------------------------------


def build_tree(root) -> None:
    root = str(root)
    os.makedirs(f"{root}/etc/sub")
    with open(f"{root}/etc/passwd", "w") as f:
        f.write("root:x:0:0::/root:/bin/sh\n")
    with open(f"{root}/etc/sub/big", "wb") as f:
        f.write(os.urandom(3 << 20))
    os.symlink("/", f"{root}/escape")
    os.symlink("../etc/passwd", f"{root}/etc/sub/rel")
    os.link(f"{root}/etc/passwd", f"{root}/hard")
    os.chmod(f"{root}/etc/sub", 0o710)
    os.chown(f"{root}/etc/passwd", 123, 456)
    os.setxattr(f"{root}/etc/passwd", "user.color", b"blue")
    os.mkfifo(f"{root}/fifo")
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), (1_500_000_000, 1_500_000_000), follow_symlinks=False)


def test_tar_stream_round_trip_and_determinism(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    build_tree(src)
    dst.mkdir()
    raw = b"".join(tar_stream(str(src)))
    assert raw == b"".join(tar_stream(str(src)))
    assert len(raw) % tarfile.RECORDSIZE == 0
    names = tarfile.open(fileobj=io.BytesIO(raw)).getnames()
    assert names == sorted(names, key=lambda n: n.split("/")) and "escape" in names
    assert len(raw) < (4 << 20)  # the "/" symlink was not followed
    assert extract(raw, dst) == sha(raw)
    # fifos are not extracted
    want = {k: v for k, v in snapshot(src, dir_mtimes=False).items() if k != "fifo"}
    assert {k: v for k, v in snapshot(dst, dir_mtimes=False).items()} == want
    assert os.getxattr(dst / "etc/passwd", "user.color") == b"blue"
    assert os.stat(dst / "hard").st_ino == os.stat(dst / "etc/passwd").st_ino
    os.unlink(src / "fifo")
    assert b"".join(tar_stream(str(dst))) == b"".join(tar_stream(str(src)))


def test_tar_stream_missing_root_is_empty(tmp_path):
    raw = b"".join(tar_stream(str(tmp_path / "none")))
    assert tarfile.open(fileobj=io.BytesIO(raw)).getnames() == []


def test_tar_stream_whiteouts_round_trip(tmp_path):
    upper, layer = tmp_path / "upper", tmp_path / "layer"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc/gone", stat.S_IFCHR, os.makedev(0, 0))
    (upper / "opt").mkdir()
    os.setxattr(upper / "opt", "trusted.overlay.opaque", b"y")
    (upper / "opt/new").write_text("n")
    layer.mkdir()
    raw = b"".join(tar_stream(str(upper), whiteouts=True))
    names = tarfile.open(fileobj=io.BytesIO(raw)).getnames()
    assert "etc/.wh.gone" in names and "opt/.wh..wh..opq" in names and "etc/gone" not in names
    extract(raw, layer, whiteouts=True)
    assert stat.S_ISCHR(os.lstat(layer / "etc/gone").st_mode)
    assert os.getxattr(layer / "opt", "trusted.overlay.opaque") == b"y"
    assert b"".join(tar_stream(str(layer), whiteouts=True)) == raw


def test_tar_path_file_and_dir(tmp_path):
    build_tree(tmp_path / "root")
    root_fd = inroot.open_root(str(tmp_path / "root"))

    def tar_of(path: str, arcname: str) -> tarfile.TarFile:
        fd = inroot.open_path(root_fd, path)
        try:
            return tarfile.open(fileobj=io.BytesIO(b"".join(tar_path(fd, arcname))))
        finally:
            os.close(fd)

    try:
        names = tar_of("/etc", "etc").getnames()
        assert names[0] == "etc" and "etc/sub/big" in names and "etc/sub/rel" in names
        # the symlink "escape" -> "/" resolves to the root itself, never the host's /
        names = tar_of("/escape/etc", "etc").getnames()
        assert names[0] == "etc" and "etc/sub/big" in names
        assert "./fifo" not in tar_of("/", ".").getnames()
        (m,) = tar_of("/etc/sub/big", "big").getmembers()
        assert m.isreg() and m.name == "big"
    finally:
        os.close(root_fd)


# -- tar-split: the exact tar again -----------------------------------------------------------


def reassembled(raw: bytes, tmp_path, name="x") -> tuple[str, bytes]:
    dest, meta = tmp_path / f"{name}-layer", tmp_path / f"{name}-meta"
    dest.mkdir()
    diff_id = extract_layer(io.BytesIO(raw), str(dest), whiteouts=True, split_dir=str(meta))
    out = b"".join(tarsplit.assemble(str(meta), str(dest)))
    assert tarsplit.info(str(meta))["tar_size"] == len(raw)
    return diff_id, out


def test_tarsplit_gnu_tar(tmp_path):
    src = tmp_path / "src"
    build_tree(src)
    os.unlink(src / "fifo")
    (src / ("long" * 40)).write_text("long name")
    ran = []
    for fmt in ("gnu", "posix", "ustar", "v7"):
        tarball = tmp_path / f"t-{fmt}.tar"
        cmd = ["tar", f"--format={fmt}", "-C", str(src), "-cf", str(tarball), "."]
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            continue  # (v7/ustar cannot hold the long name)
        raw = tarball.read_bytes()
        diff_id, out = reassembled(raw, tmp_path, fmt)
        assert out == raw and diff_id == sha(raw)
        ran.append(fmt)
    assert {"gnu", "posix"} <= set(ran)


def test_tarsplit_duplicates_and_replacements(tmp_path):
    """Members later overwritten or removed by the same archive keep their bytes (stash)."""
    raw = make_tar(member("a", data=b"first"), member("d/x", data=b"in d"), member("d/y", data=b"y"),
                   member("h", "hard", link="a"), member("a", data=b"second!"),
                   member("d", "sym", link="/"), member("w/z", data=b"z"), member("w/.wh.z"),
                   member("sparse-ish", data=b"\0" * 100_000), member("t", "chr", dev=(1, 3)))
    raw += os.urandom(700)  # trailing bytes after the end blocks are part of the diff_id too
    diff_id, out = reassembled(raw, tmp_path)
    assert out == raw and diff_id == sha(raw)


def test_tarsplit_detects_a_changed_layer(tmp_path):
    raw = make_tar(member("f", data=b"0123456789"))
    dest, meta = tmp_path / "l", tmp_path / "m"
    dest.mkdir()
    extract_layer(io.BytesIO(raw), str(dest), split_dir=str(meta))
    (dest / "f").write_bytes(b"01")
    with pytest.raises(EngineError, match="shorter"):
        b"".join(tarsplit.assemble(str(meta), str(dest)))
    os.unlink(dest / "f")
    os.symlink("/etc/passwd", dest / "f")
    with pytest.raises(EngineError, match="gone"):
        b"".join(tarsplit.assemble(str(meta), str(dest)))


class _Trickle:
    """A stream that hands out at most `n` bytes per read (a slow socket)."""

    def __init__(self, data: bytes, n: int):
        self.f, self.n = io.BytesIO(data), n

    def read(self, size: int = -1) -> bytes:
        return self.f.read(min(self.n, size if size >= 0 else self.n))


@pytest.mark.parametrize("n", [1, 7, 300, 4096])
def test_short_reads(tmp_path, n):
    dest = tmp_path / str(n)
    dest.mkdir()
    assert extract_layer(_Trickle(SAMPLE, n), str(dest)) == sha(SAMPLE)
    assert (dest / "etc/hello").read_bytes() == b"hello\n"
