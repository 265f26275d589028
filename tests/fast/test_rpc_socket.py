"""The worker's Unix socket without LXC: the framing (containers/rpcwire.py), the one
call -> reply function both transports use (containers/worker.answer), and the client
(containers/rpc.py) against the real server (containers/rpcserver.py) in an event loop of
its own, with made-up operations and the heartbeat stood in for."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from django.conf import settings

from containers import heartbeat, rpc, rpcserver, rpcwire, worker
from containers.engine.errors import EngineError, NotFound, Unavailable

SECRET = "s" * 1000


def _boom(_a):
    raise KeyError(SECRET)


def _missing(_a):
    raise NotFound("No such container: x")


def _slow(a):
    time.sleep(a["s"])
    return "late"


FAKE_OPS = {"echo": lambda a: a["x"], "boom": _boom, "missing": _missing, "slow": _slow}


# ---- framing ------------------------------------------------------------------------------

def test_frames_round_trip_and_bad_frames_are_refused():
    frame = rpcwire.request("start", {"ref": "c" * 64, "n": [1, 2]}, 12.5)
    n = rpcwire.length(frame[:rpcwire.HEADER.size])
    assert n == len(frame) - rpcwire.HEADER.size
    assert rpcwire.decode(frame[rpcwire.HEADER.size:]) == {
        "op": "start", "args": {"ref": "c" * 64, "n": [1, 2]}, "deadline": 12.5}
    assert rpcwire.decode(rpcwire.request("x", {}, 1.0, cast=True)[4:])["cast"] is True
    with pytest.raises(rpcwire.FrameError):
        rpcwire.length(rpcwire.HEADER.pack(rpcwire.MAX_FRAME + 1))
    with pytest.raises(rpcwire.FrameError):
        rpcwire.decode(rpcwire.encode({"a": 1})[4:-1])  # cut short
    with pytest.raises(rpcwire.FrameError):
        rpcwire.decode(b"\x93\x01\x02\x03")  # a list, not a map


def test_frames_are_read_from_a_blocking_socket_until_its_end():
    a, b = socket.socketpair()
    with a, b:
        frame = rpcwire.request("ping", {"x": "y" * 70000}, 1.0)  # more than one recv
        a.sendall(frame + frame[:10])  # a whole frame, then one cut short by the close
        a.shutdown(socket.SHUT_WR)
        assert rpcwire.recv_frame(b)["args"] == {"x": "y" * 70000}
        assert rpcwire.recv_frame(b) is None
    a, b = socket.socketpair()
    with a, b:
        a.sendall(rpcwire.HEADER.pack(4) + b"\x93\x01\x02\x03")  # a list, not a map
        with pytest.raises(rpcwire.FrameError):
            rpcwire.recv_frame(b)


# ---- answer: the same for the socket and the channel layer --------------------------------

def _answer(message):
    return asyncio.run(worker.answer(message))


def test_answer_results_typed_errors_and_no_echo(monkeypatch):
    monkeypatch.setattr(worker, "OPS", FAKE_OPS)
    later = time.time() + 30
    assert _answer({"op": "echo", "args": {"x": [1, "a"]}, "deadline": later}) == {
        "ok": True, "result": [1, "a"]}
    assert _answer({"op": "missing", "args": {}, "deadline": later}) == {
        "ok": False, "error": {"kind": "not_found", "message": "No such container: x"}}
    boom = _answer({"op": "boom", "args": {}, "deadline": later})
    assert boom["error"]["kind"] == "engine_error" and len(boom["error"]["message"]) < 250
    assert _answer({"op": "nope", "args": {}, "deadline": later})["error"]["kind"] == "engine_error"
    assert _answer({"op": "echo", "args": {"x": 1}, "deadline": time.time() - 1}) is None  # dropped
    assert _answer({"op": "echo", "args": {"x": 1}}) is None  # no deadline: dropped
    assert _answer({"op": "watch_exec", "args": {"cid": "c", "eid": "e", "pid": 1, "started": 1},
                    "deadline": later}) == {"ok": True, "result": None}  # a loop op


# ---- client against the server ------------------------------------------------------------

@pytest.fixture
def served(transactional_db, tmp_path, monkeypatch):
    """The socket server on tmp_path in a loop thread, with FAKE_OPS and a live heartbeat;
    yields a dict whose "problem" the heartbeat reports (None: alive)."""
    monkeypatch.setattr(worker, "OPS", FAKE_OPS)
    monkeypatch.setattr(settings, "RUN_DIR", str(tmp_path), raising=False)
    state: dict = {"problem": None}
    monkeypatch.setattr(heartbeat, "problem", lambda: state["problem"])
    monkeypatch.setattr(rpc, "_thread", threading.local())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listener = rpcserver.Listener()
    asyncio.run_coroutine_threadsafe(listener.start(), loop).result(5)
    state["listener"], state["loop"] = listener, loop
    yield state

    async def stop() -> None:
        listener.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_calls_reuse_one_connection_and_map_errors(served):
    import os
    import stat

    assert stat.S_IMODE(os.stat(rpcserver.path()).st_mode) == 0o600
    assert rpc.call("echo", x=5) == 5
    conn = rpc._thread.conn
    assert rpc.call("echo", x={"k": "v"}) == {"k": "v"} and rpc._thread.conn is conn  # kept
    with pytest.raises(NotFound):
        rpc.call("missing")
    with pytest.raises(EngineError) as e:
        rpc.call("boom")
    assert e.value.kind == "engine_error" and SECRET not in e.value.message
    rpc.cast("watch_exec", cid="c", eid="e", pid=0, started=0)  # no reply on the stream
    assert rpc.call("echo", x=6) == 6 and rpc._thread.conn is conn


def test_a_kept_connection_is_answered_while_the_event_loop_is_busy(served):
    """A connection's calls run on its own thread: none waits for the worker's event loop
    (which only accepts connections), nor crosses it."""
    assert rpc.call("echo", x=1) == 1  # the connection is accepted and kept
    busy = threading.Event()

    def hog() -> None:
        busy.set()
        time.sleep(1.0)

    served["loop"].call_soon_threadsafe(hog)
    assert busy.wait(5)
    t = time.monotonic()
    assert rpc.call("echo", x=2) == 2
    assert time.monotonic() - t < 0.5


def test_concurrent_threads_each_get_their_answer(served):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: rpc.call("echo", x=i), range(200)))
    assert got == list(range(200))


def test_a_broken_kept_connection_is_replaced_once(served):
    assert rpc.call("echo", x=1) == 1
    rpc._thread.conn.shutdown(socket.SHUT_WR)  # the send fails: nothing was sent
    assert rpc.call("echo", x=2) == 2


def test_timeout_then_the_next_call_works(served):
    t = time.monotonic()
    with pytest.raises(Unavailable, match="did not answer 'slow' within"):
        rpc.call("slow", s=1.5, rpc_timeout=0.3)
    assert time.monotonic() - t < 1.0
    assert rpc.call("echo", x=3) == 3  # the late reply is not taken for this one


def test_worker_gone_while_waiting_is_unavailable_at_the_next_watch(served):
    threading.Timer(0.2, lambda: served.update(problem="the worker (pid 1) is not running")).start()
    t = time.monotonic()
    with pytest.raises(Unavailable, match="is not running"):
        rpc.call("slow", s=3)
    assert time.monotonic() - t < 0.2 + rpc.WATCH_S + 0.3


def test_no_socket_and_no_worker_is_unavailable_after_the_grace(served, monkeypatch):
    monkeypatch.setattr(rpc, "RESTART_GRACE_S", 0.3)
    served["loop"].call_soon_threadsafe(served["listener"].close)
    time.sleep(0.1)
    served["problem"] = "no worker is running (no heartbeat)"
    t = time.monotonic()
    with pytest.raises(Unavailable, match="no worker is running"):
        rpc.call("echo", x=1)
    assert 0.3 <= time.monotonic() - t < 1.0


def test_a_live_worker_without_its_socket_yet_is_waited_for(served):
    """A booting worker beats before it listens: the call waits for the socket."""
    served["loop"].call_soon_threadsafe(served["listener"].close)
    time.sleep(0.1)
    later = rpcserver.Listener()

    def listen() -> None:
        asyncio.run_coroutine_threadsafe(later.start(), served["loop"]).result(5)

    threading.Timer(0.3, listen).start()
    assert rpc.call("echo", x=9) == 9  # a new connection to the new socket
    served["loop"].call_soon_threadsafe(later.close)


def test_acall_over_the_socket(served):
    assert asyncio.run(rpc.acall("echo", {"x": 4})) == 4
    with pytest.raises(NotFound):
        asyncio.run(rpc.acall("missing", {}))


def test_a_result_that_cannot_be_sent_is_an_engine_error(served, monkeypatch):
    monkeypatch.setitem(worker.OPS, "odd", lambda a: object())
    with pytest.raises(EngineError, match="cannot be sent"):
        rpc.call("odd")
    assert rpc.call("echo", x=1) == 1
