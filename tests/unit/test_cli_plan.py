"""``conveyor schedules apply``'s plan: what a file creates, replaces, deletes, keeps."""

from __future__ import annotations

from typing import Any

from conveyor.cli._plan import plan_changes
from conveyor.schedules import ScheduleDefinition


def _applied(**fields: Any) -> dict[str, Any]:
    definition = ScheduleDefinition.model_validate(
        {"task": {"type": "t"}, "created_at_ms": 1_700_000_000_000, **fields}
    )
    return {"schedule": definition.model_dump(mode="json"), "description": "", "next_fires": []}


def _wanted(**fields: Any) -> ScheduleDefinition:
    return ScheduleDefinition.model_validate({"task": {"type": "t"}, **fields})


def test_plan_creates_replaces_deletes_and_keeps_by_field() -> None:
    applied = [
        _applied(id="same", cron="@hourly"),
        _applied(id="changed", cron="@hourly", task={"type": "t", "payload": {"a": 1}}),
        _applied(id="gone", cron="@daily"),
    ]
    wanted = [
        _wanted(id="same", cron="@hourly"),
        _wanted(id="changed", cron="@daily", task={"type": "t", "payload": {"a": 2}}),
        _wanted(id="new", cron="@weekly"),
    ]
    plan = plan_changes(wanted, applied, prune=True)
    assert plan.summary()["create"] == ["new"]
    assert plan.summary()["delete"] == ["gone"]
    assert plan.unchanged == ["same"]
    (changed,) = [c for c in plan.changes if c.action == "replace"]
    assert changed.fields == [("cron", "@hourly", "@daily"), ("task.payload", {"a": 1}, {"a": 2})]
    assert "created_at_ms" not in (changed.body or {})  # a replace keeps the creation instant
    assert plan.counts() == "1 created, 1 replaced, 1 deleted, 1 unchanged"


def test_no_prune_keeps_schedules_the_file_does_not_name() -> None:
    plan = plan_changes([], [_applied(id="other", cron="@daily")], prune=False)
    assert plan.empty


def test_a_creation_instant_in_the_file_is_compared() -> None:
    applied = [_applied(id="s", cron="@every 1m")]
    plan = plan_changes([_wanted(id="s", cron="@every 1m", created_at_ms=0)], applied, True)
    ((name, _, new),) = plan.changes[0].fields
    assert (name, new) == ("created_at_ms", 0)
