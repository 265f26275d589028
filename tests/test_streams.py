"""Websocket streams on the live stack: attach, events, logs, stats, and socket auth."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time

import pytest
import requests
import websockets

from tests.waiting import until
from tests.wsclient import collect, connect, controls, output, read_until, run, url


def _exec_output(api, cid: str, cmd: list[str]) -> bytes:
    eid = api.api("POST", f"/api/containers/{cid}/exec/", json={"cmd": cmd}).json()["id"]
    return api.api("POST", f"/api/exec/{eid}/start/", json={}).content


def _session(api) -> requests.Session:
    """A browser-like session: logged in through the login form."""
    s = requests.Session()
    s.get(api.base + "/login/")
    r = s.post(api.base + "/login/", data={"username": "admin", "password": "test-password",
                                          "csrfmiddlewaretoken": s.cookies["csrftoken"]},
               headers={"Referer": api.base + "/login/"})
    assert r.status_code == 200 and "sessionid" in s.cookies, r.text[:300]
    return s


# ---- authentication ------------------------------------------------------------------------
def test_sockets_require_authentication(api):
    async def close_code(path, **kw):
        async with websockets.connect(url(api, path), **kw) as ws:
            with pytest.raises(websockets.ConnectionClosed) as exc:
                await ws.recv()
            return exc.value.rcvd.code

    async def accepted(path, **kw):
        async with websockets.connect(url(api, path), **kw) as ws:
            try:  # the server closes an unauthenticated socket right after accepting it, before
                await asyncio.wait_for(await ws.ping(), 10)  # it could answer this ping
            except websockets.ConnectionClosed:
                return False
            return ws.close_code is None

    c = api.create(cmd=["true"])
    paths = ["/ws/events/", f"/ws/containers/{c['id']}/attach/", f"/ws/containers/{c['id']}/logs/",
             f"/ws/containers/{c['id']}/stats/", "/ws/exec/" + "0" * 64 + "/"]

    async def main():
        for path in paths:
            assert await close_code(path) == 4401, path
            assert await close_code(path + "?token=wrong") == 4401, path
        assert await accepted(f"/ws/events/?token={api.token}")
        assert await accepted("/ws/events/", additional_headers={"Authorization": f"Token {api.token}"})
        cookie = "; ".join(f"{k}={v}" for k, v in _session(api).cookies.items())
        same = {"Cookie": cookie, "Origin": api.base}
        assert await accepted("/ws/events/", additional_headers=same)
        other = {"Cookie": cookie, "Origin": "http://evil.example"}
        assert await close_code("/ws/events/", additional_headers=other) == 4401

    run(main())


def test_unknown_container_closes_4404(api):
    async def main():
        async with connect(api, "/ws/containers/nosuchcontainer/attach/") as ws:
            msgs, code = await collect(ws)
        assert code == 4404 and "No such container" in controls(msgs)[0]["message"]

    run(main())


# ---- attach ----------------------------------------------------------------------------------
def test_attach_before_start_loses_nothing_and_ends_with_exit(api):
    c = api.create(cmd=["sh", "-c", "echo first; echo err >&2; printf '\\377\\000bin'; exit 3"])

    async def main():
        async with connect(api, f"/ws/containers/{c['id']}/attach/") as ws:
            await asyncio.wait_for(await ws.ping(), 10)  # accepted: its consumer waits for a start
            await asyncio.to_thread(api.api, "POST", f"/api/containers/{c['id']}/start/")
            msgs, code = await collect(ws)
        assert code == 1000
        frames = [m for m in msgs if isinstance(m, bytes)]
        assert {m[0] for m in frames} == {1, 2}
        assert output([m for m in frames if m[0] == 1]) == b"first\n\xff\x00bin"
        assert output([m for m in frames if m[0] == 2]) == b"err\n"
        exits = controls(msgs)
        assert exits[-1]["type"] == "exit" and exits[-1]["exit_code"] == 3
        assert isinstance(msgs[-1], str)  # the exit frame is the last one

    run(main())


def test_attach_fast_exit_before_connect_is_replayed(api):
    """A run that starts and ends between two looks of a waiting socket is sent from the log."""
    c = api.create(cmd=["sh", "-c", "echo quick"])

    async def main():
        async with connect(api, f"/ws/containers/{c['id']}/attach/") as ws:
            await asyncio.to_thread(api.api, "POST", f"/api/containers/{c['id']}/start/")
            msgs, code = await collect(ws)
        assert output(msgs) == b"quick\n" and controls(msgs)[-1]["exit_code"] == 0 and code == 1000

    for _ in range(3):  # whichever way the race goes, the output arrives once
        run(main())
        api.wait(c["id"])


def test_several_clients_scrollback_and_detach_keeps_running(api):
    c = api.run(cmd=["sh", "-c", "echo ready; while read l; do echo \"got $l\"; done; echo bye"],
                open_stdin=True)
    path = f"/ws/containers/{c['id']}/attach/"

    async def main():
        async with connect(api, path) as a, connect(api, path) as b:
            assert b"ready\n" in await read_until(a, b"ready", tty=False)  # scrollback first
            assert b"ready\n" in await read_until(b, b"ready", tty=False)
            await a.send(b"one\n")
            assert b"got one" in await read_until(a, b"got one", tty=False)
            assert b"got one" in await read_until(b, b"got one", tty=False)
        assert api.inspect(c["id"])["state"]["status"] == "running"  # both left: still running
        async with connect(api, path) as late:
            seen = await read_until(late, b"got one", tty=False)  # a newcomer gets the scrollback
            assert seen.startswith(b"ready\ngot one")
            await late.send(json.dumps({"type": "close_stdin"}))
            msgs, code = await collect(late)
        assert b"bye\n" in output(msgs) and controls(msgs)[-1]["exit_code"] == 0 and code == 1000

    run(main())


def test_binary_stdin_and_output_are_byte_exact(api):
    c = api.run(cmd=["cat"], open_stdin=True)
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value

    async def main():
        async with connect(api, f"/ws/containers/{c['id']}/attach/") as ws:
            await ws.send(data)  # one message of 1 MiB
            await ws.send(json.dumps({"type": "close_stdin"}))
            msgs, _ = await collect(ws)
        return msgs

    msgs = run(main())
    assert output(msgs) == data
    assert controls(msgs)[-1]["exit_code"] == 0
    assert api.logs(c["id"]) == data  # the log file keeps the same bytes


def test_closing_a_tty_session_leaves_the_shell_its_stdin(api):
    """`docker run -it`'s container (tty, StdinOnce): a browser tab that typed into the
    shell and then closed leaves the shell running with its stdin, as dockerd (it closes
    stdin at an attach's end only for StdinOnce without a tty). Before, the supervisor saw
    the writing client leave and sent the shell ^D."""
    c = api.run(cmd=["sh"], tty=True, open_stdin=True, stdin_once=True)

    async def session(word: str):
        async with connect(api, f"/ws/containers/{c['id']}/attach/") as ws:
            await ws.send(f"echo {word}-$((40+2))\r".encode())
            await read_until(ws, f"{word}-42".encode())

    run(session("typed"))
    time.sleep(0.5)  # a ^D would have ended the shell by now
    assert api.inspect(c["id"])["state"]["status"] == "running"
    run(session("again"))  # the same shell still reads its terminal
    assert api.api("DELETE", f"/api/containers/{c['id']}/?force=1").status_code == 204


def test_tty_resize_and_a_1mb_paste(api):
    c = api.run(cmd=["sh"], tty=True, open_stdin=True)
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#%&()*+,-./:;<=>?@[]^_{|}~ 9\n"
    paste = line * (1048576 // len(line) + 1)

    async def main():
        async with connect(api, f"/ws/containers/{c['id']}/attach/") as ws:
            await ws.send(json.dumps({"type": "resize", "rows": 33, "cols": 101}))
            await ws.send(b"stty size\r")
            assert b"33 101" in await read_until(ws, b"33 101")
            await ws.send(json.dumps({"type": "resize", "rows": 40, "cols": 132}))
            await ws.send(b"stty size\r")
            assert b"40 132" in await read_until(ws, b"40 132")
            await ws.send(b"stty -echo; echo ready-$((1+1)); cat > /tmp/f; echo pasted-$((1+1))\r")
            await read_until(ws, b"ready-2")  # echo is off before the paste
            await ws.send(paste)
            await ws.send(b"\x04")  # ^D ends cat
            await read_until(ws, b"pasted-2", timeout=60)

    run(main())
    out = _exec_output(api, c["id"], ["sh", "-c", "wc -c < /tmp/f; sha256sum /tmp/f"]).decode()
    assert out.split()[0] == str(len(paste))
    assert out.split()[1] == hashlib.sha256(paste).hexdigest()


# ---- events ----------------------------------------------------------------------------------
def test_events_stream_is_live_and_resumable(api):
    last = (api.api("GET", "/api/events/?since=0&limit=10000").json() or [{"seq": 0}])[-1]["seq"]

    async def main():
        async with connect(api, f"/ws/events/?since={last}") as ws:
            c = await asyncio.to_thread(api.run, cmd=["true"])
            seen = []
            while not any(e["action"] == "die" for e in seen):
                ev = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if ev["actor_id"] == c["id"]:
                    seen.append(ev)
        assert [e["action"] for e in seen] == ["create", "start", "die"]
        seqs = [e["seq"] for e in seen]
        assert seqs == sorted(seqs) and seqs[0] > last
        async with connect(api, f"/ws/events/?since={seqs[0]}&container={c['id']}") as ws:
            again = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
        assert [e["action"] for e in again] == ["start", "die"]

    run(main())


def test_events_push_is_prompt(api):
    async def main():
        last = (api.api("GET", "/api/events/?since=0&limit=10000").json() or [{"seq": 0}])[-1]["seq"]
        async with connect(api, f"/ws/events/?since={last}") as ws:
            first = await asyncio.to_thread(api.create, cmd=["true"])
            while json.loads(await asyncio.wait_for(ws.recv(), 10))["actor_id"] != first["id"]:
                pass  # once this arrived, the consumer waits for new events (subscribed)
            t0 = time.monotonic()
            c = await asyncio.to_thread(api.create, cmd=["true"])
            ev = json.loads(await asyncio.wait_for(ws.recv(), 10))
            took = time.monotonic() - t0
        assert ev["action"] == "create" and ev["actor_id"] == c["id"]
        assert took < 1.0  # a hint through the channel layer, not the 2 s safety poll

    run(main())


# ---- logs ------------------------------------------------------------------------------------
def test_logs_socket_tail_and_follow(api):
    c = api.run(cmd=["sh", "-c", "echo a; echo b >&2; sleep 0.5; echo c; sleep 0.5; echo d"])
    until(lambda: api.logs(c["id"]).count(b"\n") >= 2)  # a and b written: the tail is b

    async def main():
        async with connect(api, f"/ws/containers/{c['id']}/logs/?follow=1&tail=1") as ws:
            msgs, code = await collect(ws)
        return msgs, code

    msgs, code = run(main())
    docs = controls(msgs)
    records = [r for d in docs if d["type"] == "logs" for r in d["records"]]
    assert docs[-1] == {"type": "end"} and code == 1000
    assert [r["log"] for r in records] == ["b\n", "c\n", "d\n"]
    assert records[0]["stream"] == "stderr" and records[0]["time"].endswith("Z")

    async def again():
        async with connect(api, f"/ws/containers/{c['id']}/logs/?stderr=0") as ws:
            return await collect(ws)

    msgs, _ = run(again())
    assert [r["log"] for d in controls(msgs) if d["type"] == "logs" for r in d["records"]] == [
        "a\n", "c\n", "d\n"]


def test_logs_socket_sends_100k_lines_in_batches(api):
    c = api.run(cmd=["seq", "1", "100000"])
    api.wait(c["id"])

    async def main():
        async with connect(api, f"/ws/containers/{c['id']}/logs/") as ws:
            return await collect(ws)

    t0 = time.monotonic()
    msgs, code = run(main())
    docs = [d for d in controls(msgs) if d["type"] == "logs"]
    lines = [r["log"] for d in docs for r in d["records"]]
    assert len(lines) == 100000 and lines[-1] == "100000\n" and code == 1000
    assert len(docs) <= 40 and time.monotonic() - t0 < 15


def test_a_logs_socket_whose_read_fails_says_so_and_closes(api):
    """A read that fails on the host (here the log file replaced by a directory) ends the
    socket with an error frame and 1011, instead of leaving it open with nothing sent (the
    dashboard's logs tab then said "live" with no lines, forever)."""
    c = api.run(cmd=["true"])
    api.wait(c["id"])
    log = f"{api.root}/containers/{c['id']}/container.log"
    os.rename(log, log + ".kept")
    os.mkdir(log)
    try:
        async def main():
            async with connect(api, f"/ws/containers/{c['id']}/logs/?follow=1") as ws:
                return await collect(ws, timeout=15)

        msgs, code = run(main())
    finally:
        os.rmdir(log)
        os.rename(log + ".kept", log)
    assert code == 1011, (msgs, code)
    errors = [d["message"] for d in controls(msgs) if d["type"] == "error"]
    assert errors == ["the stream failed: Is a directory"], msgs


# ---- stats -----------------------------------------------------------------------------------
def test_stats_rest_and_live(api):
    c = api.run(cmd=["sh", "-c", "x=$(head -c 5000000 /dev/zero | tr '\\0' a); while true; do :; done"],
                memory=64 * 1024 * 1024)
    r = api.api("GET", f"/api/containers/{c['id']}/stats/")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["memory"]["limit"] == 64 * 1024 * 1024 and doc["memory"]["limited"] is True
    assert doc["pids"]["current"] >= 1 and doc["cpu"]["usage_ns"] > 0
    assert doc["cpu"]["percent"] is not None

    async def main():
        async with connect(api, f"/ws/containers/{c['id']}/stats/") as ws:
            t0 = time.monotonic()
            samples = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
            return samples, time.monotonic() - t0

    samples, took = run(main())
    assert [s["type"] for s in samples] == ["stats"] * 3 and 1.5 < took < 4
    assert samples[2]["cpu"]["percent"] > 20  # a busy loop
    assert samples[2]["memory"]["max_usage"] >= 5_000_000
    created = api.create(cmd=["true"])
    assert api.api("GET", f"/api/containers/{created['id']}/stats/").status_code == 409


def test_stats_socket_reports_stop(api):
    c = api.run(cmd=["sleep", "1000"])

    async def main():
        async with connect(api, f"/ws/containers/{c['id']}/stats/") as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await asyncio.to_thread(api.api, "POST", f"/api/containers/{c['id']}/kill/")
            while (doc := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "stopped":
                pass
            return first, doc

    first, stopped = run(main())
    assert first["type"] == "stats" and stopped == {"type": "stopped"}



def test_attach_marks_where_the_scrollback_ends(api):
    """{"type": "live"} comes once, after the scrollback and before any live output (issue 15:
    a terminal must not answer the queries in replayed history)."""
    c = api.run(cmd=["sh", "-c", "echo history; read x; echo live-$x; sleep 1000"], open_stdin=True)
    until(lambda: b"history" in api.logs(c["id"]))

    async def main():
        async with connect(api, f"/ws/containers/{c['id']}/attach/") as ws:
            before = b""
            while not isinstance(msg := await asyncio.wait_for(ws.recv(), 20), str):
                before += msg[1:]
            assert json.loads(msg) == {"type": "live"} and before == b"history\n"
            await ws.send(b"go\n")
            assert b"live-go" in await read_until(ws, b"live-go", tty=False)

    run(main())
