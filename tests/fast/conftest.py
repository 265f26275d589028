"""The fast tier: the services (lifecycle, records, events) on the test database against a
FakeEngine. No LXC, no network changes, no root: `make test-fast` runs only these."""

from __future__ import annotations

import itertools

import pytest
from django.conf import settings

from containers import networking
from containers.engine.state import State
from containers.models import Container, Endpoint, Image, Network
from containers.runtime import use
from tests.fakeengine import FakeEngine

_ids = itertools.count(1)


class _NoHostNetwork:
    """Stands in for engine.net.bridge and engine.net.portmap in containers.networking: the rows are
    real, the bridge and the nft rules are not touched."""

    EPHEMERAL = range(32768, 61000)

    def __init__(self):
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, *args))
            return {"exists": True, "host_networks": [], "sweep": [], "owners": [],
                    "port_free": True}.get(name)
        return record


@pytest.fixture
def fake(db, tmp_path, monkeypatch):
    """The FakeEngine in place of the real one; networking's host effects switched off."""
    host_net = _NoHostNetwork()
    monkeypatch.setattr(networking, "bridge", host_net)
    monkeypatch.setattr(networking, "portmap", host_net)
    monkeypatch.setattr(networking, "_verified_at", {})
    from containers import lifecycle

    monkeypatch.setattr(lifecycle, "AUTO_REMOVE_GRACE", 0)  # no timer threads: removal at once
    eng = FakeEngine(str(tmp_path / "state"))
    eng.host_network = host_net
    with use(eng):
        yield eng


@pytest.fixture
def image(db) -> Image:
    return Image.objects.create(id="a" * 64)


@pytest.fixture
def make(image):
    """make(state, **fields) -> a container record on this host."""

    def make(state: State = State.RUNNING, **fields) -> Container:
        n = next(_ids)
        cid = f"{n:064x}"
        values = {"name": f"c{n}", "image": image, "image_ref": "busybox", "spec": {},
                  "hostname": cid[:12], "host": settings.DOCKERWEB_HOST, "state": state.value,
                  "supervisor_pid": 100 if state in (State.RUNNING, State.STOPPING) else None}
        return Container.objects.create(id=cid, **{**values, **fields})

    return make


@pytest.fixture
def endpoint_of(db):
    """endpoint_of(container) -> an Endpoint row on the default network's record."""
    net = Network.objects.create(name="bridge", bridge="dwfake0", subnet="10.213.0.0/24",
                                 gateway="10.213.0.1")
    hosts = itertools.count(2)

    def endpoint_of(c: Container) -> Endpoint:
        n = next(hosts)
        return Endpoint.objects.create(container=c, network=net, ip=f"10.213.0.{n}", prefix=24,
                                       gateway="10.213.0.1", mac=f"02:42:0a:d5:00:{n:02x}",
                                       veth=f"vethf{n}")

    return endpoint_of
