"""`manage.py teardown`: remove what a stopped dockerweb leaves on the host for its state root:
the bridges of its networks (user networks' too, by record and by name prefix), its nft table
(with the user networks' rules), its cgroup parent, stale sockets under `<state>/run/` and
the tmpfs of `<state>/runtime/` (engine/fs/runroot.py). Refused (exit 1, touching nothing)
while the stack runs on this state root or while any container runs, listing them;
containers outlive the stack by design, so stop or remove them first. Records, images and
the state root itself are kept: the next `make run` re-makes the bridge and table.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from containers.engine import state as sm
from containers.engine.fs import runroot
from containers.engine.layout import Layout
from containers.engine.net import bridge, portmap
from containers.engine.run import cgroups
from containers.models import Container, Network
from containers.runtime import host_name
from dockerweb import instancelock

SOCKETS = ("docker.sock", "redis.sock", "supervisor.sock", "worker.sock")


class Command(BaseCommand):
    help = ("Remove the bridge, nft table, cgroup parent, stale sockets and runtime tmpfs when no "
            "container runs.")

    def handle(self, *args, **options):
        root = settings.STATE_ROOT
        held = instancelock.running(root)
        if held:
            raise CommandError(f"{instancelock.describe(*held)}: stop it first")
        running = self.running()
        if running:
            raise CommandError("containers are running; stop or remove them first:\n  "
                               + "\n  ".join(running))
        parent = settings.DOCKERWEB_CGROUP_PARENT
        mine = Network.objects.filter(host=host_name())  # other hosts' bridges are theirs
        bridges = {settings.DOCKERWEB_BRIDGE, *mine.values_list("bridge", flat=True),
                   *bridge.named(settings.DOCKERWEB_NETWORK_BRIDGE_PREFIX)}
        portmap.remove_table(settings.DOCKERWEB_NFT_TABLE)
        self.stdout.write(f"nft table {settings.DOCKERWEB_NFT_TABLE}: removed")
        for name in sorted(bridges):
            if bridge.exists(name):
                bridge.remove(name)
                self.stdout.write(f"bridge {name}: removed")
        cgroups.remove_parent(parent)
        left = cgroups.leftovers(parent)
        self.stdout.write(f"cgroup parent {parent}: " + (f"kept, busy: {left}" if left else "removed"))
        for sock in SOCKETS:
            path = os.path.join(settings.RUN_DIR, sock)
            if os.path.exists(path):
                os.unlink(path)
                self.stdout.write(f"socket {path}: removed")
        runtime = Layout(root).runtime
        runroot.release(runtime)
        self.stdout.write(f"runtime directory {runtime}: not mounted")

    def running(self) -> list[str]:
        """'<id12> <name> (<why>)' of every container that may still run: its record says so,
        or its cgroups still hold processes."""
        out = {}
        active = [s.value for s in sm.ACTIVE]
        for cid, name, st in Container.objects.filter(state__in=active).values_list(
                "id", "name", "state"):
            out[cid] = f"{cid[:12]} {name} ({st})"
        names = dict(Container.objects.values_list("id", "name"))
        for group in cgroups.busy(settings.DOCKERWEB_CGROUP_PARENT):
            cid = group.removesuffix(".monitor")
            out.setdefault(cid, f"{cid[:12]} {names.get(cid, '?')} (processes in its cgroup)")
        return sorted(out.values())
