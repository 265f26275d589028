"""Tar headers read with bounded memory: Go archive/tar's limits on Python's tarfile.

Python's tarfile reads a GNU long name or link, a pax extended header and a sparse map
whole into memory, however large the header claims it is: a few hundred bytes of bzip2
can claim a 512 MiB name. `Member` (pass it as `tarfile.open(..., tarinfo=Member)`)
refuses, before reading anything, with InvalidArgument:
- a GNU long name or long link, or a pax extended or global header, over 1 MiB (Go's
  maxSpecialFileSize; every pax record, and so every xattr, is within its header);
- the pax global headers of an archive together over 1 MiB (tarfile keeps them all);
- more than MAX_CHAIN such headers in front of one member (tarfile recurses, holding each);
- a sparse map (old GNU extension blocks, GNU pax 1.0 map) over 1 MiB, or a corrupt one.
Messages never echo header contents.
"""

from __future__ import annotations

import tarfile

from ..errors import InvalidArgument

MAX_SPECIAL = 1 << 20
MAX_GLOBAL = 1 << 20
MAX_SPARSE_MAP = 1 << 20
MAX_CHAIN = 16
KINDS = {tarfile.GNUTYPE_LONGNAME: "GNU long name", tarfile.GNUTYPE_LONGLINK: "GNU long link",
         tarfile.XHDTYPE: "pax extended header", tarfile.SOLARIS_XHDTYPE: "pax extended header",
         tarfile.XGLTYPE: "pax global header"}


class _Budget:
    """tarfile's stream, with at most `left` more bytes to read through it."""

    def __init__(self, f, left: int):
        self.f, self.left = f, left

    def read(self, n: int) -> bytes:
        if n > self.left:
            raise InvalidArgument(f"corrupt archive: sparse map over {MAX_SPARSE_MAP} bytes")
        self.left -= n
        return self.f.read(n)

    def tell(self) -> int:
        return self.f.tell()


class Member(tarfile.TarInfo):
    """A TarInfo whose special headers are checked against the limits above first."""

    def _proc_member(self, tf):  # noqa: ANN001 (tarfile calls these)
        kind = KINDS.get(self.type)
        if kind is None:
            return super()._proc_member(tf)
        if self.size > MAX_SPECIAL:
            raise InvalidArgument(f"corrupt archive: {kind} of {self.size} bytes "
                                  f"(at most {MAX_SPECIAL})")
        if self.type == tarfile.XGLTYPE:
            tf.dw_global = getattr(tf, "dw_global", 0) + self.size
            if tf.dw_global > MAX_GLOBAL:
                raise InvalidArgument(f"corrupt archive: pax global headers over {MAX_GLOBAL} bytes")
        depth = getattr(tf, "dw_chain", 0)
        if depth >= MAX_CHAIN:
            raise InvalidArgument(f"corrupt archive: more than {MAX_CHAIN} extended headers "
                                  "in front of one member")
        tf.dw_chain = depth + 1
        try:
            return super()._proc_member(tf)
        finally:
            tf.dw_chain = depth

    def _proc_sparse(self, tf):  # noqa: ANN001
        return self._budgeted(tf, super()._proc_sparse, tf)

    def _proc_gnusparse_10(self, next, pax_headers, tf):  # noqa: ANN001, A002
        return self._budgeted(tf, super()._proc_gnusparse_10, next, pax_headers, tf)

    @staticmethod
    def _budgeted(tf, method, *args):  # noqa: ANN001
        """`method(*args)` reading at most MAX_SPARSE_MAP bytes; a corrupt map refused."""
        f = tf.fileobj
        tf.fileobj = _Budget(f, MAX_SPARSE_MAP)
        try:
            return method(*args)
        except (ValueError, IndexError):
            raise InvalidArgument("corrupt archive: invalid sparse map") from None
        finally:
            tf.fileobj = f
