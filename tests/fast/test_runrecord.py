"""The start reply's record (containers/runrecord.py): what the worker sends survives the
channel layer's msgpack, and the web trusts it only where it is whole."""

from __future__ import annotations

from datetime import UTC, datetime

import msgpack

from containers import runrecord
from containers.models import Container


def _record(**fields) -> Container:
    base = {"id": "c" * 64, "name": "n", "image_id": "a" * 64, "image_ref": "busybox",
            "spec": {"network_mode": "none"}, "hostname": "h", "host": "here", "state": "created"}
    return Container(**{**base, **fields})


def _through_the_layer(value):
    return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False)


def test_a_first_start_is_the_record_before_with_the_workers_fields():
    before = _record()
    ran = _record(state="running", started_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
                  supervisor_pid=10, supervisor_start=20, init_pid=11)
    c = runrecord.after_start(before, _through_the_layer(runrecord.reply(ran)))
    assert c is not None and c is not before and before.state == "created"
    assert (c.state, c.started_at, c.supervisor_pid, c.init_pid) == ("running", ran.started_at, 10, 11)
    assert (c.name, c.spec, c.image_id) == (before.name, before.spec, before.image_id)


def test_the_start_of_an_exited_container_is_read_again():
    """The worker's record still shows the exit its claim cleared: not trusted."""
    before = _record(state="exited", exit_code=3, finished_at=datetime(2026, 1, 1, tzinfo=UTC))
    ran = _record(state="running", exit_code=3, finished_at=before.finished_at)
    assert runrecord.after_start(before, _through_the_layer(runrecord.reply(ran))) is None


def test_a_record_read_after_the_start_is_whole():
    """A container that exited before its start was recorded: the worker read it again."""
    before = _record(state="exited", exit_code=3)
    read = _record(state="exited", exit_code=0, finished_at=datetime(2026, 1, 3, tzinfo=UTC))
    c = runrecord.after_start(before, _through_the_layer(runrecord.reply(read)))
    assert c is not None and (c.state, c.exit_code, c.finished_at) == ("exited", 0, read.finished_at)


def test_other_replies_are_not_trusted():
    before = _record()
    assert runrecord.after_start(before, None) is None
    assert runrecord.after_start(before, {"id": before.id, "state": "running"}) is None  # an older worker
    other = runrecord.reply(_record(id="d" * 64, state="running"))
    assert runrecord.after_start(before, other) is None
