"""Run-time limits (``conveyor.limits``) applied to this worker: per-type rate limits and
concurrency caps (TypeLimits) and per-type breaker settings (Breakers)."""

from __future__ import annotations

from conveyor.limits import BreakerSpec, LimitsVersion
from conveyor_worker.breaker import BreakerPolicy, Breakers
from conveyor_worker.typelimits import TypeLimit, TypeLimits


def breaker_policy(spec: BreakerSpec, base: BreakerPolicy, enabled: bool) -> BreakerPolicy | None:
    """A type's breaker policy: the spec's fields over the settings' (None: breaker off)."""
    if not (spec.enabled if spec.enabled is not None else enabled):
        return None
    return BreakerPolicy(
        base.failure_ratio if spec.failure_ratio is None else spec.failure_ratio,
        base.min_volume if spec.min_volume is None else spec.min_volume,
        base.window_seconds if spec.window is None else spec.window,
        base.open_seconds if spec.open is None else spec.open,
    )


class RuntimeLimits:
    """Applies each new limits document to the worker's type limits and breakers."""

    def __init__(
        self, type_limits: TypeLimits, breakers: Breakers, base: BreakerPolicy, enabled: bool
    ) -> None:
        self._type_limits = type_limits
        self._breakers = breakers
        self._base = base
        self._enabled = enabled

    def apply(self, version: LimitsVersion) -> None:
        """Use ``version``'s task-type limits; what it leaves out keeps its default."""
        types = version.document.task_types
        self._type_limits.override(
            {name: TypeLimit(spec.as_rate(), spec.concurrency) for name, spec in types.items()}
        )
        self._breakers.configure(
            {
                name: breaker_policy(spec.breaker, self._base, self._enabled)
                for name, spec in types.items()
                if spec.breaker is not None
            }
        )
