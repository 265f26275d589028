"""The user networks' name service, run by the worker: one DNS server (UDP and TCP) per user
network on its gateway address (the bridge's own, on the host) port 53, which the containers'
/etc/resolv.conf names. Answers as Docker's embedded DNS: the container names, network
aliases and short ids of the containers on the asker's user networks (looked up in the
records at each query: always current), everything else forwarded to the host's resolvers
(engine/net/dnsmsg.py). Only containers of that network are answered (the source address
must be an endpoint on it): another network's containers learn nothing here.

Lifetime: `Service.sync` binds a server for every user network whose bridge has its address
and closes those of removed networks; the worker runs it at boot, after each network change
(`changed`, from any thread) and at each reconcile. A worker restart leaves the containers
without answers until the new worker's boot (about a second under supervisord); their
resolvers retry.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q

from containers.asyncstream import in_thread
from containers.engine.net import dnsmsg, netconf
from containers.models import Endpoint, Membership, Network
from containers.runtime import host_name

log = logging.getLogger("dockerweb.dns")
PORT = 53
# queries are answered in these threads, which keep their database connection between
# queries (a fresh connection per query, as in_thread makes, costs more than the query)
_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dns")


def _asker_networks(src: str, gateway: str) -> list[int] | None:
    """Ids of the user networks of the container at `src`, or None when `src` is no endpoint
    on the network served at `gateway`."""
    mine = Endpoint.objects.filter(ip=src, network__gateway=gateway).exclude(network__name="bridge").first()
    if mine is None:
        return None
    return list(Endpoint.objects.filter(container_id=mine.container_id).exclude(network__name="bridge")
                .values_list("network_id", flat=True))


def lookup_names(name: str, nets: list[int]) -> list[str] | None:
    """Addresses of `name` (container name, alias on that network, or 12-hex short id) on the
    networks `nets`; None when no container there has that name."""
    short = name if len(name) == 12 and all(ch in "0123456789abcdef" for ch in name) else None
    alias_pairs = {(cid, nid) for cid, nid, aliases in Membership.objects.filter(network_id__in=nets)
                   .values_list("container_id", "network_id", "aliases")
                   if name in (a.lower() for a in aliases)}
    match = Q(container__name__iexact=name)
    if short:
        match |= Q(container__id__startswith=short)
    ips = [ip for cid, nid, ip in Endpoint.objects.filter(network_id__in=nets)
           .values_list("container_id", "network_id", "ip") if (cid, nid) in alias_pairs]
    ips += Endpoint.objects.filter(match, network_id__in=nets).values_list("ip", flat=True)
    return list(dict.fromkeys(ips)) or None


def lookup_address(ip: IPv4Address, nets: list[int]) -> str | None:
    """PTR: the container name at `ip` on `nets`; "" for a free address of those subnets
    (NXDOMAIN); None elsewhere (forwarded)."""
    ep = Endpoint.objects.filter(ip=str(ip), network_id__in=nets).select_related("container").first()
    if ep is not None:
        return ep.container.name
    subnets = Network.objects.filter(pk__in=nets).values_list("subnet", flat=True)
    return "" if any(ip in ipaddress.IPv4Network(s) for s in subnets) else None


def answer_in_thread(packet: bytes, src: str, gateway: str) -> bytes | None:
    """`answer` in a _THREADS thread: a broken database connection is closed (the next query
    opens a new one) and the query tried once more."""
    try:
        return answer(packet, src, gateway)
    except DatabaseError:
        connection.close()
        return answer(packet, src, gateway)


def answer(packet: bytes, src: str, gateway: str) -> bytes | None:
    """The reply to a query from `src` to the server at `gateway` (None: no reply)."""
    nets = _asker_networks(src, gateway)
    if nets is None:
        return None  # not a container of this network
    forward = dnsmsg.forward_to(dnsmsg.upstreams(netconf.host_resolv(), settings.DOCKERWEB_DNS_UPSTREAMS))
    return dnsmsg.reply(packet, lambda n: lookup_names(n, nets),
                        lambda ip: lookup_address(ip, nets), forward)


class _Server(asyncio.DatagramProtocol):
    """One network's server. At most IN_FLIGHT queries are answered at a time (each is a
    few database reads, or a forward of up to FORWARD_TIMEOUT per upstream, in a thread);
    a container flooding it gets the rest dropped, as an overloaded resolver would."""

    IN_FLIGHT = 32

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway
        self.transport: asyncio.DatagramTransport | None = None
        self.busy = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if self.busy >= self.IN_FLIGHT:
            return
        self.busy += 1
        asyncio.get_running_loop().create_task(self._reply(data, addr))

    async def _reply(self, data: bytes, addr) -> None:
        try:
            out = await asyncio.get_running_loop().run_in_executor(
                _THREADS, answer_in_thread, data, addr[0], self.gateway)
        except Exception:
            log.exception("DNS query on %s failed", self.gateway)
            return
        finally:
            self.busy -= 1
        if out is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(dnsmsg.fit_udp(data, out), addr)


class _TcpServer:
    """One network's DNS over TCP (RFC 7766: each message after its 2-byte length), for
    answers too long for a datagram; at most CONNECTIONS at a time, IDLE seconds each."""

    CONNECTIONS = 16
    IDLE = 10.0

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway
        self.open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open >= self.CONNECTIONS:
            writer.close()
            return
        self.open += 1
        src = writer.get_extra_info("peername")[0]
        loop = asyncio.get_running_loop()
        try:
            while True:
                size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), self.IDLE), "big")
                packet = await asyncio.wait_for(reader.readexactly(size), self.IDLE)
                out = await loop.run_in_executor(_THREADS, answer_in_thread, packet, src, self.gateway)
                if out is None:
                    return
                writer.write(len(out).to_bytes(2, "big") + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return
        except Exception:
            log.exception("DNS over TCP on %s failed", self.gateway)
        finally:
            self.open -= 1
            writer.close()


class Service:
    """The worker's DNS servers, by gateway address: UDP and TCP."""

    instance: Service | None = None

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.servers: dict[str, asyncio.DatagramTransport] = {}
        self.tcp: dict[str, asyncio.Server] = {}
        self._pending = False

    async def sync(self) -> None:
        """Serve every user network's gateway; stop serving removed ones."""
        self._pending = False
        wanted = set(await in_thread(
            lambda: list(Network.objects.filter(host=host_name()).exclude(name="bridge")
                         .values_list("gateway", flat=True)))())
        for gw in set(self.servers) - wanted:
            self.servers.pop(gw).close()
        for gw in set(self.tcp) - wanted:
            self.tcp.pop(gw).close()
        for gw in wanted - set(self.servers):
            try:
                transport, _ = await self.loop.create_datagram_endpoint(
                    lambda gw=gw: _Server(gw), local_addr=(gw, PORT))
            except OSError as e:
                log.warning("DNS on %s:%d not served yet: %s", gw, PORT, e)
                continue
            self.servers[gw] = transport
        for gw in wanted - set(self.tcp):
            try:
                self.tcp[gw] = await asyncio.start_server(_TcpServer(gw).handle, gw, PORT,
                                                          reuse_address=True)
            except OSError as e:
                log.warning("DNS over TCP on %s:%d not served yet: %s", gw, PORT, e)

    def sync_soon(self) -> None:
        """Schedule a sync from any thread (coalesced)."""
        if not self._pending:
            self._pending = True
            self.loop.call_soon_threadsafe(lambda: self.loop.create_task(self.sync()))

    def close(self) -> None:
        for transport in self.servers.values():
            transport.close()
        for server in self.tcp.values():
            server.close()
        self.servers.clear()
        self.tcp.clear()


def changed() -> None:
    """Networks changed: re-sync the servers (nothing outside the worker)."""
    if Service.instance is not None:
        Service.instance.sync_soon()
