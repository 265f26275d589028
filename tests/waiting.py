"""Bounded waits for tests: poll a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(pred: Callable[[], T], timeout: float = 20.0, step: float = 0.05,
          ignore: tuple[type[BaseException], ...] = ()) -> T:
    """Call `pred` every `step` seconds until it returns a truthy value, and return that value.
    Exceptions of the types in `ignore` count as "not yet". Raises AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = pred()
            if value:
                return value
        except ignore:
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met in {timeout} s")
        time.sleep(step)
