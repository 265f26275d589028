"""The test run never touches a real installation: whatever the shell exported (as `make`
once did with DOCKERWEB_STATE_ROOT=/var/lib/dockerweb), tests get their own state root,
cgroup parent, bridge and nft table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from tests.conftest import STATE_ROOT

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("DOCKERWEB_STATE_ROOT", "DOCKERWEB_BRIDGE", "DOCKERWEB_NFT_TABLE", "DOCKERWEB_CGROUP_PARENT",
        "DOCKERWEB_DEFAULT_REGISTRY")


def test_this_run_has_its_own_state_root():
    assert STATE_ROOT.startswith("/tmp/dwt-") and os.environ["DOCKERWEB_BRIDGE"].startswith("dwt")


def test_exported_installation_settings_are_ignored():
    real = {"DOCKERWEB_STATE_ROOT": "/var/lib/dockerweb", "DOCKERWEB_BRIDGE": "dw0",
            "DOCKERWEB_NFT_TABLE": "dockerweb", "DOCKERWEB_CGROUP_PARENT": "dockerweb",
            "DOCKERWEB_TEST_RUN": ""}
    code = f"import json, os, tests.settings; print(json.dumps({{k: os.environ[k] for k in {KEYS!r}}}))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **real}, cwd=REPO,
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    try:
        assert got["DOCKERWEB_STATE_ROOT"].startswith("/tmp/dwt-")
        assert got["DOCKERWEB_STATE_ROOT"] != STATE_ROOT  # a run of its own
        assert got["DOCKERWEB_BRIDGE"] != "dw0" and got["DOCKERWEB_NFT_TABLE"] != "dockerweb"
        assert got["DOCKERWEB_CGROUP_PARENT"] != "dockerweb"
        assert got["DOCKERWEB_DEFAULT_REGISTRY"].startswith("127.0.0.1:")
    finally:
        shutil.rmtree(got["DOCKERWEB_STATE_ROOT"], ignore_errors=True)
