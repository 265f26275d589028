"""Dashboard pages. Each renders one template with its initial data (the REST shapes, as
JSON for the page's script); every page requires a logged-in user and shows what that
user sees (lookup.py); the audit page is staff's only (404 to others)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from containers import lookup
from containers.api.serializers import ContainerSerializer, EventSerializer, ImageSerializer
from containers.engine.errors import NotFound
from containers.events import latest_seq
from containers.models import AuditEntry

RECENT_EVENTS = 200


def page(view):
    """A dashboard page: login required, CSRF cookie set for the script's API calls."""
    return login_required(ensure_csrf_cookie(view))


def _images(user) -> list[dict]:
    return ImageSerializer(lookup.images(user).prefetch_related("tag_set"), many=True,
                           context={"user": user}).data


@page
def containers(request: HttpRequest) -> HttpResponse:
    since = latest_seq()  # before the page's data: its stream misses nothing
    rows = ContainerSerializer(lookup.containers(request.user).select_related("image"), many=True).data
    user_networks = lookup.networks(request.user).exclude(name="bridge").values_list("name", flat=True)
    data = {"since": since, "containers": rows, "images": _images(request.user)}
    return render(request, "web/containers.html",
                  {"nav": "containers", "user_networks": user_networks, "data": data})


@page
def container(request: HttpRequest, ref: str) -> HttpResponse:
    since = latest_seq()  # before the page's data: its stream misses nothing
    try:
        c = lookup.container(ref, request.user)
    except NotFound as e:
        raise Http404(e.message) from None
    return render(request, "web/container.html",
                  {"nav": "containers", "c": c,
                   "data": {"since": since, "container": ContainerSerializer(c).data}})


@page
def images(request: HttpRequest) -> HttpResponse:
    return render(request, "web/images.html", {"nav": "images", "data": {"images": _images(request.user)}})


@page
def events(request: HttpRequest) -> HttpResponse:
    recent = list(lookup.events(request.user).order_by("-seq")[:RECENT_EVENTS])[::-1]
    return render(request, "web/events.html",
                  {"nav": "events", "data": {"events": EventSerializer(recent, many=True).data}})


AUDIT_PAGE = 100


@page
def audit(request: HttpRequest) -> HttpResponse:
    """The audit log, newest first, filtered like GET /api/audit/; staff only."""
    from django.core.paginator import Paginator

    from containers.api.audit import filtered

    if not request.user.is_staff:
        raise Http404("not found")
    rows = Paginator(filtered(AuditEntry.objects.all(), request.GET), AUDIT_PAGE)
    return render(request, "web/audit.html", {"nav": "audit", "page": rows.get_page(request.GET.get("page")),
                                              "q": request.GET, "data": {}})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 inside the app's layout (JSON {"message"} for API paths). The message is shown when
    a view raised one ("No such container: …"), not the resolver's list of patterns."""
    from django.http import JsonResponse

    if request.path.startswith("/api/"):
        return JsonResponse({"message": "not found"}, status=404)
    detail = exception.args[0] if exception and exception.args and isinstance(exception.args[0], str) else ""
    return render(request, "web/404.html", {"detail": detail, "data": {}}, status=404)


@page
def hosts(request: HttpRequest) -> HttpResponse:
    """The hosts sharing this database (issue 16): status, figures, containers; staff drain
    and resume them (the page's script calls /api/hosts/<name>/drain/)."""
    from containers import hosts as host_service

    return render(request, "web/hosts.html", {"nav": "hosts", "hosts": host_service.views(),
                                              "data": {}})


@page
def volumes(request: HttpRequest) -> HttpResponse:
    """The volumes the user sees (issue 14): create, remove, prune through /api/volumes/."""
    from containers.api.serializers import VolumeSerializer

    rows = VolumeSerializer(lookup.volumes(request.user).order_by("name"), many=True).data
    return render(request, "web/volumes.html", {"nav": "volumes", "volumes": rows, "data": {}})


@page
def networks(request: HttpRequest) -> HttpResponse:
    """The networks the user sees (issue 14): create and remove user networks through
    /api/networks/ (the default bridge stays)."""
    from containers.api.serializers import NetworkSerializer

    rows = NetworkSerializer(lookup.networks(request.user).order_by("host", "name"), many=True,
                             context={"user": request.user}).data
    return render(request, "web/networks.html", {"nav": "networks", "networks": rows, "data": {}})
