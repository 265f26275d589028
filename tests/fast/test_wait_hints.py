"""wait is woken by the exit hint, never by polling (issue 13): a blocked waiter does not look
at the records until a hint comes, and each die/destroy commit sends one to its container's
waiters only."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from channels.layers import InMemoryChannelLayer, channel_layers

from containers import events, exithints, lifecycle
from containers.engine.state import State

CID = "c" * 64


@pytest.fixture
def memory_layer(monkeypatch):
    """An in-memory channel layer in place of Redis."""
    layer = InMemoryChannelLayer()
    monkeypatch.setitem(channel_layers.backends, "default", layer)
    return layer


def test_a_blocked_wait_looks_only_when_the_hint_comes(memory_layer, monkeypatch):
    looks: list[float] = []
    exited = threading.Event()

    def check(cid, condition, after_seq):  # stands in for the records (counts the looks)
        looks.append(time.monotonic())
        return lifecycle.WaitOutcome(3, None, None) if exited.is_set() else None

    monkeypatch.setattr(lifecycle, "wait_check", check)

    async def scenario() -> None:
        waiter = asyncio.ensure_future(lifecycle.wait_async(CID, "next-exit", 0))
        await asyncio.sleep(1.0)  # a negative: nothing may look meanwhile
        assert len(looks) == 1 and not waiter.done(), looks
        await exithints._send("d" * 64)  # another container's exit wakes nobody here
        await asyncio.sleep(0.2)
        assert len(looks) == 1, looks
        exited.set()
        sent = time.monotonic()
        await exithints._send(CID)  # what events.emit sends once a die commits
        outcome = await asyncio.wait_for(waiter, 5)
        assert outcome.exit_code == 3 and len(looks) == 2, looks
        assert looks[1] - sent < 1.0  # woken by the hint, not by the RECHECK_S net

    asyncio.run(scenario())
    assert exithints.RECHECK_S >= 2  # the net is no polling loop in disguise


def test_a_wait_after_the_exit_answers_at_its_first_look(memory_layer, monkeypatch):
    monkeypatch.setattr(lifecycle, "wait_check", lambda *a: lifecycle.WaitOutcome(0, None, None))
    t = time.monotonic()
    assert asyncio.run(lifecycle.wait_async(CID, "not-running", 0)).exit_code == 0
    assert time.monotonic() - t < 1.0


def test_wait_timeout_without_hint(memory_layer, monkeypatch):
    monkeypatch.setattr(lifecycle, "wait_check", lambda *a: None)
    t = time.monotonic()
    assert asyncio.run(lifecycle.wait_async(CID, "not-running", 0, timeout=0.3)) is None
    assert 0.3 <= time.monotonic() - t < 2.0


def test_die_and_destroy_commits_announce_to_the_container_only(
        fake, make, monkeypatch, django_capture_on_commit_callbacks):
    sent: list[str] = []
    monkeypatch.setattr(exithints, "announce", sent.append)
    c = make(State.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        events.emit("start", c)
        events.emit("die", c, exitCode="0")
        events.emit("destroy", actor_id=c.id, actor_name=c.name)
        events.emit("create", c)
    assert sent == [c.id, c.id]
