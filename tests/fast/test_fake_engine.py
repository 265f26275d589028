"""The FakeEngine must not drift from the Engine it stands in for."""

from __future__ import annotations

import inspect

from containers import runtime
from containers.engine.facade import Engine
from tests.fakeengine import FakeEngine

SCRIPT = {"running", "exited", "unreadable", "dead", "called"}  # the fake's own, for the tests


def _public(cls) -> dict[str, inspect.Signature]:
    return {n: inspect.signature(f) for n, f in inspect.getmembers(cls, inspect.isfunction)
            if not n.startswith("_")}


def test_every_method_of_the_fake_is_an_engine_method_with_its_parameters():
    engine, fake = _public(Engine), _public(FakeEngine)
    assert set(fake) - SCRIPT <= set(engine)
    for name in set(fake) - SCRIPT:
        assert list(fake[name].parameters) == list(engine[name].parameters), name


def test_use_puts_an_engine_in_place_and_restores_the_previous_one(tmp_path):
    outer, inner = FakeEngine(str(tmp_path / "a")), FakeEngine(str(tmp_path / "b"))
    with runtime.use(outer):
        assert runtime.engine() is outer
        with runtime.use(inner):
            assert runtime.engine() is inner
        assert runtime.engine() is outer
    assert runtime._override is None
