"""Schedule definitions: validated once for the API, the file and the store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from conveyor.schedules import (
    ChangeOp,
    MisfirePolicy,
    ScheduleDefinition,
    change_fields,
    decode_change,
)


def _definition(**overrides: object) -> ScheduleDefinition:
    fields: dict[str, object] = {
        "id": "nightly",
        "cron": "0 0 3 * * ?",
        "task": {"type": "demo.echo"},
    }
    fields.update(overrides)
    return ScheduleDefinition.model_validate(fields)


def test_defaults() -> None:
    d = _definition()
    assert (d.timezone, d.enabled, d.misfire, d.task.queue) == (
        "UTC",
        True,
        MisfirePolicy.FIRE_ONCE,
        "default",
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cron": "0 0 30 2 *"}, "can never fire"),
        ({"cron": "61 * * * *"}, "minute field"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"id": "bad id"}, "String should match pattern"),
        ({"start_at": "2026-01-01T00:00:00"}, "start_at needs a time zone offset"),
        (
            {"start_at": "2026-02-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"},
            "end_at must be after",
        ),
        ({"task": {"type": "demo.echo", "queue": "{x}"}}, "String should match pattern"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_definitions_say_what_is_wrong(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _definition(**overrides)


def test_change_round_trip() -> None:
    d = _definition(start_at=datetime(2026, 1, 1, tzinfo=UTC), misfire="catch_up", catch_up_max=3)
    op, schedule_id, back, meta = decode_change(change_fields(ChangeOp.UPSERT, d.id, 5, "file", d))
    assert (op, schedule_id, back, meta) == (
        ChangeOp.UPSERT,
        "nightly",
        d,
        {"at_ms": 5, "source": "file"},
    )
    op, _, none, _ = decode_change(change_fields(ChangeOp.DELETE, "nightly", 6, "api", None))
    assert (op, none) == (ChangeOp.DELETE, None)
