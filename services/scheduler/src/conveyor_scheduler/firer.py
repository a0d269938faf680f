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

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis

from conveyor.cron import CronError, CronSchedule, parse_cron
from conveyor.envelope import as_text, new_envelope
from conveyor.events import TaskEventType, event_fields
from conveyor.keys import Keys, QueueKeys, fire_scope
from conveyor.lua import register
from conveyor.schedules import ScheduleDefinition
from conveyor.telemetry.spans import fire_span
from conveyor_scheduler.entries import flatten, pending_event
from conveyor_scheduler.planning import FirePlan, baseline_ms, jitter_ms, plan_fires
from conveyor_scheduler.wire import PackedCall, send_packed

log = structlog.get_logger(__name__)

FIRES_PER_CALL = 100


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


@dataclass
class PreparedFires:
    """Fire script calls built ahead of sending them, and what planning found."""

    calls: list[tuple[QueueKeys, list[str], list[str | int]]] = field(default_factory=list)
    packed: list[PackedCall] = field(default_factory=list)  # the same calls, encoded
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
        self._plans: dict[str, tuple[ScheduleDefinition, int, int | None]] = {}

    async def fire(
        self,
        definitions: dict[str, ScheduleDefinition],
        now_ms: int,
        retimed: Mapping[str, int] | None = None,
    ) -> FireResult:
        """Fire every instant due at ``now_ms``; returns the fires this replica made.

        ``retimed``: schedule id -> when its timing last changed; earlier instants never count.
        """
        prepared = await self.prepare(definitions, now_ms, retimed)
        fired = await self.send(prepared, now_ms)
        return FireResult(fired, prepared.next_due_ms, prepared.missed)

    async def prepare(
        self,
        definitions: dict[str, ScheduleDefinition],
        at_ms: int,
        retimed: Mapping[str, int] | None = None,
    ) -> PreparedFires:
        """Plan and build the script calls of the fires due at ``at_ms`` (which may be ahead).

        Building 1,000 fires takes tens of milliseconds of Python; preparing them before
        their instant and sending them when it comes keeps fire lateness low.
        """
        prepared = PreparedFires()
        changed = retimed or {}
        for gone in self._plans.keys() - definitions.keys():
            # A deleted schedule: forget its cached plan and parsed expression.
            self._plans.pop(gone, None)
            self._crons.pop(gone, None)
        by_shard: dict[QueueKeys, list[ScheduleDefinition]] = defaultdict(list)
        for definition in definitions.values():
            task = definition.task
            # One schedule's fires go to one partition, so they run in fire order.
            shard = self._keys.route(task.queue, task.partition_key or definition.id)
            # One call per level: the fire script XADDs every task of a call to one stream.
            shard = shard.at_level(task.priority)
            by_shard[shard].append(definition)
        for shard, group in by_shard.items():
            settled = await self._settled(shard, group, at_ms)
            for definition in group:  # a changed timing starts where the change was made
                since = changed.get(definition.id, 0)
                settled[definition.id] = max(settled[definition.id], since)
            await self._prepare_queue(shard, group, settled, at_ms, prepared)
        return prepared

    async def send(self, prepared: PreparedFires, now_ms: int) -> list[Fire]:
        """Run the prepared calls at ``now_ms`` (fires not due by then wait for the next pass)."""
        if not prepared.calls:
            return []
        replies = await send_packed(self._client, self._script, prepared.packed, now_ms)
        if replies is None:
            head: list[str | int] = [self._config.dedup_ttl_ms, now_ms]
            # Concurrent calls (on pooled connections) let Redis run the first while later
            # ones are still being encoded; each call is atomic on its own.
            replies = await asyncio.gather(
                *(
                    self._script(keys=script_keys, args=head + args)
                    for _q, script_keys, args in prepared.calls
                )
            )
        fired: list[Fire] = []
        for (keys, _keys, _args), reply in zip(prepared.calls, replies, strict=True):
            for n in range(0, len(reply), 2):
                fire = Fire(as_text(reply[n]), int(reply[n + 1]), keys.queue)
                fired.append(fire)
                log.debug(
                    "schedule_fired", schedule_id=fire.schedule_id, instant_ms=fire.instant_ms
                )
        if fired:
            # One line per pass, not per fire: 1,000 schedules a second would flood the log.
            log.info("schedules_fired", fires=len(fired))
        return fired

    async def _prepare_queue(
        self,
        keys: QueueKeys,
        group: list[ScheduleDefinition],
        settled: dict[str, int],
        at_ms: int,
        out: PreparedFires,
    ) -> None:
        work: list[tuple[ScheduleDefinition, FirePlan]] = []
        for definition in group:
            plan = self._plan(definition, settled[definition.id], at_ms)
            if plan is None:
                continue
            out.missed += plan.missed
            if plan.next_due_ms is not None:
                out.next_due_ms = min(out.next_due_ms or plan.next_due_ms, plan.next_due_ms)
            if plan.instants or plan.settle_ms > settled[definition.id]:
                work.append((definition, plan))
        for chunk in _chunks(work):
            call = self._call(keys, chunk, at_ms)
            out.calls.append(call)
            ttl = [self._config.dedup_ttl_ms]
            out.packed.append(PackedCall.encode(self._script.sha, call[1], ttl, call[2]))

    def _plan(self, definition: ScheduleDefinition, settled: int, now_ms: int) -> FirePlan | None:
        """The schedule's plan at ``now_ms``; None when it cannot fire (unparseable)."""
        cached = self._plans.get(definition.id)
        if cached is not None and cached[0] is definition and cached[1] == settled:
            next_due = cached[2]
            if next_due is None or now_ms < next_due:
                # Nothing changed and nothing is due: skip the cron maths (1,000s of schedules).
                return FirePlan([], settled, next_due, 0)
        cron = self._cron(definition)
        if cron is None:
            return None
        plan = plan_fires(definition, cron, settled, now_ms, self._config.misfire_ms)
        self._plans[definition.id] = (definition, plan.settle_ms, plan.next_due_ms)
        return plan

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

    def _call(
        self, keys: QueueKeys, work: list[tuple[ScheduleDefinition, FirePlan]], at_ms: int
    ) -> tuple[QueueKeys, list[str], list[str | int]]:
        """The fire script's keys and arguments (after ttl and now) for ``work``.

        The plan's time and the misfire threshold go along: the script refuses a plan
        that is stale by then (prepared fires sent after a clock jump).
        """
        args: list[str | int] = [at_ms, self._config.misfire_ms]
        dedup: list[str] = []
        for definition, plan in work:
            args += [definition.id, plan.settle_ms, len(plan.instants)]
            for instant in plan.instants:
                task, event = _fire_fields(definition, instant, keys.tasks)
                dedup.append(keys.fire_dedup(definition.id, instant))
                due = instant + jitter_ms(definition.id, instant, definition.jitter)
                args += [instant, due, len(task), *task, len(event), *event]
        return keys, [keys.tasks, keys.events, keys.last_fired, *dedup], args

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


