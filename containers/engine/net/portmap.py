"""Port mappings and NAT in an nftables table of our own (the `nft` CLI: pyroute2's
nftables API needs DNAT built from raw expressions, see host-facts.md).

Table `ip <table>`:
  prerouting (nat, dstnat)   DNAT for traffic from other hosts and containers
  output     (nat, dstnat)   DNAT for traffic from this host (127.0.0.1 and own addresses)
  postrouting (nat, srcnat)  MASQUERADE: egress of the subnet; 127.0.0.0/8 leaving on the
                             bridge (route_localnet); DNAT'ed traffic from the subnet back into
                             it (hairpin: the answer must come back through us)
  forward    (filter)        accept to/from the bridge
  loopback   (filter, prerouting after dstnat)  the CVE-2020-8558 guard: route_localnet lets
                             packets for 127.0.0.0/8 in from the bridge, so drop those (and any
                             127.0.0.0/8 source) unless they belong to our DNAT or are replies
  isolation  (filter, forward, before `forward`)  Docker's DOCKER-ISOLATION chains: nothing
                             goes from one of our bridges (set `bridges`) to another, except
                             DNAT'ed traffic (published ports stay reachable from everywhere)
Per-mapping rules carry the container id as comment, so they are removed per container
and swept for containers that no longer run. A user network's rules (the same ones as the
default bridge's, for its own bridge and subnet) carry "net:<bridge>" and are added and
removed with the network (`ensure_network`, `remove_network`); sweeps never touch them.
"""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Network

from ..errors import Conflict, EngineError, InvalidArgument

EPHEMERAL = range(49153, 65536)


@dataclass(frozen=True)
class Mapping:
    host_ip: str  # "" = every host address
    host_port: int
    proto: str  # tcp | udp
    container_ip: str
    container_port: int


def _nft(script: str) -> None:
    p = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if p.returncode != 0:
        raise EngineError(f"nft failed: {p.stderr.strip()}")


def _list(table: str) -> list[dict]:
    p = subprocess.run(["nft", "-j", "-a", "list", "table", "ip", table], capture_output=True, text=True)
    if p.returncode != 0:
        return []
    return json.loads(p.stdout).get("nftables", [])


NET_TAG = "net:"  # comment prefix of a user network's rules


def ensure_table(table: str, bridge: str, subnet: IPv4Network) -> None:
    """Create (or re-create) the base table and chains. Per-container rules are kept. A table
    made by an older version gets the loopback guard and the isolation chain added."""
    listing = _list(table)
    if listing:
        if not any(item.get("chain", {}).get("name") == "loopback" for item in listing):
            _nft(f"table ip {table} {{\n{_loopback_chain(bridge)}}}\n")
        if not any(item.get("chain", {}).get("name") == "isolation" for item in listing):
            _nft(f"table ip {table} {{\n{_isolation(bridge)}}}\n")
        return
    rules = "".join(f"add rule ip {table} {chain} {rule}\n" for chain, rule in _network_rules(bridge, subnet))
    _nft(f"""
table ip {table} {{
  set bridges {{ type ifname; elements = {{ "{bridge}" }} }}
  chain isolation {{ type filter hook forward priority -10; policy accept; ct status dnat accept; }}
  chain prerouting {{ type nat hook prerouting priority -100; policy accept; }}
  chain output {{ type nat hook output priority -100; policy accept; }}
  chain postrouting {{ type nat hook postrouting priority 100; policy accept; }}
  chain forward {{ type filter hook forward priority 0; policy accept; }}
  chain loopback {{ type filter hook prerouting priority -90; policy accept; }}
}}
{rules}""")


def _loopback_rules(bridge: str) -> list[str]:
    """The host's loopback stays the host's (the kube-proxy CVE-2020-8558 fix).

    route_localnet=1 on the bridge (needed for 127.0.0.1 -> container mappings) also lets a
    container that routes 127.0.0.0/8 to its gateway reach services listening on the host's
    127.0.0.1. Runs after our DNAT (priority -100), before routing, on every packet that
    arrives from the bridge:
    - a 127.0.0.0/8 source is always a spoof (containers have their own loopback; replies
      still carry the container's address here, their source is un-NATed later). Dropped
      first, so a spoofed packet can never pass as the reply of a host-local connection;
    - a 127.0.0.0/8 destination passes only as a reply of a connection the host made (its
      127.0.0.1 -> published port connections: the answer was de-masqueraded back to
      127.0.0.1 at -100) or as DNAT'ed traffic; our own published-port DNAT has already
      rewritten the destination to a container address, so it never matches here.
    Everything else for 127.0.0.0/8 is dropped: the SYN of a container never gets an answer."""
    return [f'iifname "{bridge}" ip saddr 127.0.0.0/8 drop',
            f'iifname "{bridge}" ip daddr 127.0.0.0/8 ct direction reply accept',
            f'iifname "{bridge}" ip daddr 127.0.0.0/8 ct status dnat accept',
            f'iifname "{bridge}" ip daddr 127.0.0.0/8 drop']


