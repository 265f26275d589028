"""Restart policies, as Docker's restart manager (moby restartmanager): which exits restart
a container, and after how long.

Policies: "no", "always", "unless-stopped", "on-failure" (with an optional maximum retry
count; 0 = no maximum). A container stopped by its user (stop, kill) is never restarted
until its next start, whatever the policy. Back-off: 100 ms before the first restart, doubled
at each further restart, at most a minute; a run that lasted 10 s or more starts the
back-off again from 100 ms. Pure functions, no Django: the worker keeps the state in the
database (containers/restarts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument, shown

NO, ALWAYS, UNLESS_STOPPED, ON_FAILURE = "no", "always", "unless-stopped", "on-failure"
POLICIES = (NO, ALWAYS, ON_FAILURE, UNLESS_STOPPED)
FIRST_DELAY_MS = 100  # Docker's defaultTimeout
MAX_DELAY_MS = 60_000  # Docker's maxRestartTimeout
RESET_AFTER_S = 10.0  # a run this long resets the back-off


@dataclass(frozen=True)
class Decision:
    """What to do after an exit: restart after `delay_ms`, or not (`delay_ms` is then the
    back-off to carry on with)."""

    restart: bool
    delay_ms: int


def validate(name: Any, max_retries: Any) -> None:
    """Docker's ValidateRestartPolicy, with its messages. "" means "no"."""
    if not isinstance(name, str):
        raise InvalidArgument("invalid restart policy: the name must be a string")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        raise InvalidArgument("invalid restart policy: maximum retry count must be an integer")
    if name in (NO, ALWAYS, UNLESS_STOPPED, ""):
        if max_retries != 0:
            negative = " and cannot be negative" if max_retries < 0 else ""
            raise InvalidArgument("invalid restart policy: maximum retry count can only be used "
                                  f"with 'on-failure'{negative}")
        return
    if name == ON_FAILURE:
        if max_retries < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
        return
    raise InvalidArgument(f"invalid restart policy: unknown policy {shown(name)}; use one of "
                          "'no', 'always', 'on-failure', or 'unless-stopped'")


def parse(text: str) -> tuple[str, int]:
    """The CLI's form "on-failure:3", "always", ... as (name, maximum retry count)."""
    name, _, count = text.partition(":")
    if count and not count.isdigit():
        raise InvalidArgument(f"invalid restart policy: maximum retry count {shown(count)} "
                              "must be a whole number")
    retries = int(count) if count else 0
    validate(name, retries)
    return name or NO, retries


def next_delay(previous_ms: int, ran_for_s: float) -> int:
    """The back-off before the next restart: 100 ms at first and after a run of 10 s or
    more, else double the previous one, at most a minute."""
    if previous_ms <= 0 or ran_for_s >= RESET_AFTER_S:
        return FIRST_DELAY_MS
    return min(previous_ms * 2, MAX_DELAY_MS)


def decide(name: str, max_retries: int, exit_code: int, restart_count: int, stopped_by_user: bool,
           previous_delay_ms: int, ran_for_s: float) -> Decision:
    """Whether a container that just exited with `exit_code` (-1: unknown, a failure)
    restarts, as Docker's ShouldRestart: never after a stop by its user; always for
    "always" and "unless-stopped"; for "on-failure" when the exit code is not 0 and fewer
    than `max_retries` restarts were made (0: no maximum)."""
    delay = next_delay(previous_delay_ms, ran_for_s)
    if stopped_by_user:
        return Decision(False, delay)
    if name in (ALWAYS, UNLESS_STOPPED):
        return Decision(True, delay)
    if name == ON_FAILURE and exit_code != 0 and (max_retries == 0 or restart_count < max_retries):
        return Decision(True, delay)
    return Decision(False, delay)


def restarts_at_boot(name: str, stopped_by_user: bool) -> bool:
    """Whether the worker's boot starts a container that is not running: "always" and
    "unless-stopped" ones that were not stopped by their user (Docker's daemon start, minus
    its restart of user-stopped "always" containers: here the worker restarted, not the
    host, and a user's stop holds until the user's next start)."""
    return name in (ALWAYS, UNLESS_STOPPED) and not stopped_by_user
