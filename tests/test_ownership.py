"""Users own what they make: a second (non-staff) user cannot see or act on the first
user's container, exec, logs, events or image tags (404, as if absent), through REST,
websockets, the Docker API over TCP and the dashboard; staff see everything."""

from __future__ import annotations

import pytest
import requests

from tests.users import close_code, docker_tcp, new_user, remove_users
from tests.wsclient import run


@pytest.fixture
def two_users(api):
    a, b = new_user(api), new_user(api)
    yield a, b
    for c in api.api("GET", "/api/containers/?all=1").json():  # staff sees theirs too
        if c["name"].startswith((a.name, b.name)):
            api.api("DELETE", f"/api/containers/{c['id']}/?force=1")
    for ref in (f"{a.name}/img:1", f"{b.name}/img:1"):
        api.api("DELETE", f"/api/images/{ref}/")
    remove_users(api, a, b)


def _running_container(user, name: str) -> dict:
    r = user.api("POST", "/api/containers/", json={"image": "busybox", "name": name, "open_stdin": True,
                                                    "cmd": ["sh", "-c", "echo secret-output; sleep 300"]})
    assert r.status_code == 201, r.text
    r = user.api("POST", f"/api/containers/{r.json()['id']}/start/")
    assert r.status_code == 200 and r.json()["state"]["status"] == "running", r.text
    return r.json()


