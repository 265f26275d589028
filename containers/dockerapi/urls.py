"""Docker Engine API routes, bare and under /v{version}/ (served on the Docker socket only)."""

from django.urls import re_path

from containers.dockerapi import views

V = r"^(?:v[0-9.]+/)?"


def route(pattern: str, methods: dict[str, object]):
    """One path, several methods (Docker uses the same path for GET and DELETE)."""
    def dispatch(request, *args, **kwargs):
        view = methods.get(request.method) or (methods.get("GET") if request.method == "HEAD" else None)
        if view is None:
            return views.error(f"method {request.method} not allowed", 405)
        return view(request, *args, **kwargs)

    return re_path(V + pattern, views.csrf_exempt(dispatch))


urlpatterns = [
    route(r"_ping$", {"GET": views.ping, "HEAD": views.ping}),
    route(r"version$", {"GET": views.version}),
    route(r"auth$", {"POST": views.auth}),
    route(r"info$", {"GET": views.info}),
    route(r"containers/json$", {"GET": views.containers_list}),
    route(r"containers/create$", {"POST": views.containers_create}),
    route(r"containers/(?P<ref>[^/]+)/json$", {"GET": views.container_inspect}),
    route(r"containers/(?P<ref>[^/]+)/start$", {"POST": views.container_start}),
    route(r"containers/(?P<ref>[^/]+)/stop$", {"POST": views.container_stop}),
    route(r"containers/(?P<ref>[^/]+)/restart$", {"POST": views.container_restart}),
    route(r"containers/(?P<ref>[^/]+)/kill$", {"POST": views.container_kill}),
    route(r"containers/(?P<ref>[^/]+)/wait$", {"POST": views.container_wait}),
    route(r"containers/(?P<ref>[^/]+)/logs$", {"GET": views.container_logs}),
    route(r"containers/(?P<ref>[^/]+)/resize$", {"POST": views.container_resize}),
    route(r"containers/(?P<ref>[^/]+)/pause$", {"POST": views.container_pause}),
    route(r"containers/(?P<ref>[^/]+)/unpause$", {"POST": views.container_unpause}),
    route(r"containers/(?P<ref>[^/]+)/rename$", {"POST": views.container_rename}),
    route(r"containers/(?P<ref>[^/]+)/top$", {"GET": views.container_top}),
    route(r"containers/(?P<ref>[^/]+)$", {"DELETE": views.container_delete}),
    route(r"events$", {"GET": views.events}),
    route(r"networks$", {"GET": views.networks_list}),
    route(r"images/json$", {"GET": views.images_list}),
    route(r"images/create$", {"POST": views.images_create}),
    route(r"images/get$", {"GET": views.images_get}),
    route(r"images/load$", {"POST": views.images_load}),
    route(r"images/(?P<ref>.+)/get$", {"GET": views.images_get}),
    route(r"images/(?P<ref>.+)/push$", {"POST": views.image_push}),
    route(r"images/(?P<ref>.+)/json$", {"GET": views.image_inspect}),
    route(r"images/(?P<ref>.+)/history$", {"GET": views.image_history}),
    route(r"images/(?P<ref>.+)/tag$", {"POST": views.image_tag}),
    route(r"commit$", {"POST": views.commit}),
    route(r"containers/(?P<ref>[^/]+)/changes$", {"GET": views.container_changes}),
    route(r"containers/(?P<ref>[^/]+)/export$", {"GET": views.container_export}),
    route(r"containers/(?P<ref>[^/]+)/archive$",
          {"GET": views.container_archive, "HEAD": views.container_archive, "PUT": views.container_archive}),
    route(r"containers/(?P<ref>[^/]+)/exec$", {"POST": views.exec_create}),
    route(r"containers/(?P<ref>[^/]+)/stats$", {"GET": views.container_stats}),
    route(r"exec/(?P<eid>[^/]+)/json$", {"GET": views.exec_inspect}),
    route(r"exec/(?P<eid>[^/]+)/start$", {"POST": views.exec_start_detached}),
    route(r"exec/(?P<eid>[^/]+)/resize$", {"POST": views.exec_resize}),
    route(r"networks/(?P<ref>[^/]+)$", {"GET": views.network_inspect}),
    route(r"images/(?P<ref>.+)$", {"DELETE": views.image_delete}),  # last: it matches any name
]
