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
    never_fires,
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
        {"at_ms": 5, "source": "file", "seq": ""},
    )
    op, _, none, _ = decode_change(change_fields(ChangeOp.DELETE, "nightly", 6, "api", None))
    assert (op, none) == (ChangeOp.DELETE, None)


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"cron": "0 0 0 1 1 ? 2020-2025"}, ("cron", "no instant of it is after 2026-06-01")),
        ({"cron": "0 0 0 1 1 ? 2020-2027"}, None),
        ({"cron": "0 0 0 1 1 ?", "end_at": datetime(2026, 12, 1, tzinfo=UTC)},
         ("end_at", "its next instant, 2027-01-01T00:00:00.000Z, is after end_at")),
        ({"cron": "0 0 0 1 1 ? 2027", "start_at": datetime(2028, 1, 1, tzinfo=UTC)},
         ("cron", "no instant of it is after 2028-01-01")),
        ({"cron": "@every 1h", "end_at": datetime(2026, 6, 1, 11, tzinfo=UTC)},
         ("end_at", "is after end_at")),
        ({"cron": "@every 1h"}, None),
    ],
)  # fmt: skip
def test_never_fires_names_the_field_that_makes_a_schedule_dead(
    overrides: dict[str, object], expected: tuple[str, str] | None
) -> None:
    found = never_fires(_definition(**overrides), NOW)
    if expected is None:
        assert found is None
        return
    assert found is not None
    assert found[0] == expected[0]
    assert found[1].startswith("expression can never fire: ")
    assert expected[1] in found[1]