def _loopback_chain(bridge: str) -> str:
    """The loopback chain with `bridge`'s rules (for a table made before the guard)."""
    rules = "".join(f"    {r}\n" for r in _loopback_rules(bridge))
    return f"""  chain loopback {{
    type filter hook prerouting priority -90; policy accept;
{rules}  }}
"""


def _isolation(bridge: str) -> str:
    """The set of our bridges and the isolation chain, with the default bridge's rule."""
    return f"""  set bridges {{ type ifname; elements = {{ "{bridge}" }} }}
  chain isolation {{
    type filter hook forward priority -10; policy accept;
    ct status dnat accept
    {_isolation_rule(bridge)}
  }}
"""


def _isolation_rule(bridge: str) -> str:
    return f'iifname "{bridge}" oifname != "{bridge}" oifname @bridges drop'


def _network_rules(bridge: str, subnet: IPv4Network) -> list[tuple[str, str]]:
    """(chain, rule) of one bridge network, the default one or a user network: egress
    masquerade of its subnet; masquerade of 127.0.0.0/8 leaving on it (route_localnet) and of
    its own DNAT'ed traffic (hairpin); forward accepts; the loopback guard; isolation."""
    nat = [f'ip saddr {subnet} oifname != "{bridge}" masquerade',
           f'oifname "{bridge}" ip saddr 127.0.0.0/8 masquerade',
           f'oifname "{bridge}" ip saddr {subnet} ct status dnat masquerade']
    return ([("postrouting", r) for r in nat]
            + [("forward", f'iifname "{bridge}" accept'), ("forward", f'oifname "{bridge}" accept')]
            + [("loopback", r) for r in _loopback_rules(bridge)] + [("isolation", _isolation_rule(bridge))])


def ensure_network(table: str, bridge: str, subnet: IPv4Network) -> None:
    """Add the rules of user network `bridge` (and the bridge to the isolation set) unless
    they are there. Call after ensure_table."""
    tag = NET_TAG + bridge
    if any(r.get("comment") == tag for r in _rules(table)):
        return
    lines = [f'add element ip {table} bridges {{ "{bridge}" }}']
    lines += [f'add rule ip {table} {chain} {rule} comment "{tag}"'
              for chain, rule in _network_rules(bridge, subnet)]
    _nft("\n".join(lines) + "\n")


def remove_network(table: str, bridge: str) -> None:
    """Remove the rules and the set element of user network `bridge`. Idempotent."""
    if not _list(table):
        return
    remove(table, NET_TAG + bridge)
    subprocess.run(["nft", "delete", "element", "ip", table, "bridges", f'{{ "{bridge}" }}'],
                   capture_output=True)  # absent already: nothing to do


def networks(table: str) -> set[str]:
    """Bridges of the user networks that have rules in the table."""
    return {r["comment"][len(NET_TAG):] for r in _rules(table)
            if r.get("comment", "").startswith(NET_TAG)}


def remove_table(table: str) -> None:
    if _list(table):
        _nft(f"delete table ip {table}\n")


def _match(m: Mapping) -> str:
    dst = f"ip daddr {m.host_ip}" if m.host_ip else "fib daddr type local"
    return f"{dst} {m.proto} dport {m.host_port}"


def add(table: str, cid: str, mappings: list[Mapping]) -> None:
    """Install DNAT rules for `mappings` of container `cid` (atomically, one nft run)."""
    lines = []
    for m in mappings:
        rule = f'{_match(m)} dnat to {m.container_ip}:{m.container_port} comment "{cid}"'
        lines.append(f"add rule ip {table} prerouting {rule}")
        lines.append(f"add rule ip {table} output {rule}")
    if lines:
        _nft("\n".join(lines) + "\n")


def _rules(table: str) -> list[dict]:
    return [item["rule"] for item in _list(table) if "rule" in item]


def remove(table: str, cid: str) -> None:
    """Delete every rule of container `cid` (every rule with comment `cid`). Idempotent, also
    when another process removes the same rules at the same time (the delete is retried over what is left)."""
    for attempt in range(3):
        doomed = [r for r in _rules(table) if r.get("comment") == cid]
        if not doomed:
            return
        try:
            _nft("".join(f"delete rule ip {table} {r['chain']} handle {r['handle']}\n" for r in doomed))
            return
        except EngineError:
            if attempt == 2:
                raise


def owners(table: str) -> set[str]:
    """Container ids that have rules in the table."""
    return {r["comment"] for r in _rules(table)
            if r.get("comment") and not r["comment"].startswith(NET_TAG)}


def sweep(table: str, keep: set[str]) -> list[str]:
    """Remove the rules of every container not in `keep`; return the ids swept."""
    gone = sorted(owners(table) - keep)
    for cid in gone:
        remove(table, cid)
    return gone


def port_free(proto: str, host_ip: str, port: int) -> bool:
    """True when nothing on this host holds `port` (a bind test, as Docker's allocator)."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host_ip or "0.0.0.0", port))
        except OSError:
            return False
    return True


def check_explicit(proto: str, host_ip: str, port: int) -> None:
    if proto not in ("tcp", "udp"):
        raise InvalidArgument(f"unsupported protocol {proto}")
    if not port_free(proto, host_ip, port):
        raise Conflict(f"Bind for {host_ip or '0.0.0.0'}:{port} failed: port is already allocated")
