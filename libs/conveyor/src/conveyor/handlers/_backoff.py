"""Retry backoff: exponential with full jitter, capped. A pure function of its inputs."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry ``n``: ``min(cap, base * factor**(n-1))``, jittered.

    ``jitter`` is the fraction of the delay that is randomised: 0 gives the exact
    exponential schedule, 1 gives "full jitter" (uniform in [0, delay]). Jitter
    spreads retries of tasks that failed together (e.g. during an outage).
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.factor < 1 or not 0 <= self.jitter <= 1:
            msg = "backoff needs base >= 0, cap >= 0, factor >= 1 and 0 <= jitter <= 1"
            raise ValueError(msg)

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay (seconds) after failed attempt ``attempt`` (from 1)."""
        exponent = max(attempt, 1) - 1
        # Compare in the exponent's domain first so huge attempt numbers cannot overflow.
        if self.base == 0:
            return 0.0
        delay = self.base
        for _ in range(min(exponent, 64)):
            delay *= self.factor
            if delay >= self.cap:
                return self.cap
        return min(delay, self.cap)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The jittered delay (seconds) after failed attempt ``attempt``.

        ``rand`` returns a float in [0, 1); inject it in tests for exact values.
        """
        ceiling = self.ceiling(attempt)
        return ceiling * (1 - self.jitter) + ceiling * self.jitter * rand()
