"""Websocket helpers for the stream tests (the `websockets` client against the live stack)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets


def url(stack, path: str) -> str:
    return f"ws://127.0.0.1:{stack.port}{path}"


def connect(stack, path: str, token: bool = True, **kw: Any):
    """Open a socket to the stack, authenticated by the Authorization header."""
    headers = {"Authorization": f"Token {stack.token}"} if token else {}
    return websockets.connect(url(stack, path), additional_headers=headers, compression=None,
                              max_size=None, open_timeout=20, **kw)


async def collect(ws, timeout: float = 30.0) -> tuple[list[bytes | str], int | None]:
    """Every message until the server closes; returns (messages, close code)."""
    out: list[bytes | str] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            out.append(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
    except websockets.ConnectionClosed as e:
        return out, e.rcvd.code if e.rcvd else None


async def read_until(ws, needle: bytes, timeout: float = 20.0, tty: bool = True) -> bytes:
    """Output bytes until `needle` shows up (stream bytes stripped without a tty)."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        msg = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        if isinstance(msg, bytes):
            buf += msg if tty else msg[1:]
    return buf


def output(messages: list[bytes | str], tty: bool = False) -> bytes:
    return b"".join(m if tty else m[1:] for m in messages if isinstance(m, bytes))


def controls(messages: list[bytes | str]) -> list[dict]:
    return [json.loads(m) for m in messages if isinstance(m, str)]


def run(coro):
    return asyncio.run(coro)
