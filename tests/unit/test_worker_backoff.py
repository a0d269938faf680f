"""Retry backoff: exponential, capped, jittered within bounds."""

from __future__ import annotations

import pytest

from conveyor.handlers import Backoff


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 60.0), (10_000, 60.0)],
)
def test_schedule_without_jitter_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    backoff = Backoff(base=1.0, factor=2.0, cap=60.0, jitter=0.0)
    assert backoff.delay(attempt, rand=lambda: 0.99) == expected


def test_jitter_spreads_the_delay_between_the_fixed_part_and_the_ceiling() -> None:
    backoff = Backoff(base=10.0, factor=2.0, cap=100.0, jitter=0.5)
    assert backoff.delay(1, rand=lambda: 0.0) == 5.0
    assert backoff.delay(1, rand=lambda: 0.5) == 7.5
    assert backoff.delay(3, rand=lambda: 1.0) == 40.0


def test_invalid_backoff_is_refused() -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(factor=0.5)
