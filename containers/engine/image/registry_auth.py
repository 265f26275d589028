"""HTTP to one repository of a registry (Docker Registry HTTP API v2): scheme, auth, errors.

`RegistrySession(host, repository, actions, ...)` speaks https, or http when `host` is in the
caller's `insecure` allow-list. `login()` pings /v2/ and sets up auth the way Docker does:
  - 200: anonymous;
  - 401 `Basic realm=...`: HTTP basic with the credentials (checked at once by a second ping);
  - 401 `Bearer realm=...,service=...[,scope=...]`: GET realm?service=&scope=repository:<repo>:
    <actions> (with basic credentials if given) for a token, sent as `Authorization: Bearer`.
`request()` maps failures to engine errors: 401/403 -> Unauthorized, 404 or a *_UNKNOWN error
code -> NotFound, anything else -> EngineError carrying the registry's own error message.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urljoin

import requests

from ..errors import EngineError, NotFound, Unauthorized

Credentials = tuple[str, str]  # (username, password)
TIMEOUT = (30, 300)  # seconds: connect, read
USER_AGENT = "dockerweb"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="x",service="y"' -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)\s*=\s*"([^"]*)"', rest)}
    for k, v in re.findall(r'(\w+)\s*=\s*([^",\s]+)', rest):
        params.setdefault(k.lower(), v)
    return scheme.lower(), params


def registry_error(resp: requests.Response) -> tuple[str, str]:
    """(first error code, message) of a registry error response, best effort."""
    try:
        errs = resp.json().get("errors") or []
    except (ValueError, AttributeError):
        errs = []
    if errs and isinstance(errs[0], dict):
        e = errs[0]
        code, msg = str(e.get("code") or ""), str(e.get("message") or e.get("code") or "")
        if code and msg.lower() != code.lower().replace("_", " "):
            msg = f"{code.lower().replace('_', ' ')}: {msg}"
        return code, msg
    text = resp.text.strip()[:200] if resp.content else ""
    return "", text or f"HTTP {resp.status_code} {resp.reason}"


class RegistrySession:
    """Requests to https://<host>/v2/<repository>/... with `actions` ("pull" or "pull,push")."""

    def __init__(self, host: str, repository: str, actions: str, *,
                 credentials: Credentials | None = None, insecure: Collection[str] = ()):
        self.host, self.repository = host, repository
        self.base = f"{'http' if host in insecure else 'https'}://{host}"
        self.credentials = credentials if credentials and any(credentials) else None
        self.scope = f"repository:{repository}:{actions}" if repository else ""  # "": a login
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self._challenge = ""  # the Bearer challenge we got a token for

    def __enter__(self) -> RegistrySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def url(self, path_or_location: str) -> str:
        """An absolute URL: /v2/... paths and relative Location headers join the base."""
        return urljoin(self.base + "/", path_or_location)

    # -- auth --------------------------------------------------------------------------------

    def login(self) -> None:
        """Ping /v2/ and authenticate as the registry asks. Raises Unauthorized, EngineError."""
        resp = self._send("GET", "/v2/")
        resp.close()
        if resp.status_code == 401:
            self._authenticate(resp.headers.get("WWW-Authenticate", ""))
            if self.http.auth is not None:  # basic: check the credentials now
                resp = self._send("GET", "/v2/")
                resp.close()
                if resp.status_code == 401:
                    raise Unauthorized(f"unauthorized: {self.host}: incorrect username or password")
        elif resp.status_code == 404:
            raise EngineError(f"{self.host} is not a registry (no /v2/ API)")

    def _authenticate(self, challenge: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.credentials:
                raise Unauthorized(f"unauthorized: {self.host} requires authentication "
                                   "(no username and password given)")
            self.http.auth = self.credentials
        elif scheme == "bearer" and params.get("realm"):
            self.http.headers["Authorization"] = f"Bearer {self._token(params)}"
            self._challenge = challenge
        else:
            raise Unauthorized(f"unauthorized: {self.host} asks for unsupported authentication "
                               f"{challenge!r}")

    def _token(self, params: dict[str, str]) -> str:
        query: list[tuple[str, str]] = [("service", params["service"])] if params.get("service") else []
        query += [("scope", s) for s in dict.fromkeys([self.scope, params.get("scope", "")]) if s]
        if self.credentials:
            query.append(("account", self.credentials[0]))
        try:
            resp = requests.get(params["realm"], params=query, auth=self.credentials, timeout=TIMEOUT,
                                headers={"User-Agent": USER_AGENT})
        except requests.RequestException as e:
            raise EngineError(f"token request to {params['realm']} failed: {e}") from None
        if resp.status_code in (401, 403):
            raise Unauthorized("unauthorized: incorrect username or password" if self.credentials else
                               f"unauthorized: {self.host} refused an anonymous token: "
                               f"{registry_error(resp)[1]}")
        try:
            body = resp.json() if resp.status_code == 200 else {}
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise EngineError(f"token request to {params['realm']} failed: {registry_error(resp)[1]}")
        return str(token)

    # -- requests ----------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kw: Any) -> requests.Response:
        try:
            return self.http.request(method, self.url(url), timeout=TIMEOUT, **kw)
        except requests.exceptions.SSLError as e:
            raise EngineError(f"{self.host}: TLS failed ({e}); if this registry speaks plain http, "
                              "add it to the insecure registries") from None
        except requests.RequestException as e:
            raise EngineError(f"{method} {self.url(url)}: {e}") from None

    def request(self, method: str, url: str, *, ok: Iterable[int] = (200,),
                headers: dict[str, str] | None = None, data: Any = None,
                stream: bool = False) -> requests.Response:
        """One request (a /v2/... path or a URL); a status outside `ok` raises.

        A 401 with a new Bearer challenge (expired token, wider scope) re-authenticates once and
        retries, when `data` can be sent again (None or bytes)."""
        resp = self._send(method, url, headers=headers, data=data, stream=stream)
        challenge = resp.headers.get("WWW-Authenticate", "")
        if (resp.status_code == 401 and challenge.lower().startswith("bearer")
                and isinstance(data, (bytes, type(None)))):
            resp.close()
            self._authenticate(challenge)
            resp = self._send(method, url, headers=headers, data=data, stream=stream)
        if resp.status_code in set(ok):
            return resp
        self.raise_for(resp)
        raise AssertionError("unreachable")

    def raise_for(self, resp: requests.Response) -> None:
        """Raise the engine error for a failed response (and close it)."""
        code, msg = registry_error(resp) if resp.request.method != "HEAD" else ("", "")
        resp.close()
        status = resp.status_code
        if status in (401, 403):
            raise Unauthorized(f"unauthorized: access to {self.host}/{self.repository} denied"
                               f"{' for user ' + self.credentials[0] if self.credentials else ''}"
                               f"{': ' + msg if msg else ''}")
        if status == 404 or code.endswith("_UNKNOWN"):
            raise NotFound(msg or f"{resp.request.method} {resp.url}: not found")
        raise EngineError(f"{self.host}: {msg or f'HTTP {status} {resp.reason}'}")
