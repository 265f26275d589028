"""Route requests that arrived on the Docker socket to the Docker API urlconf, and say who
acts (`request.docker_actor`: a user over TCP, None = the system on the unix socket)."""

from __future__ import annotations

from containers.dockerapi.auth import actor

DOCKER_SCOPE_KEY = "dockerweb.api"


class DockerUrlconfMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        scope = getattr(request, "scope", None)
        if scope is not None and scope.get(DOCKER_SCOPE_KEY) == "docker":
            request.urlconf = "containers.dockerapi.urls"
            request.docker_actor = actor(scope)
        return self.get_response(request)
