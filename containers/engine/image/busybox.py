"""The default image: busybox from the host's static binary (`busybox --install`).

Contract: `populate(root, busybox)` fills an empty directory with the same tree on every call
(owners 0, mtimes 0), so the layer, thus the image id, is the same for the same binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from ..errors import InvalidArgument
from .config import DEFAULT_PATH

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"
EPOCH = "1970-01-01T00:00:00Z"


def populate(root: str, busybox: str = "/bin/busybox") -> None:
    """Lay out a busybox root filesystem in the empty directory `root`."""
    if not os.path.isfile(busybox):
        raise InvalidArgument(f"{busybox} not found: install busybox-static")
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "home", "var",
              "dev", "proc", "sys", "run"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    os.chmod(os.path.join(root, "root"), 0o700)
    shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
    os.chmod(os.path.join(root, "bin", "busybox"), 0o755)
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for rel in applets:
        link = os.path.join(root, rel)
        if rel == "bin/busybox" or os.path.lexists(link):
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)
    for name, text in (("passwd", PASSWD), ("group", GROUP)):
        with open(os.path.join(root, "etc", name), "w") as f:
            f.write(text)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            path = os.path.join(dirpath, n)
            os.lchown(path, 0, 0)
            os.utime(path, (0, 0), follow_symlinks=False)


def image_config(diff_id: str, busybox: str = "/bin/busybox") -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": EPOCH,
        "author": "dockerweb",
        "config": {"Cmd": ["sh"], "Env": [f"PATH={DEFAULT_PATH}"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": EPOCH, "created_by": f"dockerweb: busybox --install from {busybox}"}],
    }
