"""Dashboard pages. Each renders one template with its initial data (the REST shapes, as
JSON for the page's script); every page requires a logged-in user."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from containers import lookup
from containers.api.serializers import ContainerSerializer, EventSerializer, ImageSerializer
from containers.engine.errors import NotFound
from containers.models import Container, Event, Image

RECENT_EVENTS = 200


def page(view):
    """A dashboard page: login required, CSRF cookie set for the script's API calls."""
    return login_required(ensure_csrf_cookie(view))


def _latest_seq() -> int:
    """Read before the page's data: the page's event stream resumes from here, so nothing
    that happens while the page loads is missed."""
    return Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def _images() -> list[dict]:
    return ImageSerializer(Image.objects.prefetch_related("tag_set"), many=True).data


@page
def containers(request: HttpRequest) -> HttpResponse:
    since = _latest_seq()
    rows = ContainerSerializer(Container.objects.select_related("image"), many=True).data
    return render(request, "web/containers.html", {"nav": "containers", "data": {
        "since": since, "containers": rows, "images": _images()}})


@page
def container(request: HttpRequest, ref: str) -> HttpResponse:
    since = _latest_seq()
    try:
        c = lookup.container(ref)
    except NotFound as e:
        raise Http404(e.message) from None
    return render(request, "web/container.html",
                  {"nav": "containers", "c": c,
                   "data": {"since": since, "container": ContainerSerializer(c).data}})


@page
def images(request: HttpRequest) -> HttpResponse:
    return render(request, "web/images.html", {"nav": "images", "data": {"images": _images()}})


@page
def events(request: HttpRequest) -> HttpResponse:
    recent = list(Event.objects.order_by("-seq")[:RECENT_EVENTS])[::-1]
    return render(request, "web/events.html",
                  {"nav": "events", "data": {"events": EventSerializer(recent, many=True).data}})
