"""Task revisions: the envelope field, events, replace messages and the read model's view."""

from __future__ import annotations

import json

import pytest

from conveyor.control import ControlOp, decode_control, replace_fields
from conveyor.envelope import decode_envelope, new_envelope
from conveyor.errors import EnvelopeDecodeError
from conveyor.events import TaskEventType, decode_event, event_fields, event_tokens
from conveyor.records import view
from conveyor_ingest.consumer import event_change


def _wire(fields: dict[str, str]) -> dict[bytes, bytes]:
    return {k.encode(): v.encode() for k, v in fields.items()}


def test_revision_is_left_out_at_zero_and_kept_by_retries() -> None:
    env = new_envelope("demo.echo", 1, "q")
    assert "revision" not in env.to_fields()
    assert decode_envelope("1-0", _wire(env.to_fields()), "q").revision == 0
    changed = decode_envelope("1-0", _wire({**env.to_fields(), "revision": "3"}), "q")
    assert changed.revision == 3
    assert changed.next_attempt().to_fields()["revision"] == "3"


@pytest.mark.parametrize("bad", ["-1", "x", "1.5", "٣"])
def test_a_revision_that_is_not_a_plain_count_is_a_decode_error(bad: str) -> None:
    fields = _wire({"v": "1", "id": "a", "type": "t", "data": "1", "revision": bad})
    with pytest.raises(EnvelopeDecodeError, match="revision"):
        decode_envelope("1-0", fields, "q")


def test_events_carry_the_revision_both_ways_they_are_built() -> None:
    env = decode_envelope("1-0", _wire({"v": "1", "id": "a", "type": "t", "data": "1",
                                        "revision": "2"}), "q")  # fmt: skip
    assert decode_event(_wire(event_fields(TaskEventType.STARTED, env, 5))).revision == 2
    tokens = event_tokens(TaskEventType.STARTED, env, 5)
    assert int(tokens[0]) == len(tokens) - 1
    pairs = dict(zip(tokens[1::2], tokens[2::2], strict=True))
    assert decode_event(_wire(pairs)).revision == 2
    plain = new_envelope("t", None, "q")
    assert "revision" not in event_fields(TaskEventType.STARTED, plain, 5)


def test_replace_round_trip() -> None:
    fields = replace_fields("t1", 7, 9_000, 2, {"data": "[1]", "due_ms": ""})
    message = decode_control(_wire(fields))
    assert (message.op, message.task_id, message.until_ms, message.revision) == (
        ControlOp.REPLACE, "t1", 9_000, 2,
    )  # fmt: skip
    assert json.loads(message.changes) == {"data": "[1]", "due_ms": ""}
    assert "revision" not in replace_fields("t1", 7, 9_000)  # ingest's script adds it


@pytest.mark.parametrize(
    ("revision", "changes"),
    [("0", "{}"), ("1", "[]"), ("1", '{"type": "x"}'), ("1", '{"data": 1}'), ("1", "{nope")],
)
def test_a_replace_the_worker_cannot_apply_is_refused(revision: str, changes: str) -> None:
    fields = {**replace_fields("t1", 7, 9_000), "revision": revision, "changes": changes}
    with pytest.raises(ValueError):  # noqa: PT011 - several reasons, one error type
        decode_control(_wire(fields))


def test_started_event_records_the_revision_that_ran() -> None:
    env = decode_envelope("1-0", _wire({"v": "1", "id": "a", "type": "t", "data": "1",
                                        "revision": "1"}), "q")  # fmt: skip
    event = decode_event(_wire(event_fields(TaskEventType.STARTED, env, 5)))
    _, _, update = event_change(event)
    assert dict(zip(update[::2], update[1::2], strict=True))["run_revision"] == "1"


@pytest.mark.parametrize(
    ("record", "shown"),
    [
        ({}, (0, False)),
        ({b"revision": b"2"}, (2, False)),  # not started yet
        ({b"revision": b"2", b"run_revision": b"2"}, (2, False)),
        ({b"revision": b"2", b"run_revision": b"1"}, (2, True)),  # the last change came late
        ({b"run_revision": b"0"}, (0, False)),
    ],
)
def test_view_tells_whether_the_last_change_came_too_late(
    record: dict[bytes, bytes], shown: tuple[int, bool]
) -> None:
    data = view({b"id": b"a", b"type": b"t", b"queue": b"q", **record})
    assert (data["revision"], data["change_rejected"]) == shown
