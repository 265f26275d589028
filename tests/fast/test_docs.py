"""Docs that must stay true: the state machine, written down for readers in engine/state.py's
docstring and in docs/ARCHITECTURE.md, is the transition table itself; engine/__init__.py
names every engine module."""

from __future__ import annotations

import re
from pathlib import Path

import containers.engine
from containers.engine import state
from containers.engine.state import TRANSITIONS, State

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"
LINE = re.compile(r"^\s*([a-z]+)\s+-> ([a-z, ]+)$", re.M)


def _listed(text: str) -> dict[State, frozenset[State]]:
    return {State(src): frozenset(State(t.strip()) for t in targets.split(","))
            for src, targets in LINE.findall(text)}


def test_the_docstring_lists_the_transition_table():
    assert _listed(state.__doc__) == TRANSITIONS


def test_architecture_lists_the_transition_table():
    assert _listed(ARCHITECTURE.read_text()) == TRANSITIONS


def test_the_engine_package_names_every_module():
    named = set(re.findall(r"[a-z_]+", containers.engine.__doc__))
    modules = {p.stem for p in Path(containers.engine.__file__).parent.glob("*.py")} - {"__init__"}
    assert modules <= named, sorted(modules - named)
