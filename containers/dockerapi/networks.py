"""Docker Engine API: networks (list, inspect, create, connect, disconnect, remove, prune).
Lookups are the caller's (lookup.py: what they cannot see does not exist); the host work
runs in the worker (containers/networks.py through rpc)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from containers import lookup, rpc
from containers.dockerapi import translate
from containers.dockerapi.common import actor_of, body_of, docker_view, filters_of
from containers.engine.errors import InvalidArgument
from containers.models import Endpoint, Membership, Network


def network_doc(net: Network, user) -> dict[str, Any]:
    """A network as GET /networks/{id} shows it: Containers are the running ones on it."""
    seen = lookup.containers(user)
    aliases = dict(Membership.objects.filter(network=net).values_list("container_id", "aliases"))
    return {
        "Name": net.name, "Id": net.nid, "Created": translate.iso(net.created), "Scope": "local",
        "Driver": net.driver, "EnableIPv4": True, "EnableIPv6": False, "Internal": False,
        "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
        "IPAM": {"Driver": "default", "Options": None,
                 "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]},
        "Options": {"com.docker.network.bridge.name": net.bridge}, "Labels": net.labels or {},
        "Containers": {ep.container_id: {"Name": ep.container.name, "EndpointID": "", "MacAddress": ep.mac,
                                         "IPv4Address": f"{ep.ip}/{ep.prefix}", "IPv6Address": "",
                                         "Aliases": aliases.get(ep.container_id) or None}
                       for ep in Endpoint.objects.filter(network=net, container__in=seen)
                       .select_related("container")},
    }


def _matches(net: Network, filters: dict[str, list[str]]) -> bool:
    checks = {
        "name": lambda v: v in net.name,
        "id": lambda v: net.nid.startswith(v),
        "driver": lambda v: v == net.driver,
        "type": lambda v: v == ("custom" if net.user_defined else "builtin"),
        "label": lambda v: (v.partition("=")[0] in (net.labels or {}) and (
            "=" not in v or (net.labels or {}).get(v.partition("=")[0]) == v.partition("=")[2])),
    }
    return all(any(checks[k](v) for v in vals) for k, vals in filters.items() if k in checks)


@docker_view
def networks_list(request: HttpRequest) -> HttpResponse:
    user, filters = actor_of(request), filters_of(request)
    return JsonResponse([network_doc(n, user) for n in lookup.networks(user).order_by("created")
                         if _matches(n, filters)], safe=False)


@docker_view
def network_inspect(request: HttpRequest, ref: str) -> HttpResponse:
    user = actor_of(request)
    return JsonResponse(network_doc(lookup.network(ref, user), user))


def create_args(body: dict[str, Any]) -> dict[str, Any]:
    """POST /networks/create body -> networks.create's arguments (refusing what is not
    supported rather than ignoring it; Options are bridge driver tuning, ignored)."""
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument("network name is required")
    if (body.get("Driver") or "bridge") != "bridge":
        raise InvalidArgument(f"network driver {body.get('Driver')!r} is not supported: only bridge")
    for flag in ("Internal", "EnableIPv6", "Ingress", "ConfigOnly"):
        if body.get(flag):
            raise InvalidArgument(f"{flag} networks are not supported")
    configs = (body.get("IPAM") or {}).get("Config") or []
    if not isinstance(configs, list) or len(configs) > 1:
        raise InvalidArgument("at most one IPAM config (one IPv4 subnet) is supported")
    conf = configs[0] if configs else {}
    if not isinstance(conf, dict) or conf.get("IPRange") or conf.get("AuxiliaryAddresses"):
        raise InvalidArgument("IPAM: only Subnet and Gateway are supported")
    labels = body.get("Labels") or {}
    return {"name": name, "subnet": conf.get("Subnet") or "", "gateway": conf.get("Gateway") or "",
            "labels": labels}


@docker_view
def network_create(request: HttpRequest) -> HttpResponse:
    user = actor_of(request)
    args = create_args(body_of(request))
    made = rpc.call("network_create", owner_id=user.pk if user is not None else None, **args)
    return JsonResponse({"Id": made["id"], "Warning": ""}, status=201)


@docker_view
def network_remove(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("network_remove", id=lookup.network(ref, actor_of(request)).nid)
    return HttpResponse(status=204)


def _container_ref(body: dict[str, Any]) -> str:
    ref = body.get("Container")
    if not isinstance(ref, str) or not ref:
        raise InvalidArgument("Container is required")
    return ref


@docker_view
def network_connect(request: HttpRequest, ref: str) -> HttpResponse:
    user, body = actor_of(request), body_of(request)
    net = lookup.network(ref, user)
    c = lookup.container(_container_ref(body), user)
    conf = body.get("EndpointConfig") or {}
    if not isinstance(conf, dict):
        raise InvalidArgument("EndpointConfig must be an object")
    if (conf.get("IPAMConfig") or {}).get("IPv4Address"):
        raise InvalidArgument("static addresses (IPAMConfig) are not supported")
    rpc.call("network_connect", id=net.nid, container=c.id, aliases=conf.get("Aliases") or [])
    return HttpResponse(status=200)


@docker_view
def network_disconnect(request: HttpRequest, ref: str) -> HttpResponse:
    user, body = actor_of(request), body_of(request)
    net = lookup.network(ref, user)
    c = lookup.container(_container_ref(body), user)
    rpc.call("network_disconnect", id=net.nid, container=c.id, force=bool(body.get("Force")))
    return HttpResponse(status=200)


@docker_view
def networks_prune(request: HttpRequest) -> HttpResponse:
    user = actor_of(request)
    filters = filters_of(request)
    ids = [n.nid for n in lookup.networks(user) if n.user_defined and _matches(n, filters)]
    gone = rpc.call("network_prune", ids=ids)
    return JsonResponse({"NetworksDeleted": gone or []})
