"""containers/link.py without a supervisor: input kept before one is reachable, and the
wait for its socket ending on an exit, on `until`, or when a socket appears."""

from __future__ import annotations

import asyncio
import json
import os
import socket

from containers import link


class FakeLink:
    def __init__(self):
        self.sent: list[tuple] = []

    def resize(self, rows, cols):
        self.sent.append(("resize", rows, cols))

    async def write_stdin(self, data):
        self.sent.append(("stdin", data))
        await asyncio.sleep(0)

    def close_stdin(self):
        self.sent.append(("close",))


def test_pending_input_is_delivered_in_order_and_bounded():
    pending = link.PendingInput(limit=8)
    assert pending.add(b"abc") and pending.add(b"defgh")
    assert not pending.add(b"i")  # past the limit: nothing kept
    pending.size = (24, 80)
    pending.close_stdin = True
    fake = FakeLink()
    asyncio.run(pending.deliver(fake))
    assert fake.sent == [("resize", 24, 80), ("stdin", b"abcdefgh"), ("close",)]
    assert not pending.stdin and pending.size is None and not pending.close_stdin


def _target(tmp_path) -> link.Target:
    return link.Target(socket=str(tmp_path / "attach.sock"), state=str(tmp_path / "state.json"),
                       exit=str(tmp_path / "exit.json"), log=str(tmp_path / "container.log"))


def _write_exit(target: link.Target, finished_at: str) -> None:
    with open(target.exit, "w") as f:
        json.dump({"exit_code": 0, "finished_at": finished_at}, f)


def test_wait_link_counts_a_run_that_ended_after_before(tmp_path):
    target = _target(tmp_path)
    _write_exit(target, "old")
    before = link.finished_at(target)

    async def run():
        waiting = asyncio.create_task(link.wait_link(target, stdin=False, before=before))
        await asyncio.sleep(0.02)
        assert not waiting.done()  # the old run does not count
        _write_exit(target, "new")
        return await asyncio.wait_for(waiting, 5)

    assert asyncio.run(run())["finished_at"] == "new"
    # the default `before` is read at the call: the run that ended already does not count
    looks = iter(range(5))
    assert asyncio.run(link.wait_link(target, stdin=False, until=lambda: next(looks) == 4)) is None


def test_wait_link_ends_on_until_and_connects_when_the_socket_appears(tmp_path):
    target = _target(tmp_path)
    gone = {"now": False}

    async def until_gone():
        waiting = asyncio.create_task(link.wait_link(target, stdin=True, until=lambda: gone["now"]))
        await asyncio.sleep(0.02)
        gone["now"] = True
        return await asyncio.wait_for(waiting, 5)

    assert asyncio.run(until_gone()) is None

    async def connects():
        waiting = asyncio.create_task(link.wait_link(target, stdin=True, scrollback=False))
        await asyncio.sleep(0.02)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(target.socket)
        server.listen(1)
        try:
            got = await asyncio.wait_for(waiting, 5)
            assert isinstance(got, link.SupervisorLink)
            conn, _ = server.accept()
            conn.settimeout(5)
            head = conn.recv(5)
            kind, length = link.FRAME.unpack(head)
            hello = json.loads(conn.recv(length))
            assert kind == link.HELLO and hello == {"stdin": True, "scrollback": False}
            got.close()
            conn.close()
        finally:
            server.close()
            os.unlink(target.socket)

    asyncio.run(connects())
