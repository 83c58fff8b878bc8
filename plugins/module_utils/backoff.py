# SPDX-License-Identifier: Apache-2.0
"""Bounded exponential backoff and deadlines for polling the Nova API.

Clock and sleep are injectable so unit tests run without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


def validate(initial: float, factor: float, maximum: float) -> None:
    """Raise ValueError for a backoff that would spin or never grow sensibly."""
    if initial <= 0:
        raise ValueError(f"initial delay must be positive, got {initial}")
    if factor < 1:
        raise ValueError(f"backoff factor must be at least 1, got {factor}")
    if maximum < initial:
        raise ValueError(f"maximum delay {maximum} is below the initial delay {initial}")


def delays(initial: float = 1.0, factor: float = 1.5, maximum: float = 10.0) -> Iterator[float]:
    """Yield initial, initial*factor, ... capped at ``maximum``, forever."""
    validate(initial, factor, maximum)
    delay = initial
    while True:
        yield delay
        delay = min(delay * factor, maximum)


class Deadline:
    """A point in time ``seconds`` from now on ``clock``."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds < 0:
            raise ValueError(f"timeout must not be negative, got {seconds}")
        self._clock = clock
        self.at = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self.at


def poll_until(
    probe: Callable[[], T | None],
    timeout: float,
    initial: float = 1.0,
    factor: float = 1.5,
    maximum: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``probe`` until it returns something other than None.

    Sleeps follow ``delays`` and never overshoot the deadline; raises
    TimeoutError once ``timeout`` seconds have passed without a result.
    """
    deadline = Deadline(timeout, clock)
    for delay in delays(initial, factor, maximum):
        result = probe()
        if result is not None:
            return result
        if deadline.expired():
            raise TimeoutError(f"no result after {timeout:g} seconds")
        sleep(min(delay, max(deadline.remaining(), 0.01)))
    raise AssertionError("unreachable")  # pragma: no cover