def test_second_user_cannot_touch_first_users_container(api, two_users):
    a, b = two_users
    c = _running_container(a, f"{a.name}-web")
    cid, name = c["id"], c["name"]
    eid = a.api("POST", f"/api/containers/{cid}/exec/", json={"cmd": ["id"]}).json()["id"]

    # REST: every door to A's container is a 404 for B, by id, name and prefix
    for ref in (cid, name, cid[:12]):
        assert b.api("GET", f"/api/containers/{ref}/").status_code == 404
    tries = [
        ("POST", f"/api/containers/{cid}/exec/", {"cmd": ["id"], "user": "0"}),
        ("POST", f"/api/containers/{cid}/stop/?timeout=0", None),
        ("POST", f"/api/containers/{cid}/kill/", None),
        ("POST", f"/api/containers/{cid}/restart/", None),
        ("DELETE", f"/api/containers/{cid}/?force=1", None),
        ("GET", f"/api/containers/{cid}/logs/", None),
        ("GET", f"/api/containers/{cid}/stats/", None),
        ("GET", f"/api/containers/{cid}/stats/history/", None),
        ("GET", f"/api/containers/{cid}/export/", None),
        ("POST", f"/api/containers/{cid}/commit/?repo={b.name}/stolen", None),
        ("GET", f"/api/containers/{cid}/top/", None),
        ("POST", f"/api/containers/{cid}/pause/", None),
        ("POST", f"/api/containers/{cid}/unpause/", None),
        ("POST", f"/api/containers/{cid}/rename/?name={b.name}-stolen", None),
        ("POST", f"/api/containers/{cid}/wait/?condition=removed&timeout=1", None),
        ("GET", f"/api/containers/{cid}/archive/?path=/etc/passwd", None),
        ("HEAD", f"/api/containers/{cid}/archive/?path=/etc/passwd", None),
        ("PUT", f"/api/containers/{cid}/archive/?path=/tmp", None),
        ("GET", f"/api/exec/{eid}/", None),
        ("POST", f"/api/exec/{eid}/start/", {"detach": True}),
    ]
    for method, path, body in tries:
        r = b.api(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
        assert "secret-output" not in r.text
    listed = b.api("GET", "/api/containers/?all=1").json()
    assert cid not in {x["id"] for x in listed}
    assert b.api("GET", "/api/info/").json()["containers"]["running"] == 0
    events = b.api("GET", "/api/events/?since=0&limit=10000").json()
    assert cid not in {e["actor_id"] for e in events}

    # a name clash says "in use", nothing about whose
    r = b.api("POST", "/api/containers/", json={"image": "busybox", "name": name})
    assert r.status_code == 409 and "in use" in r.json()["message"] and cid not in r.text

    # websockets: attach (stdin), exec, logs, stats are 4404; events carry nothing of A's
    async def sockets():
        for path in (f"/ws/containers/{cid}/attach/", f"/ws/exec/{eid}/", f"/ws/containers/{cid}/logs/",
                     f"/ws/containers/{name}/stats/"):
            async with b.ws(path) as ws:
                if path.endswith("/attach/"):
                    await ws.send(b"kill 1\n")  # stdin that must never arrive
                assert await close_code(ws) == 4404, path
        async with b.ws("/ws/events/?since=0") as ws:
            import asyncio
            import json

            seen = []
            try:
                while True:
                    seen.append(json.loads(await asyncio.wait_for(ws.recv(), 1.5)))
            except TimeoutError:
                pass
            assert cid not in {e["actor_id"] for e in seen}

    run(sockets())

    # the Docker API over TCP with B's token
    with docker_tcp(api) as base:
        h = {"Authorization": f"Token {b.token}", "Content-Type": "application/json"}
        d = [("POST", f"/v1.45/containers/{cid}/exec", {"Cmd": ["id"], "User": "0"}),
             ("POST", f"/v1.45/containers/{cid}/stop?t=0", None),
             ("POST", f"/v1.45/containers/{name}/rename?name={b.name}-mine", None),
             ("DELETE", f"/v1.45/containers/{cid}?force=1", None),
             ("GET", f"/v1.45/containers/{cid}/logs?stdout=1", None),
             ("GET", f"/v1.45/containers/{cid}/json", None),
             ("POST", f"/v1.45/exec/{eid}/start", {"Detach": True}),
             ("GET", f"/v1.45/exec/{eid}/json", None)]
        for method, path, body in d:
            r = requests.request(method, base + path, headers=h, json=body, timeout=30)
            assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
        # the hijacked (Upgrade: tcp) attach and exec start: refused before any stream opens
        up = {**h, "Upgrade": "tcp", "Connection": "Upgrade"}
        for path, body in ((f"/v1.45/containers/{cid}/attach?stream=1&stdin=1&stdout=1", None),
                           (f"/v1.45/exec/{eid}/start", {"Detach": False, "Tty": False})):
            r = requests.post(base + path, headers=up, json=body, timeout=30)
            assert r.status_code == 404, (path, r.status_code, r.text[:200])
        listed = requests.get(base + "/v1.45/containers/json?all=1", headers=h, timeout=30).json()
        assert cid not in {x["Id"] for x in listed}
        # A, through the same listener, sees and inspects their own
        ha = {"Authorization": f"Token {a.token}"}
        r = requests.get(base + f"/v1.45/containers/{name}/json", headers=ha, timeout=30)
        assert r.status_code == 200

    # A's container kept running, under its name, and A's exec never ran
    mine = a.api("GET", f"/api/containers/{cid}/").json()
    assert mine["state"]["status"] == "running" and mine["name"] == name
    assert a.api("GET", f"/api/exec/{eid}/").json()["started"] is False
    assert b"secret-output" in a.api("GET", f"/api/containers/{cid}/logs/").content

    # staff sees both users' containers; B sees only B's
    bc = b.api("POST", "/api/containers/", json={"image": "busybox", "name": f"{b.name}-x"}).json()
    everyone = {x["id"] for x in api.api("GET", "/api/containers/?all=1").json()}
    assert {cid, bc["id"]} <= everyone
    assert {x["id"] for x in b.api("GET", "/api/containers/?all=1").json()} == {bc["id"]}
    assert api.api("GET", f"/api/containers/{cid}/").status_code == 200


def test_image_tags_belong_to_their_maker(api, two_users):
    a, b = two_users
    # busybox:latest (made by setup, no owner) is usable by everyone but changed by staff only
    r = b.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["true"]})
    assert r.status_code == 201, r.text
    b.api("DELETE", f"/api/containers/{r.json()['id']}/")
    r = b.api("DELETE", "/api/images/busybox:latest/")
    assert r.status_code == 403, r.text
    r = b.api("POST", f"/api/images/{a.name}/img:1/tag/?repo=busybox&tag=latest")
    assert r.status_code == 404
    assert api.api("GET", "/api/images/busybox:latest/").status_code == 200

    # A's tag: invisible to B (404 for inspect, untag, push, tag-over), A's own to change
    r = a.api("POST", f"/api/images/busybox/tag/?repo={a.name}/img&tag=1")
    assert r.status_code == 200, r.text
    ref = f"{a.name}/img:1"
    assert b.api("GET", f"/api/images/{ref}/").status_code == 404
    assert b.api("DELETE", f"/api/images/{ref}/").status_code == 404
    assert b.api("POST", f"/api/images/{ref}/push/").status_code == 404
    r = b.api("POST", f"/api/images/busybox/tag/?repo={a.name}/img&tag=1")
    assert r.status_code == 409 and b.name not in r.text
    tags = {t for img in b.api("GET", "/api/images/").json() for t in img["repo_tags"]}
    assert ref not in tags and "busybox:latest" in tags
    assert ref in {t for img in api.api("GET", "/api/images/").json() for t in img["repo_tags"]}
    assert a.api("GET", f"/api/images/{ref}/").status_code == 200
    assert a.api("DELETE", f"/api/images/{ref}/").status_code == 200


def test_dashboard_shows_only_own_containers(api, two_users):
    a, b = two_users
    c = _running_container(a, f"{a.name}-dash")
    api.manage("shell", "-c", "from django.contrib.auth.models import User; "
               f"u = User.objects.get(username={b.name!r}); u.set_password('pw-b-123456'); u.save()")
    s = requests.Session()
    s.get(api.base + "/login/")
    r = s.post(api.base + "/login/", data={"username": b.name, "password": "pw-b-123456",
                                          "csrfmiddlewaretoken": s.cookies["csrftoken"]},
               headers={"Referer": api.base + "/login/"})
    assert r.status_code == 200 and "sessionid" in s.cookies
    assert c["id"] not in s.get(api.base + "/").text
    assert s.get(api.base + f"/containers/{c['id']}/").status_code == 404
    assert s.get(api.base + "/audit/").status_code == 404
    # the dashboard's script calls the REST API with the session: the same rules
    h = {"X-CSRFToken": s.cookies["csrftoken"], "Referer": api.base + "/"}
    assert s.post(api.base + f"/api/containers/{c['id']}/stop/", headers=h).status_code == 404
    assert a.api("GET", f"/api/containers/{c['id']}/").json()["state"]["status"] == "running"
