"""Test settings: every run gets its own state root and cgroup parent (set before the
project settings are read, and inherited by every process the tests start)."""

import os
import secrets
import tempfile

RUN_ID = os.environ.setdefault("DOCKERWEB_TEST_RUN", secrets.token_hex(3))
os.environ.setdefault("DOCKERWEB_STATE_ROOT", tempfile.mkdtemp(prefix=f"dwt-{RUN_ID}-", dir="/tmp"))
os.environ.setdefault("DOCKERWEB_CGROUP_PARENT", f"dwtest-{RUN_ID}")
# own bridge, subnet and nft table per run (10.213.X.0/24, X from the run id)
os.environ.setdefault("DOCKERWEB_BRIDGE", f"dwt{RUN_ID}")
os.environ.setdefault("DOCKERWEB_SUBNET", f"10.213.{int(RUN_ID, 16) % 250 + 1}.0/24")
os.environ.setdefault("DOCKERWEB_NFT_TABLE", f"dwtest_{RUN_ID}")
# tests never leave the host: a name without a registry (busybox, docker.io/...) would go to
# Docker Hub; here it goes to a closed port on 127.0.0.1 and fails at once
os.environ["DOCKERWEB_DEFAULT_REGISTRY"] = "127.0.0.1:9"

from dockerweb.settings import *  # noqa: E402,F401,F403
