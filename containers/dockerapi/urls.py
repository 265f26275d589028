"""Docker Engine API routes, bare and under /v{version}/ (served on the Docker socket only)."""

from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from containers.dockerapi import common, containers, exec, images, networks, system, volumes

V = r"^(?:v[0-9.]+/)?"


def route(pattern: str, methods: dict[str, object]):
    """One path, several methods (Docker uses the same path for GET and DELETE)."""
    def dispatch(request, *args, **kwargs):
        view = methods.get(request.method) or (methods.get("GET") if request.method == "HEAD" else None)
        if view is None:
            return common.error(f"method {request.method} not allowed", 405)
        return view(request, *args, **kwargs)

    return re_path(V + pattern, csrf_exempt(dispatch))


urlpatterns = [
    route(r"_ping$", {"GET": system.ping, "HEAD": system.ping}),
    route(r"version$", {"GET": system.version}),
    route(r"auth$", {"POST": system.auth}),
    route(r"info$", {"GET": system.info}),
    route(r"containers/json$", {"GET": containers.containers_list}),
    route(r"containers/create$", {"POST": containers.containers_create}),
    route(r"containers/(?P<ref>[^/]+)/json$", {"GET": containers.container_inspect}),
    route(r"containers/(?P<ref>[^/]+)/start$", {"POST": containers.container_start}),
    route(r"containers/(?P<ref>[^/]+)/stop$", {"POST": containers.container_stop}),
    route(r"containers/(?P<ref>[^/]+)/restart$", {"POST": containers.container_restart}),
    route(r"containers/(?P<ref>[^/]+)/kill$", {"POST": containers.container_kill}),
    route(r"containers/(?P<ref>[^/]+)/wait$", {"POST": containers.container_wait}),
    route(r"containers/(?P<ref>[^/]+)/logs$", {"GET": containers.container_logs}),
    route(r"containers/(?P<ref>[^/]+)/resize$", {"POST": containers.container_resize}),
    route(r"containers/(?P<ref>[^/]+)/pause$", {"POST": containers.container_pause}),
    route(r"containers/(?P<ref>[^/]+)/unpause$", {"POST": containers.container_unpause}),
    route(r"containers/(?P<ref>[^/]+)/rename$", {"POST": containers.container_rename}),
    route(r"containers/(?P<ref>[^/]+)/top$", {"GET": containers.container_top}),
    route(r"containers/(?P<ref>[^/]+)/update$", {"POST": containers.container_update}),
    route(r"containers/(?P<ref>[^/]+)$", {"DELETE": containers.container_delete}),
    route(r"events$", {"GET": system.events}),
    route(r"networks$", {"GET": networks.networks_list}),
    route(r"networks/create$", {"POST": networks.network_create}),
    route(r"networks/prune$", {"POST": networks.networks_prune}),
    route(r"networks/(?P<ref>[^/]+)/connect$", {"POST": networks.network_connect}),
    route(r"networks/(?P<ref>[^/]+)/disconnect$", {"POST": networks.network_disconnect}),
    route(r"images/json$", {"GET": images.images_list}),
    route(r"images/create$", {"POST": images.images_create}),
    route(r"images/get$", {"GET": images.images_get}),
    route(r"images/load$", {"POST": images.images_load}),
    route(r"images/(?P<ref>.+)/get$", {"GET": images.images_get}),
    route(r"images/(?P<ref>.+)/push$", {"POST": images.image_push}),
    route(r"images/(?P<ref>.+)/json$", {"GET": images.image_inspect}),
    route(r"images/(?P<ref>.+)/history$", {"GET": images.image_history}),
    route(r"images/(?P<ref>.+)/tag$", {"POST": images.image_tag}),
    route(r"commit$", {"POST": images.commit}),
    route(r"build$", {"POST": images.build}),
    route(r"containers/(?P<ref>[^/]+)/changes$", {"GET": containers.container_changes}),
    route(r"containers/(?P<ref>[^/]+)/export$", {"GET": containers.container_export}),
    route(r"containers/(?P<ref>[^/]+)/archive$",
          {"GET": containers.container_archive, "HEAD": containers.container_archive,
           "PUT": containers.container_archive}),
    route(r"containers/(?P<ref>[^/]+)/exec$", {"POST": exec.exec_create}),
    route(r"containers/(?P<ref>[^/]+)/stats$", {"GET": containers.container_stats}),
    route(r"exec/(?P<eid>[^/]+)/json$", {"GET": exec.exec_inspect}),
    route(r"exec/(?P<eid>[^/]+)/start$", {"POST": exec.exec_start_detached}),
    route(r"exec/(?P<eid>[^/]+)/resize$", {"POST": exec.exec_resize}),
    route(r"networks/(?P<ref>[^/]+)$", {"GET": networks.network_inspect,
                                         "DELETE": networks.network_remove}),
    route(r"volumes$", {"GET": volumes.volumes_list}),
    route(r"volumes/create$", {"POST": volumes.volume_create}),
    route(r"volumes/prune$", {"POST": volumes.volumes_prune}),
    route(r"volumes/(?P<name>[^/]+)$", {"GET": volumes.volume_inspect, "DELETE": volumes.volume_delete}),
    route(r"images/(?P<ref>.+)$", {"DELETE": images.image_delete}),  # last: it matches any name
]
