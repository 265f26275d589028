"""Docs that must stay true: the state machine, written down for readers in engine/state.py's
docstring and in docs/ARCHITECTURE.md, is the transition table itself; engine/__init__.py
names every engine subpackage and module."""

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
    """Each subpackage as `name/` and each module by its name, under its subpackage's item."""
    doc = containers.engine.__doc__
    root = Path(containers.engine.__file__).parent
    items = {m.group(1) or "": set(re.findall(r"[a-z_]+", m.group(2)))
             for m in re.finditer(r"^- (?:([a-z]+)/)?(.*(?:\n  .*)*)", doc, re.M)}
    listed = {(sub, name) for sub, names in items.items() for name in names}
    found = {(p.parent.relative_to(root).as_posix().replace(".", ""), p.stem)
             for p in root.rglob("*.py") if p.stem != "__init__"}
    assert found <= listed, sorted(found - listed)
    subpackages = {p.parent.name for p in root.glob("*/__init__.py")}
    assert subpackages == set(items) - {""}, (subpackages, set(items))
