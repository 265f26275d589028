"""streams/notify.announce_event: a burst of events queues one /ws/events/ hint, and an event
committed once that hint has begun to be sent gets a hint of its own (a consumer reads
every event after its cursor from the database, so one wake-up per burst loses nothing)."""

from __future__ import annotations

import asyncio

import pytest

from containers.streams import notify


class _Layer:
    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    async def group_send(self, group, message):
        self.sent.append((group, message))


@pytest.fixture
def layer(monkeypatch):
    lay = _Layer()
    queued: list = []
    monkeypatch.setattr(notify, "get_channel_layer", lambda: lay)
    monkeypatch.setattr(notify, "post", lambda send, *a: queued.append((send, a)))
    monkeypatch.setattr(notify, "_queued_at", None)
    lay.queued = queued
    return lay


def _run_queued(lay) -> None:
    while lay.queued:
        send, args = lay.queued.pop(0)
        asyncio.run(send(*args))


def test_a_burst_of_events_queues_one_hint(layer):
    for seq in (1, 2, 3):
        notify.announce_event(seq)
    assert len(layer.queued) == 1
    _run_queued(layer)
    assert layer.sent == [(notify.EVENTS_GROUP, {"type": "events.new", "seq": 1})]


def test_an_event_after_the_send_began_gets_its_own_hint(layer):
    notify.announce_event(1)
    _run_queued(layer)
    notify.announce_event(2)
    assert len(layer.queued) == 1
    _run_queued(layer)
    assert [m["seq"] for _, m in layer.sent] == [1, 2]


def test_a_queued_hint_that_never_began_is_not_counted_on(layer, monkeypatch):
    notify.announce_event(1)
    layer.queued.clear()  # lost: the loop never ran it
    monkeypatch.setattr(notify, "_queued_at", notify.time.monotonic() - notify.COALESCE_S - 0.1)
    notify.announce_event(2)
    assert len(layer.queued) == 1
