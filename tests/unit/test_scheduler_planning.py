"""Fire planning is a pure function of (schedule, settled instant, now): tables of cases."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor.cron import parse_cron
from conveyor.schedules import ScheduleDefinition
from conveyor_scheduler.planning import (
    baseline_ms,
    from_ms,
    jitter_ms,
    plan_fires,
    to_ms,
)

T0 = 1_795_766_400_000  # 2026-11-27T08:00:00Z
S = 1_000


def plan(cron: str, settled: int, now: int, misfire_ms: int = 5 * S, **kw: Any) -> Any:
    definition = ScheduleDefinition.model_validate(
        {"id": "p", "cron": cron, "task": {"type": "t"}, "created_at_ms": T0} | kw
    )
    schedule = parse_cron(definition.cron, timezone=definition.timezone, anchor=definition.anchor)
    return plan_fires(definition, schedule, settled, now, misfire_ms)


@pytest.mark.parametrize(
    ("cron", "settled", "now", "instants", "settle", "next_due"),
    [
        # Nothing due yet: look again at the next instant.
        ("*/10 * * * * *", T0, T0 + 9 * S, [], T0, T0 + 10 * S),
        # Exactly due.
        ("*/10 * * * * *", T0, T0 + 10 * S, [T0 + 10 * S], T0 + 10 * S, T0 + 20 * S),
        # Settled instants never fire again (a backward clock jump, or another replica's fire).
        ("*/10 * * * * *", T0 + 10 * S, T0 + 10 * S, [], T0 + 10 * S, T0 + 20 * S),
        # Late but within the misfire threshold: each instant still fires.
        ("* * * * * *", T0, T0 + 3 * S, [T0 + S, T0 + 2 * S, T0 + 3 * S], T0 + 3 * S, T0 + 4 * S),
        # @every counts from the creation instant.
        ("@every 7s", T0, T0 + 7 * S, [T0 + 7 * S], T0 + 7 * S, T0 + 14 * S),
    ],
)
def test_plan_fires_due_instants_in_order(
    cron: str, settled: int, now: int, instants: list[int], settle: int, next_due: int
) -> None:
    result = plan(cron, settled, now)
    assert (result.instants, result.settle_ms, result.next_due_ms) == (instants, settle, next_due)


@pytest.mark.parametrize(
    ("policy", "instants"),
    [
        ("skip", [T0 + 60 * S]),
        ("fire_once", [T0 + 50 * S, T0 + 60 * S]),
        ("catch_up", [T0 + 40 * S, T0 + 50 * S, T0 + 60 * S]),
    ],
)
def test_misfire_policy_chooses_among_missed_instants(policy: str, instants: list[int]) -> None:
    result = plan("*/10 * * * * *", T0, T0 + 61 * S, misfire=policy, catch_up_max=2)
    assert result.missed == 5
    assert result.instants == instants
    assert result.settle_ms == T0 + 60 * S


def test_catch_up_fires_every_missed_instant_up_to_its_maximum() -> None:
    result = plan("*/10 * * * * *", T0, T0 + 31 * S, misfire="catch_up", catch_up_max=10)
    assert result.instants == [T0 + 10 * S, T0 + 20 * S, T0 + 30 * S]


def test_disabled_schedule_fires_nothing_but_time_passes() -> None:
    result = plan("*/10 * * * * *", T0, T0 + 35 * S, enabled=False)
    assert (result.instants, result.settle_ms, result.missed) == ([], T0 + 30 * S, 0)


def test_start_and_end_bound_the_instants() -> None:
    result = plan(
        "*/10 * * * * *",
        T0,
        T0 + 64 * S,
        start_at="2026-11-27T08:00:25Z",
        end_at="2026-11-27T08:00:50Z",
        misfire="catch_up",
    )
    assert result.instants == [T0 + 30 * S, T0 + 40 * S, T0 + 50 * S]
    assert result.next_due_ms is None  # no fire after the end


def test_jitter_is_deterministic_bounded_and_orders_fires() -> None:
    delays = [jitter_ms("p", T0 + n * S, 2.0) for n in range(200)]
    assert delays == [jitter_ms("p", T0 + n * S, 2.0) for n in range(200)]
    assert all(0 <= d <= 2_000 for d in delays)
    assert len(set(delays)) > 100  # spread, not constant
    assert jitter_ms("p", T0, 0) == 0
    first = T0 + 10 * S
    due = first + jitter_ms("p", first, 3.0)
    assert plan("*/10 * * * * *", T0, due - 1, jitter=3.0).instants == []
    assert plan("*/10 * * * * *", T0, due, jitter=3.0).instants == [first]


def test_a_long_downtime_is_scanned_in_bounded_steps() -> None:
    definition = ScheduleDefinition.model_validate(
        {"id": "p", "cron": "* * * * * *", "task": {"type": "t"}, "created_at_ms": T0}
    )
    schedule = parse_cron(definition.cron, anchor=definition.anchor)
    result = plan_fires(definition, schedule, T0, T0 + 3_600 * S, 5 * S, max_scan=100)
    assert result.settle_ms == T0 + 100 * S
    assert result.next_due_ms == T0 + 3_600 * S  # more to scan: look again at once
    assert result.instants == [T0 + 100 * S]  # fire_once, within this window


def test_baseline_is_creation_or_now_for_file_schedules() -> None:
    created = ScheduleDefinition.model_validate(
        {"id": "p", "cron": "@hourly", "task": {"type": "t"}, "created_at_ms": T0}
    )
    from_file = created.model_copy(update={"created_at_ms": 0})
    assert baseline_ms(created, T0 + 5) == T0
    assert baseline_ms(from_file, T0 + 5) == T0 + 5


def test_millisecond_conversions_are_exact() -> None:
    for ms in (0, 1, T0 + 999, 4_102_444_799_999):
        assert to_ms(from_ms(ms)) == ms
