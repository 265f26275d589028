"""`manage.py rundockerapi`: the Docker Engine API on a Unix socket (like docker.sock).

The socket is <state>/run/docker.sock, mode 0660, root-owned. Served by uvicorn with the
hijacking protocol (attach/exec need `Upgrade: tcp`).
"""

from __future__ import annotations

import os
import socket

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from containers.dockerapi.attach import hijack
from containers.dockerapi.hijack import HijackingHttpToolsProtocol
from dockerweb import instancelock


class Command(BaseCommand):
    help = "Serve the Docker Engine API on <state>/run/docker.sock."

    def add_arguments(self, parser):
        parser.add_argument("--socket", default=os.path.join(settings.RUN_DIR, "docker.sock"))
        parser.add_argument("--tcp", default=os.environ.get("DOCKERWEB_DOCKER_TCP", ""),
                            help="also listen on HOST:PORT (token required); off by default")

    def handle(self, *args, socket: str, tcp: str, **options):  # noqa: A002 - Django passes it so
        self.lock = lock_socket(socket)  # before the socket is replaced; held for life
        socks = [bind_unix(socket)]
        if tcp:
            socks.append(bind_tcp(tcp))
            self.stdout.write(f"Docker API on tcp://{tcp} (Authorization: Token required)")
        HijackingHttpToolsProtocol.hijack_handler = staticmethod(hijack)
        config = uvicorn.Config("dockerweb.docker_asgi:application", http=HijackingHttpToolsProtocol,
                                ws="websockets-sansio", lifespan="off", log_level="warning",
                                timeout_keep_alive=30)
        self.stdout.write(f"Docker API on unix://{socket}")
        uvicorn.Server(config).run(sockets=socks)


def lock_socket(path: str) -> int:
    """One Docker API per socket: the state root's `dockerapi` lock for the default
    docker.sock, `<socket>.lock` for another one. A second server refuses (CommandError)
    instead of replacing the socket of the live one."""
    default = os.path.join(settings.RUN_DIR, "docker.sock")
    name = "dockerapi"
    lockfile = (instancelock.path(settings.STATE_ROOT, name) if os.path.abspath(path) == default
                else f"{path}.lock")
    try:
        return instancelock.acquire(lockfile, name, url=f"unix://{path}")
    except instancelock.AlreadyRunning as e:
        raise CommandError(str(e)) from None


def bind_tcp(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), int(port)))
    sock.listen(128)
    return sock


def bind_unix(path: str) -> socket.socket:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o660)
    sock.listen(128)
    return sock
