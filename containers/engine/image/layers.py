"""Layer store: image layers on disk, content-addressed and stored once.

A layer is a directory <state>/layers/<diff_id>/ in overlay form (whiteouts as char 0:0,
opaque directories with trusted.overlay.opaque=y), named by the sha256 of the uncompressed
tar it came from (the OCI diff_id), and used read-only as an overlay lowerdir. Beside it,
<state>/layermeta/<diff_id>/ holds its tar-split records (tarsplit.py) and its size, so the
exact original tar, thus the diff_id, can be handed out again (save, push). A layer is
extracted under <state>/tmp/ and renamed into place, records first: a layer directory is
never seen half-made nor without its records; a crash leaves garbage in tmp/ only. Which
layers are still needed is the caller's knowledge (ImageStore.layers_of).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from ..errors import EngineError, InvalidArgument, NotFound
from ..fs.archive import extract_layer
from ..fs.tarcreate import tar_stream
from ..layout import Layout
from . import tarsplit


class LayerStore:
    """Layers under `layout` (diff_ids are 64 lowercase hex, without "sha256:")."""

    def __init__(self, layout: Layout):
        self.layout = layout

    @property
    def layermeta(self) -> str:
        return self.layout.layermeta

    def layer_path(self, diff_id: str) -> str:
        return os.path.join(self.layout.layers, diff_id)

    def meta_path(self, diff_id: str) -> str:
        return os.path.join(self.layermeta, diff_id)

    def has_layer(self, diff_id: str) -> bool:
        return os.path.isdir(self.layer_path(diff_id))

    def layer_size(self, diff_id: str) -> int:
        """Bytes of the layer's files (symlinks and files; directories count 0)."""
        meta = tarsplit.info(self.meta_path(diff_id))
        if meta and "fs_size" in meta:
            return int(meta["fs_size"])
        return _dir_size(self.layer_path(diff_id))

    def add_layer(self, stream: BinaryIO, expect: str | None = None) -> str:
        """Extract a tar stream (plain/gzip/bzip2/xz) into a layer, stored once; its diff_id.

        With `expect`, a stream whose diff_id differs is refused (InvalidArgument) and
        nothing is stored."""
        return self._install_layer(stream, expect)[0]


    def _install_layer(self, stream: BinaryIO, expect: str | None = None) -> tuple[str, bool]:
        """(diff_id, True if this call stored the layer, False if it was there already)."""
        self.layout.ensure()
        tmp = tempfile.mkdtemp(prefix="layer-", dir=self.layout.tmp)
        meta = tempfile.mkdtemp(prefix="layermeta-", dir=self.layout.tmp)
        try:
            diff_id = extract_layer(stream, tmp, whiteouts=True, split_dir=meta)
            if expect is not None and diff_id != expect:
                raise InvalidArgument(f"layer content has diff_id sha256:{diff_id}, expected sha256:{expect}")
            _update_json(os.path.join(meta, "info.json"), fs_size=_dir_size(tmp))
            os.chmod(tmp, 0o755)
            final, meta_final = self.layer_path(diff_id), self.meta_path(diff_id)
            # the records first: a layer directory is never visible without them
            if not os.path.isdir(meta_final):
                _rename_dir(meta, meta_final)
            created = not os.path.isdir(final) and _rename_dir(tmp, final)
            return diff_id, created
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(meta, ignore_errors=True)

    def add_layer_from_chunks(self, chunks: Iterable[bytes]) -> str:
        """A layer from a tar made on the fly (spooled to an unnamed file in tmp/ first, so
        the diff_id is the sha256 of exactly those bytes); its diff_id."""
        self.layout.ensure()
        with tempfile.TemporaryFile(dir=self.layout.tmp) as f:
            for chunk in chunks:
                f.write(chunk)
            f.seek(0)
            return self.add_layer(f)

    def add_layer_from_dir(self, fill: Callable[..., None], *args: Any) -> str:
        """A layer made by `fill(root, *args)` in an empty temporary directory, then tarred
        (tar_stream) and stored as any layer; its diff_id."""
        self.layout.ensure()
        tmp = tempfile.mkdtemp(prefix="fill-", dir=self.layout.tmp)
        try:
            fill(tmp, *args)
            return self.add_layer_from_chunks(tar_stream(tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def layer_tar(self, diff_id: str) -> tuple[int, Iterator[bytes]]:
        """(size, chunks) of the layer's original uncompressed tar: the bytes whose sha256 is
        `diff_id`, rebuilt from the tar-split records and the layer's files.

        The chunks raise EngineError at the end if the bytes came out different (a layer
        changed on disk). A layer stored without records (an older store) is re-tarred and
        used only if that reproduces `diff_id`; else EngineError before any byte."""
        if not self.has_layer(diff_id):
            raise NotFound(f"No such layer: sha256:{diff_id}")
        meta = tarsplit.info(self.meta_path(diff_id))
        if meta is None:
            return self._retarred(diff_id)
        chunks = tarsplit.assemble(self.meta_path(diff_id), self.layer_path(diff_id))
        return int(meta["tar_size"]), _verified(chunks, diff_id)

    def _retarred(self, diff_id: str) -> tuple[int, Iterator[bytes]]:
        self.layout.ensure()
        f = tempfile.TemporaryFile(dir=self.layout.tmp)  # noqa: SIM115  (closed by the generator)
        try:
            h = hashlib.sha256()
            for chunk in tar_stream(self.layer_path(diff_id), whiteouts=True):
                h.update(chunk)
                f.write(chunk)
            if h.hexdigest() != diff_id:
                raise EngineError(f"layer sha256:{diff_id} has no tar-split records and re-tars to "
                                  f"sha256:{h.hexdigest()}: its original tar cannot be reproduced")
            size = f.tell()
            f.seek(0)
        except BaseException:
            f.close()
            raise
        return size, _file_chunks(f)

    def remove_layer(self, diff_id: str) -> None:
        """Delete a layer and its records (moved into tmp/ first, so never half there)."""
        for path in (self.layer_path(diff_id), self.meta_path(diff_id)):
            if os.path.isdir(path):
                trash = tempfile.mkdtemp(prefix="trash-", dir=self.layout.tmp)
                os.rename(path, os.path.join(trash, "x"))
                shutil.rmtree(trash, ignore_errors=True)


def _verified(chunks: Iterator[bytes], diff_id: str) -> Iterator[bytes]:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
        yield chunk
    if h.hexdigest() != diff_id:
        raise EngineError(f"layer sha256:{diff_id} changed on disk: its tar came out as "
                          f"sha256:{h.hexdigest()}")


def _file_chunks(f: BinaryIO) -> Iterator[bytes]:
    with f:
        while chunk := f.read(1 << 20):
            yield chunk


def _rename_dir(src: str, dst: str) -> bool:
    """Rename `src` to `dst`; False (src left) if `dst` appeared meanwhile."""
    try:
        os.rename(src, dst)
        return True
    except OSError:
        if os.path.isdir(dst):
            return False
        raise


def _update_json(path: str, **values: Any) -> None:
    with open(path) as f:
        doc = json.load(f)
    doc.update(values)
    with open(path, "w") as f:
        json.dump(doc, f)


def _dir_size(path: str) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for n in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_size
            except OSError:
                pass
    return total
