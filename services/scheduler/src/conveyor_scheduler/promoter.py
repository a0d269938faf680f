"""Promotion: due timers leave the timer index and enter their queue's task stream.

One script per batch removes each due timer from the index and XADDs its task
and a PENDING event, so a task is promoted exactly once even with several
replicas promoting at the same moment (the step that enqueues it is the step
that removes it). Lateness (promotion time minus due time) is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from conveyor.keys import QueueKeys
from conveyor.lua import register
from conveyor.telemetry.spans import Promotion


@dataclass(frozen=True, slots=True)
class PromotionResult:
    """What one promotion pass did."""

    promoted: int
    lateness_sum_ms: int
    lateness_max_ms: int


class Promoter:
    """Promotes one queue's due timers."""

    def __init__(self, client: Redis, keys: QueueKeys, batch: int) -> None:
        self._client = client
        self._keys = keys
        self._batch = batch
        self._script = register(client, "scheduler_promote")

    async def promote_batch(self, now_ms: int) -> PromotionResult:
        """Promote up to one batch of timers due at ``now_ms``."""
        keys = self._keys
        span = Promotion(keys.queue, keys.tasks)
        reply = await self._script(
            keys=[
                keys.timer_index,
                keys.timer_entries,
                keys.tasks,
                keys.events,
                keys.at_level("high").tasks,
                keys.at_level("low").tasks,
            ],
            args=[now_ms, self._batch, 1 if span.wanted else 0],
        )
        promoted, late_sum, late_max = (int(value) for value in reply[:3])
        span.record(promoted, late_max, reply[3] if len(reply) > 3 else ())
        return PromotionResult(promoted, late_sum, late_max)

    async def promote_due(self, now_ms: int, max_batches: int = 100) -> PromotionResult:
        """Promote every timer due at ``now_ms`` (up to ``max_batches`` batches, to stay fair)."""
        total, late_sum, late_max = 0, 0, 0
        for _ in range(max_batches):
            result = await self.promote_batch(now_ms)
            total += result.promoted
            late_sum += result.lateness_sum_ms
            late_max = max(late_max, result.lateness_max_ms)
            if result.promoted < self._batch:
                break
        return PromotionResult(total, late_sum, late_max)

    @property
    def queue(self) -> str:
        """The queue this promoter serves."""
        return self._keys.queue

    async def next_due_ms(self) -> int | None:
        """Due time of the earliest pending timer, if any."""
        first = await self._client.zrange(self._keys.timer_index, 0, 0, withscores=True)
        return int(first[0][1]) if first else None
