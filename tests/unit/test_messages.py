"""Events, timers, control messages and dead letters: what one service writes, another reads."""

from __future__ import annotations

import pytest

from conveyor.control import ControlOp, cancel_fields, decode_control
from conveyor.deadletter import DeadReason, dead_fields, decode_dead_letter
from conveyor.envelope import new_envelope
from conveyor.errors import EnvelopeDecodeError
from conveyor.events import TaskEventType, decode_event, event_fields
from conveyor.streams import find_group
from conveyor.timers import TimerKind, decode_timer, timer_fields


def _wire(fields: dict[str, str]) -> dict[bytes, bytes]:
    return {k.encode(): v.encode() for k, v in fields.items()}


def test_event_round_trip_with_result() -> None:
    env = new_envelope("demo.echo", {"x": 1}, "default", subject="alice", origin="api")
    fields = event_fields(TaskEventType.SUCCEEDED, env, at_ms=42, result='{"x":1}', error=None)
    event = decode_event(_wire(fields))
    assert (event.event, event.task_id, event.type, event.queue) == (
        TaskEventType.SUCCEEDED, env.id, "demo.echo", "default",
    )  # fmt: skip
    assert (event.subject, event.origin, event.at_ms, event.result) == (
        "alice",
        "api",
        42,
        '{"x":1}',
    )
    assert event.error is None
    assert "error" not in fields


def test_event_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        decode_event({b"v": b"9", b"event": b"pending"})


def test_timer_round_trip() -> None:
    env = new_envelope("demo.echo", [1], "q")
    timer = decode_timer("3-0", _wire(timer_fields(env, 1_000, TimerKind.RETRY)), "q")
    assert (timer.envelope, timer.due_ms, timer.kind) == (env, 1_000, TimerKind.RETRY)


def test_timer_without_due_time_is_a_decode_error() -> None:
    env = new_envelope("demo.echo", [1], "q")
    with pytest.raises(EnvelopeDecodeError, match="due_ms"):
        decode_timer("3-0", _wire(env.to_fields()), "q")


def test_cancel_round_trip_and_unknown_ops_are_refused() -> None:
    cancel = decode_control(_wire(cancel_fields("t1", at_ms=5, until_ms=99)))
    assert (cancel.op, cancel.task_id, cancel.at_ms, cancel.until_ms) == (
        ControlOp.CANCEL,
        "t1",
        5,
        99,
    )
    # The update op (a whole timer from ingest) is gone: every PUT travels as a replace.
    with pytest.raises(ValueError, match="update"):
        decode_control(_wire({**cancel_fields("t2", 7, 99), "op": "update"}))


def test_dead_letter_keeps_the_original_fields_byte_for_byte() -> None:
    original = {b"v": b"1", b"id": b"t", b"data": b"\xff\xfe"}
    fields = dead_fields(original, DeadReason.UNDECODABLE, "bad\nutf8", 1, 9, "5-0")
    assert {k: fields[k] for k in original} == original
    letter = decode_dead_letter("8-0", {_b(k): _b(v) for k, v in fields.items()})
    assert (letter.reason, letter.error, letter.attempts, letter.source_entry_id) == (
        DeadReason.UNDECODABLE, "bad utf8", 1, "5-0",
    )  # fmt: skip
    assert letter.task_fields["id"] == "t"


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def test_find_group_reads_xinfo_groups_with_bytes_or_str_names() -> None:
    groups = [{"name": b"ingest", "lag": 1}, {"name": "workers", "lag": 7}]
    assert find_group(groups, "workers") == {"name": "workers", "lag": 7}
    assert find_group([{"name": b"workers", "pending": 2}], "workers") == {
        "name": b"workers",
        "pending": 2,
    }
    assert find_group(groups, "scheduler") is None
    assert find_group(None, "workers") is None
