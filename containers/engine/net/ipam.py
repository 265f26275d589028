"""IPv4 address management: pure functions. The database guards allocations with a
uniqueness constraint; these only choose a candidate."""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv4Network

from ..errors import Conflict, InvalidArgument

# early Docker: the first free of a few private /24s
CANDIDATE_SUBNETS = ("172.29.0.0/24", "172.30.0.0/24", "172.31.0.0/24", "10.29.0.0/24",
                     "10.30.0.0/24", "192.168.229.0/24")


def parse_subnet(text: str) -> IPv4Network:
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {text!r}: {e}") from None
    if net.prefixlen > 30:
        raise InvalidArgument("subnet must be /30 or larger")
    return net


def gateway(subnet: IPv4Network) -> IPv4Address:
    """The bridge's own address: the first host address."""
    return subnet.network_address + 1


def parse_gateway(text: str, subnet: IPv4Network) -> IPv4Address:
    """An explicit gateway: an IPv4 host address of `subnet` (not its network or broadcast)."""
    try:
        gw = ipaddress.IPv4Address(text)
    except ValueError as e:
        raise InvalidArgument(f"invalid gateway {text!r}: {e}") from None
    if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
        raise InvalidArgument(f"gateway {gw} is not a host address of subnet {subnet}")
    return gw


def next_free(subnet: IPv4Network, taken: Iterable[IPv4Address | str],
              gw: IPv4Address | None = None, *, among: int = 1,
              rng: random.Random | None = None) -> IPv4Address:
    """A host address that is not the network, gateway, broadcast or taken: the lowest one
    with `among` 1, else one chosen at random (`rng`, default `random`) among the `among`
    lowest free ones, so that allocations that lost a race to the lowest spread out instead
    of all trying the same next one. Conflict when none is free. Taken strings are dotted
    quads as `str(IPv4Address)` writes them (the Endpoint rows'; a `/32` suffix is
    ignored). Works on integers: one address object per call, not one per taken or scanned
    address (a start's allocation in a burst of 100 parsed ~170 of them; issue 13)."""
    used = {_as_int(t) for t in taken}
    used.add(int(gw or gateway(subnet)))
    free: list[int] = []
    for n in _host_ints(subnet):
        if n not in used:
            free.append(n)
            if len(free) >= among:
                break
    if not free:
        raise Conflict(f"no free IP address left in {subnet}")
    return IPv4Address(free[0] if len(free) == 1 else (rng or random).choice(free))


def _as_int(ip: IPv4Address | str) -> int:
    if isinstance(ip, IPv4Address):
        return int(ip)
    return int.from_bytes(socket.inet_aton(ip.split("/", 1)[0]), "big")  # PostgreSQL's inet: a/32


def _host_ints(subnet: IPv4Network) -> Iterable[int]:
    """`subnet.hosts()` as integers, lowest first."""
    if subnet.prefixlen >= 31:  # hosts() has its own rules there
        return [int(h) for h in subnet.hosts()]
    return range(int(subnet.network_address) + 1, int(subnet.broadcast_address))


def mac_for(ip: IPv4Address) -> str:
    """Docker's scheme: 02:42 + the four bytes of the IPv4 address (locally administered)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def pick_subnet(in_use: Iterable[IPv4Network]) -> IPv4Network:
    """The first candidate that overlaps none of the host's routes/addresses."""
    used = list(in_use)
    for text in CANDIDATE_SUBNETS:
        net = ipaddress.IPv4Network(text)
        if not any(net.overlaps(u) for u in used):
            return net
    raise Conflict("no free private subnet for the bridge: set DOCKERWEB_SUBNET")


def parse_pool(text: str, prefix: int) -> IPv4Network:
    """The user networks' address pool: a subnet to cut into /`prefix` subnets."""
    pool = parse_subnet(text)
    if not pool.prefixlen <= prefix <= 30:
        raise InvalidArgument(f"pool size /{prefix} does not fit pool {pool}")
    return pool


def check_free(net: IPv4Network, in_use: Iterable[IPv4Network]) -> None:
    """Conflict (409) when `net` overlaps any of `in_use` (networks, host routes)."""
    for used in in_use:
        if net.overlaps(used):
            raise Conflict(f"invalid pool request: subnet {net} overlaps with {used}")


def pool_free(pool: IPv4Network, prefix: int, in_use: Iterable[IPv4Network]) -> Iterator[IPv4Network]:
    """The /`prefix` subnets of `pool` that overlap none of `in_use`, lowest first."""
    used = list(in_use)
    for net in pool.subnets(new_prefix=prefix):
        if not any(net.overlaps(u) for u in used):
            yield net