def _chunks(
    work: list[tuple[ScheduleDefinition, FirePlan]],
) -> list[list[tuple[ScheduleDefinition, FirePlan]]]:
    """Split into script calls of about FIRES_PER_CALL fires, so no call runs long."""
    chunks: list[list[tuple[ScheduleDefinition, FirePlan]]] = []
    size = FIRES_PER_CALL
    for item in work:
        if size >= FIRES_PER_CALL:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += max(1, len(item[1].instants))
    return chunks


def _fire_fields(
    definition: ScheduleDefinition, instant_ms: int, stream: str
) -> tuple[list[str], list[str]]:
    """Task and PENDING event fields (flat; the event's without at_ms) of a fire at an instant."""
    template = definition.task
    envelope = new_envelope(
        template.type,
        template.payload,
        template.queue,
        origin=f"schedule:{definition.id}",
        idempotency_key=fire_scope(definition.id, instant_ms),
        max_attempts=template.max_attempts,
        timeout=template.timeout,
        partition_key=template.partition_key or "",
        priority=template.priority,
    )
    envelope = fire_span(envelope, stream, definition.id, instant_ms)  # as is when not tracing
    event = event_fields(TaskEventType.PENDING, envelope, at_ms=0)
    return flatten(envelope.to_fields()), pending_event(event)
