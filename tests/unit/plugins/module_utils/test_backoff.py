# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

import itertools

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils.backoff import Deadline, delays, poll_until


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_delays_grow_and_cap():
    assert list(itertools.islice(delays(1, 2, 5), 6)) == [1, 2, 4, 5, 5, 5]


@pytest.mark.parametrize("args, match", [((0, 2, 5), "positive"), ((1, 0.5, 5), "factor"), ((3, 2, 1), "maximum")])
def test_delays_reject_unbounded_settings(args, match):
    with pytest.raises(ValueError, match=match):
        next(delays(*args))


def test_deadline_rejects_negative_and_expires():
    clock = Clock()
    with pytest.raises(ValueError, match="negative"):
        Deadline(-1, clock)
    deadline = Deadline(10, clock)
    assert deadline.remaining() == 10 and not deadline.expired()
    clock.now = 10
    assert deadline.expired() and deadline.remaining() == 0


def test_poll_until_returns_first_result_with_bounded_sleeps():
    clock = Clock()
    answers = iter([None, None, None, "up"])
    assert poll_until(lambda: next(answers), timeout=60, initial=1, factor=2, maximum=3, clock=clock, sleep=clock.sleep) == "up"
    assert clock.slept == [1, 2, 3]


def test_poll_until_times_out_without_overshooting():
    clock = Clock()
    with pytest.raises(TimeoutError, match="after 10 seconds"):
        poll_until(lambda: None, timeout=10, initial=4, factor=2, maximum=8, clock=clock, sleep=clock.sleep)
    assert clock.now == pytest.approx(10, abs=0.02)
    assert max(clock.slept) <= 8
