"""The same stack on PostgreSQL: a throwaway cluster (Debian's postgresql) on a unix socket."""

from __future__ import annotations

import os
import subprocess
import threading

from tests.conftest import STATE_ROOT
from tests.stack import Stack


def test_lifecycle_on_postgresql(postgres_url):
    stack = Stack(os.path.join(STATE_ROOT, "pgstack"), env={"DATABASE_URL": postgres_url})
    os.makedirs(stack.root, exist_ok=True)
    try:
        stack.start()
        c = stack.run(cmd=["sh", "-c", "echo on-postgres; exit 4"], name="pg1")
        assert stack.wait(c["id"])["exit_code"] == 4
        assert stack.logs(c["id"]) == b"on-postgres\n"
        # addresses on PostgreSQL (an inet column): starts at once get distinct ones, each
        # read back past the others' taken ones
        made = [stack.create(cmd=["sleep", "60"])["id"] for _ in range(4)]
        replies: list = []
        starts = [threading.Thread(target=lambda cid=cid: replies.append(
            stack.api("POST", f"/api/containers/{cid}/start/"))) for cid in made]
        [t.start() for t in starts]
        [t.join() for t in starts]
        assert [r.status_code for r in replies] == [200] * 4, [r.text for r in replies]
        ips = {r.json()["network_settings"]["ip"] for r in replies}
        assert len(ips) == 4 and "" not in ips, ips
        for cid in made:
            assert stack.api("DELETE", f"/api/containers/{cid}/?force=1").status_code == 204
        codes = []

        def create():
            codes.append(stack.api("POST", "/api/containers/", json={"image": "busybox",
                                                                     "name": "pgtwin"}).status_code)

        threads = [threading.Thread(target=create) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(codes) == [201, 409]
        events = stack.api("GET", "/api/events/?since=0").json()
        assert [e["action"] for e in events if e["actor_id"] == c["id"]] == ["create", "start", "die"]
        # ownership and the audit log on PostgreSQL: another user's container is absent
        from tests.users import new_user

        other = new_user(stack)
        assert other.api("DELETE", f"/api/containers/{c['id']}/").status_code == 404
        tags = {t for i in other.api("GET", "/api/images/").json() for t in i["repo_tags"]}
        assert "busybox:latest" in tags
        rows = stack.api("GET", f"/api/audit/?target={c['id']}&user={other.name}").json()["results"]
        assert [(r["action"], r["status"]) for r in rows] == [("DELETE api/containers/<str:ref>/", 404)]
    finally:
        stack.shutdown()


ORDER_PROBE = """
import threading, time, django
django.setup()
from django.db import connections, transaction
from containers import events

marks = {}
slow_emitted = threading.Event()

def fast_is_waiting(cur):
    cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    return cur.fetchone()[0] > 0

def slow():
    with transaction.atomic():
        e = events.emit("probe", actor_id="slow")
        marks["slow"] = e.seq
        slow_emitted.set()
        deadline = time.monotonic() + 20
        with connections["default"].cursor() as cur:
            while not fast_is_waiting(cur):  # commit only once fast waits for our lock
                assert time.monotonic() < deadline, "fast never waited for the event lock"
                time.sleep(0.01)
        marks["slow_commit"] = time.monotonic()
    connections.close_all()

def fast():
    assert slow_emitted.wait(20)
    e = events.emit("probe", actor_id="fast")
    marks["fast"], marks["fast_done"] = e.seq, time.monotonic()
    connections.close_all()

threads = [threading.Thread(target=slow), threading.Thread(target=fast)]
[t.start() for t in threads]
[t.join() for t in threads]
assert marks["slow"] < marks["fast"], marks
assert marks["fast_done"] >= marks["slow_commit"], marks  # waited for the earlier seq's commit
print("ok")
"""


def test_event_sequence_is_commit_order_on_postgresql(postgres_url):
    """A later seq never becomes visible before an earlier one (since=<seq> skips nothing)."""
    env = {**os.environ, "DATABASE_URL": postgres_url, "DJANGO_SETTINGS_MODULE": "dockerweb.settings",
           "DOCKERWEB_STATE_ROOT": os.path.join(STATE_ROOT, "pgorder")}
    os.makedirs(env["DOCKERWEB_STATE_ROOT"], exist_ok=True)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    py = os.path.join(repo, ".venv", "bin", "python")
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=repo, env=env, check=True)
    out = subprocess.run([py, "-c", ORDER_PROBE], cwd=repo, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
