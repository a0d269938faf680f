"""Pure rules of the ingest read model: event -> record change, order, cursors."""

from __future__ import annotations

import pytest

from conveyor.events import TaskEvent, TaskEventType
from conveyor.producing.writes import index_member
from conveyor.records import view
from conveyor_ingest.consumer import event_change
from conveyor_ingest.readmodel import decode_cursor, encode_cursor


def _event(kind: TaskEventType, attempt: int = 1, **extra: object) -> TaskEvent:
    return TaskEvent(kind, "t1", "demo.echo", "default", attempt, 1_700_000_000_000, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "attempt", "status", "order"),
    [
        (TaskEventType.PENDING, 1, "pending", 11),
        (TaskEventType.SCHEDULED, 1, "scheduled", 11),
        (TaskEventType.STARTED, 1, "running", 13),
        (TaskEventType.RETRYING, 1, "retrying", 14),
        (TaskEventType.PENDING, 2, "pending", 21),
        (TaskEventType.SUCCEEDED, 2, "succeeded", 29),
        (TaskEventType.DEAD, 3, "dead", 39),
        (TaskEventType.CANCELLED, 1, "cancelled", 19),
        (TaskEventType.DROPPED, 1, "cancelled", 19),
    ],
)
def test_event_maps_to_status_and_order(
    kind: TaskEventType, attempt: int, status: str, order: int
) -> None:
    got_order, create, update = event_change(_event(kind, attempt))
    fields = dict(zip(update[::2], update[1::2], strict=True))
    assert (fields["status"], got_order) == (status, order)
    assert dict(zip(create[::2], create[1::2], strict=True))["id"] == "t1"


def test_retry_of_attempt_one_orders_below_the_next_attempts_pending() -> None:
    retrying, _, _ = event_change(_event(TaskEventType.RETRYING, 1))
    pending, _, _ = event_change(_event(TaskEventType.PENDING, 2))
    assert retrying < pending


def test_dropped_keeps_its_reason_and_succeeded_its_result() -> None:
    _, _, update = event_change(_event(TaskEventType.DROPPED, error="stale"))
    assert dict(zip(update[::2], update[1::2], strict=True))["error"] == "dropped: stale"
    _, _, update = event_change(_event(TaskEventType.SUCCEEDED, result='{"a":1}'))
    fields = dict(zip(update[::2], update[1::2], strict=True))
    assert fields["result"] == '{"a":1}'
    assert fields["finished_ms"] == "1700000000000"


def test_updated_event_changes_nothing_but_creates_unknown_tasks() -> None:
    _, create, update = event_change(_event(TaskEventType.UPDATED))
    assert update == []
    assert create


def test_index_members_sort_by_time_and_cursors_round_trip() -> None:
    early, late = index_member(999, "b"), index_member(1_000, "a")
    assert early < late
    assert decode_cursor(encode_cursor(late.encode())) == late.encode()
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor(encode_cursor(b"nonsense"))


def test_view_parses_result_json_and_formats_times() -> None:
    record = {b"id": b"t1", b"type": b"x", b"queue": b"q", b"status": b"succeeded",
              b"attempts": b"2", b"result": b"[1,2]", b"created_ms": b"0"}  # fmt: skip
    shown = view(record)
    assert shown["result"] == [1, 2]
    assert shown["attempts"] == 2
    assert shown["created_at"] == "1970-01-01T00:00:00.000Z"
    assert shown["error"] is None


@pytest.mark.parametrize(
    ("kind", "attempt", "attempts"),
    [
        (TaskEventType.CANCELLED, 1, 0),  # cancelled before its first attempt started
        (TaskEventType.CANCELLED, 3, 2),  # cancelled while its third attempt waited
        (TaskEventType.STARTED, 1, 1),
        (TaskEventType.DROPPED, 1, 1),  # the handler ran and raised Drop
        (TaskEventType.DEAD, 2, 2),
    ],
)
def test_attempts_counts_only_attempts_that_started(
    kind: TaskEventType, attempt: int, attempts: int
) -> None:
    _, _, update = event_change(_event(kind, attempt))
    assert dict(zip(update[::2], update[1::2], strict=True))["attempts"] == str(attempts)
