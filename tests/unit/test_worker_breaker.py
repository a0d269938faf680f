"""Circuit breaker state machine with an injected clock."""

from __future__ import annotations

from conveyor_worker.breaker import Breaker, BreakerPolicy, Breakers, BreakerState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: Breaker) -> BreakerState:
    """The state, read through a call so mypy does not narrow it across transitions."""
    return breaker.state


POLICY = BreakerPolicy(failure_ratio=0.5, min_volume=4, window_seconds=10, open_seconds=5)


def test_stays_closed_below_the_minimum_volume() -> None:
    breaker = Breaker(POLICY, Clock())
    for _ in range(3):
        breaker.record(ok=False)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_opens_at_the_failure_ratio_and_defers_until_the_open_interval_ends() -> None:
    clock = Clock()
    breaker = Breaker(POLICY, clock)
    for ok in (True, False, True, False):
        breaker.record(ok)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.reopens_at == 1005.0
    clock.now = 1004.9
    assert not breaker.allow()


def test_half_open_admits_one_probe_whose_success_closes_it() -> None:
    clock = Clock()
    breaker = Breaker(POLICY, clock)
    for _ in range(4):
        breaker.record(ok=False)
    clock.now += 5
    assert breaker.allow()  # the probe
    assert breaker.state == BreakerState.HALF_OPEN
    assert not breaker.allow()  # only one at a time
    breaker.record(ok=True)
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow()


def test_failed_probe_opens_it_again_for_a_new_interval() -> None:
    clock = Clock()
    breaker = Breaker(POLICY, clock)
    for _ in range(4):
        breaker.record(ok=False)
    clock.now += 6
    assert breaker.allow()
    breaker.record(ok=False)
    assert breaker.state is BreakerState.OPEN
    assert breaker.reopens_at == clock.now + 5


def test_window_resets_old_failures() -> None:
    clock = Clock()
    breaker = Breaker(POLICY, clock)
    for _ in range(3):
        breaker.record(ok=False)
    clock.now += 11
    breaker.record(ok=False)
    assert breaker.state is BreakerState.CLOSED


def test_breakers_are_per_type_and_can_be_disabled() -> None:
    clock = Clock()
    breakers = Breakers(POLICY, clock)
    assert breakers.get("a") is breakers.get("a")
    assert breakers.get("a") is not breakers.get("b")
    assert Breakers(None, clock).get("a") is None
