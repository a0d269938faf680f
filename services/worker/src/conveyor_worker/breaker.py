"""Per-task-type circuit breaker: stop running a failing type for a while.

Closed: tasks run; outcomes are counted in a tumbling window. When at least
``min_volume`` attempts ended in the window and the failure ratio reaches
``failure_ratio``, the breaker opens. Open: tasks of the type are deferred
through the timer stream without spending an attempt. After ``open_seconds``
it is half-open: one probe task runs; its success closes the breaker, its
failure opens it again. The clock is injected (monotonic seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    """Where a breaker is in its cycle."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and for how long."""

    failure_ratio: float = 0.5
    min_volume: int = 20
    window_seconds: float = 30.0
    open_seconds: float = 30.0


class Breaker:
    """The breaker of one task type."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float]) -> None:
        self._policy = policy  # replaced when run-time limits change it (Breakers.configure)
        self._clock = clock
        self.state = BreakerState.CLOSED
        self._window_start = clock()
        self._total = 0
        self._failed = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def reopens_at(self) -> float:
        """When an open breaker lets a probe through (clock seconds)."""
        return self._opened_at + self._policy.open_seconds

    def allow(self) -> bool:
        """Whether a task of this type may run now (a half-open breaker admits one probe)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() < self.reopens_at:
                return False
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def record(self, ok: bool) -> None:
        """Count one finished attempt of this type."""
        if self.state is not BreakerState.CLOSED:
            if self.state is BreakerState.HALF_OPEN:
                self._probing = False
                if ok:
                    self._close()
                else:
                    self._open()
            return
        now = self._clock()
        if now - self._window_start >= self._policy.window_seconds:
            self._window_start, self._total, self._failed = now, 0, 0
        self._total += 1
        self._failed += 0 if ok else 1
        policy = self._policy
        if self._total >= policy.min_volume and self._failed >= policy.failure_ratio * self._total:
            self._open()

    def _open(self) -> None:
        self.state = BreakerState.OPEN
        self._opened_at = self._clock()

    def _close(self) -> None:
        self.state = BreakerState.CLOSED
        self._window_start, self._total, self._failed = self._clock(), 0, 0


class Breakers:
    """One breaker per task type, created on first use; None policy disables them.

    ``configure`` sets run-time policies per type (None: that type's breaker off); a
    type's breaker keeps its state when only its policy changes.
    """

    def __init__(self, policy: BreakerPolicy | None, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self._by_type: dict[str, Breaker] = {}
        self._overrides: Mapping[str, BreakerPolicy | None] = {}

    def get(self, task_type: str) -> Breaker | None:
        """The breaker of ``task_type`` (None when its breaker is off)."""
        breaker = self._by_type.get(task_type)
        if breaker is not None:
            return breaker
        policy = self.policy_of(task_type)
        if policy is None:
            return None
        breaker = self._by_type[task_type] = Breaker(policy, self._clock)
        return breaker

    def policy_of(self, task_type: str) -> BreakerPolicy | None:
        """The policy in force for ``task_type`` (None: no breaker)."""
        if task_type in self._overrides:
            return self._overrides[task_type]
        return self._policy

    def configure(self, overrides: Mapping[str, BreakerPolicy | None]) -> None:
        """Use run-time policies for the types named (the others: the default policy)."""
        self._overrides = dict(overrides)
        for task_type, breaker in list(self._by_type.items()):
            policy = self.policy_of(task_type)
            if policy is None:
                del self._by_type[task_type]
            else:
                breaker._policy = policy
