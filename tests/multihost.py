"""Two simulated hosts of one installation on this machine (issue 16): for tests/test_hosts.py
and bench/bench_hosts.py. Each host has its own host name, state root, bridge, subnet, nft
table, cgroup parent and Docker API TCP port; both share one PostgreSQL and one Redis (host
A's) and one secret key. On leaving: every container removed, then each host's leftovers
checked (tests/leaks.py) and its network removed (`manage.py teardown`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from tests import leaks
from tests.stack import Stack, free_port

SECRET = secrets.token_hex(32)  # every host of one installation shares the secret key


def host_env(run: str, tag: str, n: int, postgres_url: str, redis_sock: str | None,
             stale_s: str = "3") -> dict[str, str]:
    env = {"DATABASE_URL": postgres_url, "DOCKERWEB_HOST": f"host{tag}-{run}",
           "DOCKERWEB_SECRET_KEY": SECRET, "DOCKERWEB_DOCKER_TCP": f"127.0.0.1:{free_port()}",
           "DOCKERWEB_BRIDGE": f"dwt{run}{tag}", "DOCKERWEB_NFT_TABLE": f"dwtest_{run}{tag}",
           "DOCKERWEB_SUBNET": f"10.{210 + n}.{int(run, 16) % 250 + 1}.0/24",
           "DOCKERWEB_CGROUP_PARENT": f"dwtest-{run}-{tag}",
           "DOCKERWEB_HOST_BEAT_S": "0.5", "DOCKERWEB_HOST_STALE_S": stale_s}
    if redis_sock:
        env["DOCKERWEB_REDIS_URL"] = f"unix://{redis_sock}"
    return env


@contextmanager
def two_hosts(root: str, run: str, postgres_url: str) -> Iterator[tuple[Stack, Stack]]:
    """Hosts A (with the Redis) and B, started; yields (a, b). Raises AssertionError listing
    what was left behind, after cleaning it."""
    roots = [os.path.join(root, f"host{t}") for t in "ab"]
    for r in roots:
        os.makedirs(r, exist_ok=True)
    a = Stack(roots[0], env=host_env(run, "a", 0, postgres_url, None))
    b = Stack(roots[1], env=host_env(run, "b", 1, postgres_url, os.path.join(roots[0], "run", "redis.sock")))
    try:
        a.start()
        b.start_joined(a.token)
        yield a, b
    finally:
        problems = []
        a.shutdown()  # removes every container (both hosts': each routed to its own worker)
        b.shutdown()
        for s in (a, b):
            e = s.env
            problems += leaks.on_host(s.root, e["DOCKERWEB_CGROUP_PARENT"], e["DOCKERWEB_BRIDGE"],
                                      e["DOCKERWEB_NFT_TABLE"])
            s.manage("teardown")
            problems += leaks.network_left(e["DOCKERWEB_BRIDGE"], e["DOCKERWEB_NFT_TABLE"])
        assert not problems, problems
