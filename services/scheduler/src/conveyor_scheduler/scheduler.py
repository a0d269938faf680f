"""One scheduler replica: a pass (``tick``) of intake, control, changes, promotion and fires.

``tick(now_ms)`` does one full pass at the given time and never sleeps, so tests
drive the scheduler with an injected clock ("burst mode"); the service's pass
loop (``runner.py``) calls it with Redis server time and waits until the
returned wake-up time.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.schedules import ScheduleDefinition
from conveyor_scheduler.control import ControlConsumer
from conveyor_scheduler.firer import Fire, Firer, FirerConfig, PreparedFires
from conveyor_scheduler.intake import TimerIntake
from conveyor_scheduler.lease import FireLease
from conveyor_scheduler.promoter import Promoter
from conveyor_scheduler.reading import GroupReader
from conveyor_scheduler.settings import SchedulerSettings
from conveyor_scheduler.store import ScheduleStore

log = structlog.get_logger(__name__)

MAX_READ_BATCHES = 20


@dataclass
class TickResult:
    """What one pass did, and when the next one is needed."""

    filed: int = 0
    dead: int = 0
    dropped: int = 0
    replaced: int = 0  # timers a PUT changed: by its replace, or its record at filing
    changes: int = 0
    promoted: int = 0
    promotion_lateness_max_ms: int = 0
    timer_lag_ms: dict[str, int] = field(default_factory=dict)  # per queue
    fires: tuple[Fire, ...] = ()
    missed: int = 0
    next_fire_ms: int | None = None  # when to fire next (for a standby: its due + delay)
    leader: bool = False  # this replica holds the fire lease
    next_wake_ms: int | None = None  # the earliest due time of anything (timer or fire)


@dataclass
class _QueueParts:
    intake: TimerIntake
    control: ControlConsumer
    promoter: Promoter


def default_consumer() -> str:
    """A consumer name unique to this process: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Scheduler:
    """The scheduler's work for every configured queue and the schedules."""

    def __init__(self, client: Redis, keys: Keys, settings: SchedulerSettings) -> None:
        consumer = settings.consumer or default_consumer()

        def reader(stream: str) -> GroupReader:
            return GroupReader(client, stream, consumer, settings.batch, settings.claim_idle_ms)

        self._queues = [
            _QueueParts(
                TimerIntake(client, q, reader(q.timers_in)),
                ControlConsumer(client, q, reader(q.control)),
                Promoter(client, q, settings.batch),
            )
            for q in keys.all_queues()
        ]
        self.store = ScheduleStore(client, keys, reader(keys.schedule_changes))
        config = FirerConfig(settings.misfire_threshold_ms, settings.fire_dedup_ttl_ms)
        self._firer = Firer(client, keys, config)
        self._lease = FireLease(client, keys, consumer, settings.fire_lease_ms)
        self._batch = settings.batch

    async def apply_file(self, definitions: list[ScheduleDefinition], now_ms: int) -> int:
        """Apply the schedules file's definitions (published with source=file)."""
        applied = await self.store.apply_file(definitions, now_ms)
        log.info("schedules_file_applied", count=applied)
        return applied

    async def tick(self, now_ms: int) -> TickResult:
        """One full pass at ``now_ms``: intake, control, changes, promotion, fires."""
        result = TickResult()
        for parts in self._queues:
            await self._intake(parts, now_ms, result)
        for _ in range(MAX_READ_BATCHES):
            changes = await self.store.consume_once(now_ms)
            result.changes += changes
            if changes == 0:
                break
        for parts in self._queues:
            promotion = await parts.promoter.promote_due(now_ms)
            result.promoted += promotion.promoted
            result.promotion_lateness_max_ms = max(
                result.promotion_lateness_max_ms, promotion.lateness_max_ms
            )
            next_due = await parts.promoter.next_due_ms()
            # Due timers still waiting after this pass (a backlog): the age of the oldest one.
            lag = max(0, now_ms - next_due) if next_due is not None else 0
            queue = parts.promoter.queue  # a partitioned queue: the oldest over its partitions
            result.timer_lag_ms[queue] = max(lag, result.timer_lag_ms.get(queue, 0))
            _wake_at(result, next_due)
        await self._fire(now_ms, result)
        return result

    async def _fire(self, now_ms: int, result: TickResult) -> None:
        result.leader = await self._lease.hold(now_ms)
        # Without the lease, fire only what the holder left overdue (it may have died).
        delay = 0 if result.leader else self._lease.standby_delay_ms
        definitions = await self.store.load()
        fired = await self._firer.fire(definitions, now_ms - delay, self.store.retimed)
        result.fires = tuple(fired.fired)
        result.missed = fired.missed
        if fired.next_due_ms is not None:
            result.next_fire_ms = fired.next_due_ms + delay
            _wake_at(result, result.next_fire_ms)

    async def prepare_fires(self, due_ms: int) -> PreparedFires:
        """Plan and build the fires due at ``due_ms`` ahead of time (see ``runner``)."""
        definitions = await self.store.load()
        return await self._firer.prepare(definitions, due_ms, self.store.retimed)

    async def send_prepared(self, prepared: PreparedFires, now_ms: int) -> tuple[Fire, ...]:
        """Send prepared fires at ``now_ms``; those not due by then are left to a later pass."""
        return tuple(await self._firer.send(prepared, now_ms))

    async def _intake(self, parts: _QueueParts, now_ms: int, result: TickResult) -> None:
        # Timers before control, so a cancel that follows its timer finds it filed.
        for _ in range(MAX_READ_BATCHES):
            intake = await parts.intake.run_once(now_ms)
            result.filed += intake.filed
            result.dead += intake.dead
            result.replaced += intake.replaced
            if intake.filed + intake.dead < self._batch:
                break
        for _ in range(MAX_READ_BATCHES):
            control = await parts.control.run_once(now_ms)
            result.dropped += control.dropped
            result.replaced += control.replaced
            if control.read < self._batch:
                break


def _wake_at(result: TickResult, due_ms: int | None) -> None:
    if due_ms is not None:
        current = result.next_wake_ms
        result.next_wake_ms = due_ms if current is None else min(current, due_ms)
