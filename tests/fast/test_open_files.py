"""The launcher raises the open-file soft limit to the hard limit for what it runs (the
worker holds a pidfd per running container and a socket per calling request thread)."""

import subprocess
import sys

from dockerweb.launch import REPO

CODE = """
import resource
from dockerweb import launch
N = resource.RLIMIT_NOFILE
resource.setrlimit(N, (256, resource.getrlimit(N)[1]))
new = launch.raise_open_files()
soft, hard = resource.getrlimit(N)
print(new == soft == hard)
"""


def test_raise_open_files_lifts_the_soft_limit_to_the_hard_one():
    out = subprocess.run([sys.executable, "-c", CODE], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True", out.stderr
