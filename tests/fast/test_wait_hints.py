"""wait is woken by the exit hint, never by polling (issue 13): a blocked waiter does not look
at the records until a hint comes, and each die/destroy commit sends one to its container's
waiters only. The hints reach a waiter through its process's hub (exithints.Hub), here one
without its Redis subscription: the tests deliver what the subscription would."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from containers import events, exithints, lifecycle
from containers.engine.state import State

CID = "c" * 64


@pytest.fixture
def hub(monkeypatch):
    """This process's hub, without the thread that holds its Redis subscription."""
    h = exithints.Hub()
    monkeypatch.setattr(exithints.Hub, "_instance", h)
    return h


def test_a_blocked_wait_looks_only_when_the_hint_comes(hub, monkeypatch):
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
        hub.deliver("d" * 64)  # another container's exit wakes nobody here
        await asyncio.sleep(0.2)
        assert len(looks) == 1, looks
        exited.set()
        sent = time.monotonic()
        hub.deliver(CID)  # what the subscription delivers once a die commits
        outcome = await asyncio.wait_for(waiter, 5)
        assert outcome.exit_code == 3 and len(looks) == 2, looks
        assert looks[1] - sent < 1.0  # woken by the hint, not by the RECHECK_S net
        assert hub.waiters == {}  # left when answered

    asyncio.run(scenario())
    assert exithints.RECHECK_S >= 2  # the net is no polling loop in disguise


def test_a_wait_after_the_exit_answers_at_its_first_look(hub, monkeypatch):
    monkeypatch.setattr(lifecycle, "wait_check", lambda *a: lifecycle.WaitOutcome(0, None, None))
    t = time.monotonic()
    assert asyncio.run(lifecycle.wait_async(CID, "not-running", 0)).exit_code == 0
    assert time.monotonic() - t < 1.0


def test_wait_timeout_without_hint(hub, monkeypatch):
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


def test_a_thread_blocked_on_the_hints_is_woken_by_its_container_only(hub):
    """The REST wait blocks in its request thread: no event loop, no Redis round trip."""
    got: list[bool] = []
    with exithints.Listener(CID) as hints:
        t = threading.Thread(target=lambda: got.append(hints.next(10)))
        t.start()
        hub.deliver("d" * 64)
        time.sleep(0.2)
        assert got == [] and t.is_alive()
        sent = time.monotonic()
        hub.deliver(CID)
        t.join(5)
        assert got == [True] and time.monotonic() - sent < 1.0
        assert not hints.next(0.05)  # a hint wakes once
    assert hub.waiters == {}


def test_a_new_subscription_wakes_every_waiter(hub):
    """Hints sent while the hub had no subscription (before its first, or while Redis was
    away) are lost: once subscribed again, every waiter looks."""
    with exithints.Listener(CID) as one, exithints.Listener("d" * 64) as other:
        hub._on_message({"type": "subscribe", "channel": b"x", "data": 1})
        assert hub.subscribed.is_set()
        assert one.next(0) and other.next(0)
        hub._on_message({"type": "message", "channel": b"x", "data": CID.encode()})
        assert one.next(0) and not other.next(0)


def test_the_hint_is_one_publish_on_the_layer_prefix(monkeypatch):
    sent: list[tuple[str, str]] = []

    class Layer:
        async def publish(self, name: str, data: str) -> None:
            sent.append((name, data))

    monkeypatch.setattr(exithints, "get_channel_layer", lambda: Layer())
    asyncio.run(exithints._send(CID))
    assert sent == [(exithints.channel(), CID)] and exithints.channel().endswith(":dockerweb.exit")
