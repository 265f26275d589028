"""The audit log: every state-changing call (REST, dashboard, Docker API on the unix socket
and over TCP, websocket exec/attach sessions) leaves one row with who, what, target, from
where, through which door and the answer's status; staff read it (REST and dashboard),
others get 403/404."""

from __future__ import annotations

import asyncio

import pytest
import requests
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import RequestFactory

from tests.users import close_code, docker_tcp, new_user, remove_users
from tests.wsclient import run


@pytest.fixture
def two_users(api):
    a, b = new_user(api), new_user(api)
    yield a, b
    remove_users(api, a, b)


def _rows(api, **filters) -> list[dict]:
    r = api.api("GET", "/api/audit/", params={**filters, "page_size": 500})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def _one(rows: list[dict], **want) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in want.items())]
    assert len(found) == 1, (want, rows)
    return found[0]


def test_calls_are_audited_with_user_address_and_result(api, dpy, two_users):
    a, b = two_users
    c = a.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["sleep", "300"],
                                                 "name": f"{a.name}-aud"}).json()
    cid = c["id"]
    assert a.api("POST", f"/api/containers/{cid}/start/").status_code == 200
    assert b.api("POST", f"/api/containers/{cid}/stop/?timeout=0").status_code == 404
    assert b.api("DELETE", f"/api/containers/{cid}/?force=1").status_code == 404
    assert b.api("GET", f"/api/containers/{cid}/logs/").status_code == 404  # a read: no row
    eid = a.api("POST", f"/api/containers/{cid}/exec/", json={"cmd": ["echo", "hi"]}).json()["id"]

    async def sockets():
        async with b.ws(f"/ws/exec/{eid}/") as ws:
            assert await close_code(ws) == 4404
        async with a.ws(f"/ws/exec/{eid}/") as ws:
            assert await close_code(ws) == 1000

    run(sockets())
    with docker_tcp(api) as base:
        r = requests.post(base + f"/v1.45/containers/{cid}/kill", timeout=30,
                          headers={"Authorization": f"Token {b.token}"})
        assert r.status_code == 404
    made = dpy.containers.create("busybox", ["true"], name=f"{a.name}-sys")  # unix socket: the system
    made.remove()

    rows = _rows(api, target=cid)
    assert all(r["target"] == cid for r in rows)
    start = _one(rows, action="POST api/containers/<str:ref>/start/")
    assert (start["username"], start["via"], start["status"], start["remote_addr"]) == (
        a.name, "rest", 200, "127.0.0.1")
    stop = _one(rows, action="POST api/containers/<str:ref>/stop/")
    assert (stop["username"], stop["via"], stop["status"], stop["remote_addr"]) == (
        b.name, "rest", 404, "127.0.0.1")
    _one(rows, action="DELETE api/containers/<str:ref>/", username=b.name, status=404)
    assert not [r for r in rows if "logs" in r["action"]]
    kill = _one(rows, via="docker")
    assert (kill["username"], kill["status"], kill["remote_addr"]) == (b.name, 404, "127.0.0.1")
    assert "kill" in kill["action"]
    created = _one(_rows(api, action="POST api/containers/", user=a.name), action="POST api/containers/")
    assert created["target"] == cid
    ws = _rows(api, target=eid, via="ws")
    assert {(r["username"], r["status"]) for r in ws} == {(b.name, 404), (a.name, 101)}
    assert _one(rows, action="POST api/containers/<str:ref>/exec/", username=a.name, status=201)
    system = [r for r in _rows(api, via="docker") if r["action"].startswith("POST") and r["status"] == 201
              and r["target"] == made.id]
    assert len(system) == 1 and system[0]["username"] == "" and system[0]["remote_addr"] == "unix"
    assert system[0]["action"] == "POST containers/create"  # the route as a person reads it
    api.api("DELETE", f"/api/containers/{cid}/?force=1")


def test_audit_is_for_staff_only(api, two_users):
    a, _ = two_users
    r = a.api("GET", "/api/audit/")
    assert r.status_code == 403
    assert requests.get(api.base + "/api/audit/", timeout=30).status_code in (401, 403)
    r = api.api("GET", "/api/audit/?page_size=2")
    body = r.json()
    assert r.status_code == 200 and body["count"] >= 1 and len(body["results"]) <= 2 and "next" in body
    assert api.api("GET", "/api/audit/?status=abc").status_code == 400
    # staff's dashboard page, linked in the nav; a user's is 404 and has no link
    s = requests.Session()
    s.get(api.base + "/login/")
    s.post(api.base + "/login/", data={"username": "admin", "password": "test-password",
                                      "csrfmiddlewaretoken": s.cookies["csrftoken"]},
           headers={"Referer": api.base + "/login/"})
    page = s.get(api.base + "/audit/?via=rest")
    assert page.status_code == 200 and 'id="audit"' in page.text and 'href="/audit/"' in page.text
    assert "POST api/" in page.text


def test_one_insert_per_call(db, django_assert_num_queries):
    from containers.audit import AuditMiddleware
    from containers.models import AuditEntry

    request = RequestFactory().post("/api/containers/x/stop/", REMOTE_ADDR="127.0.0.1")
    request.user = AnonymousUser()
    middleware = AuditMiddleware(lambda req: HttpResponse(status=404))
    with django_assert_num_queries(1):
        assert middleware(request).status_code == 404
    row = AuditEntry.objects.get()
    assert (row.action, row.remote_addr, row.via, row.status) == (
        "POST /api/containers/x/stop/", "127.0.0.1", "dashboard", 404)
    get = RequestFactory().get("/api/containers/")
    get.user = AnonymousUser()
    with django_assert_num_queries(0):
        middleware(get)



def test_the_row_written_by_its_own_insert_reads_back_as_a_model(db, django_assert_num_queries):
    """record's one INSERT (its SQL made once, not the ORM's create): every column as the
    model reads it, the time aware and now, the user kept with its name."""
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.utils import timezone

    from containers.audit import record
    from containers.models import AuditEntry

    alice = User.objects.create_user("alice", password="pw-alice-1")
    before = timezone.now()
    with django_assert_num_queries(1):
        record(user=alice, action="POST api/containers/", target="x" * 300, remote_addr="::1",
               via="rest", status=201)
    row = AuditEntry.objects.get()
    assert (row.user_id, row.username, row.action, row.target, row.remote_addr, row.via, row.status) == (
        alice.pk, "alice", "POST api/containers/", "x" * 255, "::1", "rest", 201)
    assert before <= row.time <= timezone.now() + timedelta(seconds=1) and row.time.tzinfo is not None

def test_ws_attach_with_stdin_is_audited(api, two_users):
    a, b = two_users
    c = a.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["cat"], "open_stdin": True,
                                                 "name": f"{a.name}-att"}).json()
    a.api("POST", f"/api/containers/{c['id']}/start/")

    async def main():
        async with a.ws(f"/ws/containers/{c['id']}/attach/") as ws:
            await ws.send(b"hello\n")
            await asyncio.wait_for(ws.recv(), 20)
        async with b.ws(f"/ws/containers/{c['id']}/attach/") as ws:
            assert await close_code(ws) == 4404

    run(main())
    rows = _rows(api, via="ws", target=c["id"])
    assert {(r["username"], r["status"], r["action"]) for r in rows} == {
        (a.name, 101, "WS containers/<ref>/attach"), (b.name, 404, "WS containers/<ref>/attach")}
    api.api("DELETE", f"/api/containers/{c['id']}/?force=1")
