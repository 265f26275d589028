"""Test settings: every run gets its own state root and cgroup parent (set before the
project settings are read, and inherited by every process the tests start)."""

import os
import secrets
import tempfile

# Always our own values, whatever the calling shell exported (a DOCKERWEB_STATE_ROOT or
# DOCKERWEB_BRIDGE of a real installation must never be used, let alone removed, by a test).
_inherited = os.environ.get("DOCKERWEB_TEST_RUN", "")
if not (_inherited and os.environ.get("DOCKERWEB_STATE_ROOT", "").startswith(f"/tmp/dwt-{_inherited}-")):
    # not a process this very test run started: set everything anew
    RUN_ID = secrets.token_hex(3)
    os.environ["DOCKERWEB_TEST_RUN"] = RUN_ID
    os.environ["DOCKERWEB_STATE_ROOT"] = tempfile.mkdtemp(prefix=f"dwt-{RUN_ID}-", dir="/tmp")
    os.environ["DOCKERWEB_CGROUP_PARENT"] = f"dwtest-{RUN_ID}"
    # own bridge, subnet and nft table per run (10.213.X.0/24, X from the run id)
    os.environ["DOCKERWEB_BRIDGE"] = f"dwt{RUN_ID}"
    os.environ["DOCKERWEB_SUBNET"] = f"10.213.{int(RUN_ID, 16) % 250 + 1}.0/24"
    os.environ["DOCKERWEB_NFT_TABLE"] = f"dwtest_{RUN_ID}"
    # user networks: /28s of 10.216.X.0/24, bridges dwu<run id><6 hex>; their DNS forwards to
    # a closed local port (tests never send a query off the host)
    os.environ["DOCKERWEB_NETWORK_POOL"] = f"10.216.{int(RUN_ID, 16) % 250 + 1}.0/24"
    os.environ["DOCKERWEB_NETWORK_POOL_SIZE"] = "28"
    os.environ["DOCKERWEB_NETWORK_BRIDGE_PREFIX"] = f"dwu{RUN_ID}"
    os.environ["DOCKERWEB_DNS_UPSTREAMS"] = "127.0.0.1:9"
    for _name in ("DATABASE_URL", "DOCKERWEB_REDIS_URL", "DOCKERWEB_BIND", "DOCKERWEB_DOCKER_TCP",
                  "DOCKERWEB_INSECURE_REGISTRIES", "DOCKERWEB_HOST"):
        os.environ.pop(_name, None)  # derived from the state root, or defaults
RUN_ID = os.environ["DOCKERWEB_TEST_RUN"]
# tests never leave the host: a name without a registry (busybox, docker.io/...) would go to
# Docker Hub; here it goes to a closed port on 127.0.0.1 and fails at once
os.environ["DOCKERWEB_DEFAULT_REGISTRY"] = "127.0.0.1:9"
# stats history every 2 s (10 in production), so a test sees a history in seconds
os.environ["DOCKERWEB_STATS_INTERVAL"] = "2"

from dockerweb.settings import *  # noqa: E402,F401,F403
