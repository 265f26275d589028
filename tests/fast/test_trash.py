"""engine/fs/trash.py: a removed directory is gone at once; its files, and what an earlier
process left in the trash, are deleted in the background."""

from __future__ import annotations

import os

from containers.engine.fs import trash
from tests.waiting import until


def test_discard_is_immediate_and_the_trash_empties(tmp_path):
    tmp = tmp_path / "tmp"
    left = tmp / f"{trash.PREFIX}crashed-0000"  # a deletion an earlier process did not finish
    (left / "a").mkdir(parents=True)
    (tmp / "layer-keep").mkdir()  # anything else in tmp/ is not trash
    d = tmp_path / "containers" / "c1"
    (d / "upper" / "etc").mkdir(parents=True)
    for i in range(200):
        (d / "upper" / "etc" / f"f{i}").write_text("x")
    trash.discard(str(d), str(tmp))
    assert not d.exists()
    until(lambda: not trash.pending() and not [n for n in os.listdir(tmp)
                                                 if n.startswith(trash.PREFIX)], timeout=10)
    assert os.listdir(tmp) == ["layer-keep"]


def test_discard_of_nothing_is_a_no_op(tmp_path):
    trash.discard(str(tmp_path / "absent"), str(tmp_path / "tmp"))
    assert not (tmp_path / "absent").exists()
