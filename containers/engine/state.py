"""The container state machine: states, legal transitions, guards.

Legal transitions (exactly TRANSITIONS below; tests/fast/test_docs.py keeps them equal):

    created  -> starting, removing, dead
    starting -> running, exited, dead, created
    running  -> stopping, exited, dead
    stopping -> exited, dead, running
    exited   -> starting, removing, dead
    dead     -> starting, removing
    removing -> dead

Start: created/exited/dead -> starting -> running. A failed start goes starting -> exited
(with an error and an exit code); a start refused before anything ran (a host port in use)
goes back to where it was: starting -> created/exited/dead. Stop: running -> stopping ->
exited (stopping -> running when even SIGKILL did not end it). Every state but dead may go
to dead: a lost supervisor (starting/running/stopping) or a failed removal (removing; a later
remove retries). Remove: created/exited/dead -> removing -> (row deleted).
"""

from enum import Enum

from .errors import IllegalTransition


class State(str, Enum):
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    EXITED = "exited"
    DEAD = "dead"
    REMOVING = "removing"


S = State

TRANSITIONS: dict[State, frozenset[State]] = {
    S.CREATED: frozenset({S.STARTING, S.REMOVING, S.DEAD}),
    S.STARTING: frozenset({S.RUNNING, S.EXITED, S.DEAD, S.CREATED}),  # created: start aborted
    S.RUNNING: frozenset({S.STOPPING, S.EXITED, S.DEAD}),
    S.STOPPING: frozenset({S.EXITED, S.DEAD, S.RUNNING}),
    S.EXITED: frozenset({S.STARTING, S.REMOVING, S.DEAD}),
    S.DEAD: frozenset({S.REMOVING, S.STARTING}),
    S.REMOVING: frozenset({S.DEAD}),
}

#: States in which a supervisor may be alive (the container "is up" or about to be).
ACTIVE = frozenset({S.STARTING, S.RUNNING, S.STOPPING})


def can(current: State | str, target: State | str) -> bool:
    """True when `current -> target` is a legal transition."""
    return State(target) in TRANSITIONS[State(current)]


def sources(target: State | str) -> frozenset[State]:
    """All states from which `target` may be reached (for conditional UPDATEs)."""
    t = State(target)
    return frozenset(s for s, targets in TRANSITIONS.items() if t in targets)


def check(current: State | str, target: State | str, action: str) -> None:
    """Raise IllegalTransition (409) when `action` may not move `current` to `target`."""
    if not can(current, target):
        raise IllegalTransition(
            f"cannot {action} container: it is {State(current).value}"
        )
