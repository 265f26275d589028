"""ASGI app for the Docker socket: Django, with requests marked for the Docker urlconf.
Hijacked connections (attach, exec) never reach this app: see containers/dockerapi/hijack.py."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerweb.settings")
django_app = get_asgi_application()

from containers.dockerapi.middleware import DOCKER_SCOPE_KEY  # noqa: E402


async def application(scope, receive, send):
    if scope["type"] == "http":
        scope = {**scope, DOCKER_SCOPE_KEY: "docker"}
    await django_app(scope, receive, send)
