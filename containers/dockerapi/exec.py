"""Hijacked `POST /exec/{id}/start` (docker exec): start the exec, then bridge its stdio
exactly like an attach (same supervisor framing, same Attach session)."""

from __future__ import annotations

import re
from typing import Any

from containers import execs
from containers.dockerapi.hijack import RawStream

EXEC_START_RE = re.compile(r"^(?:/v(?P<version>[0-9.]+))?/exec/(?P<eid>[^/]+)/start\Z")


async def hijack_exec(scope: dict[str, Any], stream: RawStream) -> bool:
    """Handle POST /exec/{id}/start if `scope` is one; False when it is not an exec."""
    m = EXEC_START_RE.match(scope["path"])
    if m is None:
        return False
    from containers import lookup
    from containers.dockerapi.attach import Attach, _audit, http_error, response_head, send_head
    from containers.dockerapi.auth import actor
    from containers.engine.errors import EngineError
    from containers.streams.base import in_thread

    verb = "POST exec/<eid>/start"
    try:
        await in_thread(lookup.exec_container)(m["eid"], actor(scope))
        info = await in_thread(execs.inspect)(m["eid"])
        paths = await in_thread(execs.paths)(m["eid"])
    except EngineError as e:
        await _audit(scope, verb, m["eid"], 404)
        await http_error(stream, 404, e.message)
        return True
    cfg = info.config
    params = {"stdin": ["1" if cfg.stdin else "0"], "stdout": ["1"], "stderr": ["1"]}
    session = Attach(stream, info.container_id, {"tty": cfg.tty, "stdin_once": True}, params,
                     was_running=False, paths=paths)
    try:
        try:
            await in_thread(execs.start)(m["eid"])
        except EngineError as e:
            code = 409 if e.kind in ("conflict", "illegal_transition") else 500
            await _audit(scope, verb, m["eid"], code)
            await http_error(stream, code, e.message)
            return True
        await _audit(scope, verb, m["eid"], 101)
        await send_head(stream, response_head(cfg.tty, m["version"]))
        await session.run()
    finally:
        session.close()
    return True
