"""Which cron instants to fire now: a pure function of (schedule, last settled instant, now).

No I/O and no clock: the firer passes ``now_ms`` (Redis server time) and the
schedule's last settled instant (``QueueKeys.last_fired``), and gets back the
instants to fire, how far the schedule is settled afterwards, and when to look
again. Misfires: an instant whose due time is more than ``misfire_ms`` in the
past was missed (no replica ran then); the schedule's policy decides what
happens to missed instants. Instants due now (within ``misfire_ms``) always fire.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from conveyor.cron import CronSchedule
from conveyor.schedules import MisfirePolicy, ScheduleDefinition

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
MAX_SCAN = 100_000


@dataclass(frozen=True, slots=True)
class FirePlan:
    """The outcome of planning one schedule at one moment."""

    instants: list[int]  # scheduled UTC instants (ms) to fire now, ascending
    settle_ms: int  # the schedule is settled up to here once they are fired
    next_due_ms: int | None  # due time of the next instant not yet due (None: no more fires)
    missed: int  # instants found missed (before the policy chose among them)


def to_ms(moment: datetime) -> int:
    """Unix ms of an aware datetime, in integers (no float rounding)."""
    return (moment - EPOCH) // ONE_MS


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime of Unix ms."""
    return EPOCH + timedelta(milliseconds=ms)


def jitter_ms(schedule_id: str, instant_ms: int, jitter_s: float) -> int:
    """Delay of one fire: a hash of the fire identity, so every replica picks the same one."""
    bound = round(jitter_s * 1000)
    if bound <= 0:
        return 0
    digest = hashlib.sha256(f"{schedule_id}:{instant_ms}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (bound + 1)


def baseline_ms(definition: ScheduleDefinition, now_ms: int) -> int:
    """Where a never-fired schedule starts: its creation, or now when it has none (file)."""
    return definition.created_at_ms if definition.created_at_ms > 0 else now_ms


def plan_fires(
    definition: ScheduleDefinition,
    cron: CronSchedule,
    settled_ms: int,
    now_ms: int,
    misfire_ms: int,
    max_scan: int = MAX_SCAN,
) -> FirePlan:
    """Instants of ``definition`` after ``settled_ms`` to fire at ``now_ms``."""
    due, next_due = _due_instants(definition, cron, settled_ms, now_ms, max_scan)
    if not due:
        return FirePlan([], settled_ms, next_due, 0)
    settle = due[-1][0]
    if not definition.enabled:
        # Time passes for a disabled schedule too: re-enabling it is not a misfire.
        return FirePlan([], settle, next_due, 0)
    missed = [instant for instant, due_ms in due if now_ms - due_ms > misfire_ms]
    on_time = [instant for instant, due_ms in due if now_ms - due_ms <= misfire_ms]
    return FirePlan(_select(definition, missed) + on_time, settle, next_due, len(missed))


def _select(definition: ScheduleDefinition, missed: list[int]) -> list[int]:
    if not missed or definition.misfire is MisfirePolicy.SKIP:
        return []
    if definition.misfire is MisfirePolicy.FIRE_ONCE:
        return missed[-1:]
    return missed[-definition.catch_up_max :]


def _due_instants(
    definition: ScheduleDefinition,
    cron: CronSchedule,
    settled_ms: int,
    now_ms: int,
    max_scan: int,
) -> tuple[list[tuple[int, int]], int | None]:
    """(instant, due) pairs due by ``now_ms`` in order, and the next due time after them.

    Instants are taken strictly in order, so with jitter a later instant never
    fires before an earlier one (that would settle past the earlier one).
    """
    cursor = settled_ms
    if definition.start_at is not None:
        cursor = max(cursor, to_ms(definition.start_at) - 1)
    end_ms = to_ms(definition.end_at) if definition.end_at is not None else None
    due: list[tuple[int, int]] = []
    while len(due) < max_scan:
        found = cron.next_after(from_ms(cursor))
        if found is None:
            return due, None
        instant = to_ms(found)
        if end_ms is not None and instant > end_ms:
            return due, None
        due_ms = instant + jitter_ms(definition.id, instant, definition.jitter)
        if due_ms > now_ms:
            return due, due_ms
        due.append((instant, due_ms))
        cursor = instant
    return due, now_ms  # more to scan after a long downtime: look again at once
