"""Cron fires: each schedule instant becomes one task, exactly once across all replicas.

Every replica plans every schedule (``planning.plan_fires``) and sends its fires
to one script per schedule that, per instant, sets the fire's dedup key
(``QueueKeys.fire_dedup(id, instant)``) with SET NX, XADDs the task and its
PENDING event, and advances ``QueueKeys.last_fired`` — all in the queue's slot,
one atomic step. The fire identity is (schedule id, scheduled UTC instant), so
two replicas racing for an instant build the same dedup key and only one XADD
happens; the task's idempotency key is that identity too. Correctness needs no
lease and no agreement between replicas' clocks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis

from conveyor.cron import CronError, CronSchedule, parse_cron
from conveyor.envelope import new_envelope
from conveyor.events import TaskEventType, event_fields
from conveyor.keys import Keys, QueueKeys
from conveyor.lua import register
from conveyor.schedules import ScheduleDefinition
from conveyor_scheduler.entries import flatten, pending_event
from conveyor_scheduler.planning import FirePlan, baseline_ms, plan_fires

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Fire:
    """One fire made by this replica."""

    schedule_id: str
    instant_ms: int
    queue: str


@dataclass
class FireResult:
    """What one firing pass did."""

    fired: list[Fire] = field(default_factory=list)
    next_due_ms: int | None = None
    missed: int = 0


@dataclass(frozen=True, slots=True)
class FirerConfig:
    """The firer's knobs (from SchedulerSettings)."""

    misfire_ms: int
    dedup_ttl_ms: int


class Firer:
    """Fires the stored schedules' due instants."""

    def __init__(self, client: Redis, keys: Keys, config: FirerConfig) -> None:
        self._client = client
        self._keys = keys
        self._config = config
        self._script = register(client, "scheduler_fire")
        self._crons: dict[str, tuple[ScheduleDefinition, CronSchedule | None]] = {}

    async def fire(self, definitions: dict[str, ScheduleDefinition], now_ms: int) -> FireResult:
        """Fire every instant due at ``now_ms``; returns the fires this replica made."""
        result = FireResult()
        by_queue: dict[str, list[ScheduleDefinition]] = defaultdict(list)
        for definition in definitions.values():
            by_queue[definition.task.queue].append(definition)
        for queue, group in by_queue.items():
            await self._fire_queue(self._keys.queue(queue), group, now_ms, result)
        return result

    async def _fire_queue(
        self, keys: QueueKeys, group: list[ScheduleDefinition], now_ms: int, result: FireResult
    ) -> None:
        settled = await self._settled(keys, group, now_ms)
        calls: list[tuple[ScheduleDefinition, FirePlan]] = []
        for definition in group:
            cron = self._cron(definition)
            if cron is None:
                continue
            misfire_ms = self._config.misfire_ms
            plan = plan_fires(definition, cron, settled[definition.id], now_ms, misfire_ms)
            result.missed += plan.missed
            if plan.next_due_ms is not None:
                result.next_due_ms = min(result.next_due_ms or plan.next_due_ms, plan.next_due_ms)
            if plan.instants or plan.settle_ms > settled[definition.id]:
                calls.append((definition, plan))
        if not calls:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for definition, plan in calls:
                await self._call(pipe, keys, definition, plan, now_ms)
            replies = await pipe.execute()
        for (definition, _plan), instants in zip(calls, replies, strict=True):
            for instant in instants:
                fire = Fire(definition.id, int(instant), keys.queue)
                result.fired.append(fire)
                log.info("schedule_fired", schedule_id=fire.schedule_id, instant_ms=fire.instant_ms)

    async def _settled(
        self, keys: QueueKeys, group: list[ScheduleDefinition], now_ms: int
    ) -> dict[str, int]:
        """Each schedule's last settled instant; a new schedule's baseline is recorded first."""
        ids = [definition.id for definition in group]
        values = await self._client.hmget(keys.last_fired, ids)
        settled = {i: int(v) for i, v in zip(ids, values, strict=True) if v is not None}
        missing = [d for d in group if d.id not in settled]
        if missing:
            # HSETNX: the first replica to see a schedule sets its baseline; the others read it.
            async with self._client.pipeline(transaction=True) as pipe:
                for definition in missing:
                    pipe.hsetnx(keys.last_fired, definition.id, baseline_ms(definition, now_ms))
                pipe.hmget(keys.last_fired, [d.id for d in missing])
                replies = await pipe.execute()
            for definition, value in zip(missing, replies[-1], strict=True):
                settled[definition.id] = int(value)
        return settled

    async def _call(
        self,
        pipe: Redis,
        keys: QueueKeys,
        definition: ScheduleDefinition,
        plan: FirePlan,
        now_ms: int,
    ) -> None:
        args: list[str | int] = [definition.id, plan.settle_ms, self._config.dedup_ttl_ms, now_ms]
        dedup: list[str] = []
        for instant in plan.instants:
            task, event = _fire_fields(definition, instant)
            dedup.append(keys.fire_dedup(definition.id, instant))
            args += [instant, len(task), *task, len(event), *event]
        await self._script(
            keys=[keys.tasks, keys.events, keys.last_fired, *dedup], args=args, client=pipe
        )

    def _cron(self, definition: ScheduleDefinition) -> CronSchedule | None:
        cached = self._crons.get(definition.id)
        # The store hands out the same object while a definition is unchanged: `is` is quick.
        if cached is not None and (cached[0] is definition or cached[0] == definition):
            return cached[1]
        cron: CronSchedule | None
        try:
            zone, anchor = definition.timezone, definition.anchor
            cron = parse_cron(definition.cron, timezone=zone, anchor=anchor)
        except CronError as exc:
            log.error(  # noqa: TRY400 - the message says it all; no traceback wanted
                "schedule_unparseable", schedule_id=definition.id, error=str(exc)
            )
            cron = None
        self._crons[definition.id] = (definition, cron)
        return cron


def _fire_fields(definition: ScheduleDefinition, instant_ms: int) -> tuple[list[str], list[str]]:
    """Task and PENDING event fields of the fire of ``definition`` at ``instant_ms``."""
    template = definition.task
    envelope = new_envelope(
        template.type,
        template.payload,
        template.queue,
        origin=f"schedule:{definition.id}",
        idempotency_key=f"schedule:{definition.id}:{instant_ms}",
        max_attempts=template.max_attempts,
        timeout=template.timeout,
    )
    event = event_fields(TaskEventType.PENDING, envelope, at_ms=0)
    return flatten(envelope.to_fields()), pending_event(event)
