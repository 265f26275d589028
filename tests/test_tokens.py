"""API tokens are stored hashed (django-rest-knox): the database holds nothing that
authenticates, yet the printed key works on every door (REST, websockets, the Docker API
over TCP); users make, list and revoke their own; old plaintext tokens are migrated."""

from __future__ import annotations

import glob
import os
import sqlite3
import subprocess

import requests
import websockets

from tests.stack import PY, REPO
from tests.users import docker_tcp, new_user, remove_users
from tests.wsclient import run, url


def _db_bytes(root: str) -> bytes:
    """Every byte of the SQLite database (main file and write-ahead log), as `nobody`
    would read it if it could."""
    out = b""
    for path in glob.glob(os.path.join(root, "db.sqlite3*")):
        with open(path, "rb") as f:
            out += f.read()
    return out


def _ws_status(stack, path: str, **kw) -> int | None:
    """None when the socket stays open (authenticated), else its close code."""
    async def main():
        async with websockets.connect(url(stack, path), open_timeout=20, **kw) as ws:
            try:
                import asyncio

                await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                return None
            except websockets.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None
            return None

    return run(main())


def test_database_holds_no_usable_token(api):
    u = new_user(api)
    try:
        data = _db_bytes(api.root)
        assert data, "no database file found"
        for key in (api.token, u.token):
            assert len(key) >= 40
            assert key.encode() not in data
            assert key[15:].encode() not in data  # the secret part, beyond the lookup id
        rows = sqlite3.connect(f"file:{api.root}/db.sqlite3?mode=ro", uri=True).execute(
            "SELECT digest, token_key FROM knox_authtoken").fetchall()
        assert rows and all(api.token not in d and len(d) == 128 for d, _ in rows)
        tables = {r[0] for r in sqlite3.connect(f"file:{api.root}/db.sqlite3?mode=ro", uri=True).execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        assert "authtoken_token" not in tables  # DRF's plaintext tokens were never made
    finally:
        remove_users(api, u)


def test_the_printed_key_authenticates_everywhere(api):
    assert requests.get(api.base + "/api/info/", headers={"Authorization": f"Token {api.token}"},
                        timeout=30).status_code == 200
    altered = api.token[:-1] + ("1" if api.token.endswith("0") else "0")  # never the key itself
    assert requests.get(api.base + "/api/info/", headers={"Authorization": f"Token {altered}"},
                        timeout=30).status_code == 401
    assert _ws_status(api, f"/ws/events/?token={api.token}") is None
    assert _ws_status(api, "/ws/events/", additional_headers={"Authorization": f"Token {api.token}"}) is None
    assert _ws_status(api, f"/ws/events/?token={api.token[:20]}") == 4401
    with docker_tcp(api) as base:
        ok = requests.get(base + "/v1.45/containers/json", headers={"Authorization": f"Token {api.token}"},
                          timeout=30)
        assert ok.status_code == 200
        bad = requests.get(base + "/v1.45/containers/json", timeout=30,
                           headers={"Authorization": f"Token {api.token[:15]}"})
        assert bad.status_code == 401


def test_users_make_list_and_revoke_their_own_tokens(api):
    a, b = new_user(api), new_user(api)
    try:
        r = a.api("POST", "/api/tokens/", json={"expiry_days": 7})
        assert r.status_code == 201, r.text
        made = r.json()
        key, tid = made["token"], made["id"]
        assert made["expiry"] and key.startswith(tid) and len(key) == 64
        listed = a.api("GET", "/api/tokens/").json()
        assert tid in {t["id"] for t in listed} and key not in str(listed)
        assert tid not in {t["id"] for t in b.api("GET", "/api/tokens/").json()}
        h = {"Authorization": f"Token {key}"}
        assert requests.get(api.base + "/api/containers/", headers=h, timeout=30).status_code == 200
        assert key.encode() not in _db_bytes(api.root)
        # B cannot revoke A's token; bad input is a 400
        assert b.api("DELETE", f"/api/tokens/{tid}/").status_code == 404
        assert a.api("POST", "/api/tokens/", json={"expiry_days": 0}).status_code == 400
        assert a.api("DELETE", f"/api/tokens/{tid}/").status_code == 204
        assert requests.get(api.base + "/api/containers/", headers=h, timeout=30).status_code == 401
        assert _ws_status(api, f"/ws/events/?token={key}") == 4401
        with docker_tcp(api) as base:
            assert requests.get(base + "/v1.45/containers/json", headers=h, timeout=30).status_code == 401
        # an expired token is refused
        key2 = a.api("POST", "/api/tokens/", json={"expiry_days": 1}).json()["token"]
        api.manage("shell", "-c", "from datetime import timedelta; from django.utils import timezone; "
                   "from knox.models import AuthToken; "
                   f"AuthToken.objects.filter(token_key={key2[:15]!r})"
                   ".update(expiry=timezone.now() - timedelta(1))")
        r = requests.get(api.base + "/api/info/", headers={"Authorization": f"Token {key2}"}, timeout=30)
        assert r.status_code == 401
    finally:
        remove_users(api, a, b)


def test_plaintext_tokens_are_migrated_to_hashes(tmp_path):
    """A database from before (DRF's authtoken_token rows): after migrate the same key
    still authenticates, and no row holds it."""
    env = {**os.environ, "DOCKERWEB_STATE_ROOT": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "dockerweb.settings"}

    def manage(*args: str) -> str:
        return subprocess.run([PY, "manage.py", *args], cwd=REPO, env=env, check=True,
                              capture_output=True, text=True).stdout

    manage("migrate", "auth", "-v0")
    manage("migrate", "containers", "0007_ownership_audit", "-v0")
    key = "3f" * 20  # a DRF key: 40 hex characters
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    db.execute("INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, "
               "is_staff, is_active, date_joined) VALUES ('!', 1, 'old', '', '', '', 1, 1, '2020-01-01')")
    db.execute('CREATE TABLE authtoken_token ("key" varchar(40) PRIMARY KEY, created datetime, '
               "user_id integer)")
    db.execute("INSERT INTO authtoken_token VALUES (?, '2020-01-01 00:00:00', 1)", (key,))
    db.commit()
    db.close()
    manage("migrate", "-v0")
    out = manage("shell", "-c", "from containers.tokens import user_for_key; "
                 f"print('user=', user_for_key({key!r})); print('bad=', user_for_key({key[:-1] + '0'!r}))")
    assert "user= old" in out and "bad= None" in out
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    assert db.execute("SELECT count(*) FROM authtoken_token").fetchone()[0] == 0
    db.close()
    assert key.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite3*"))
