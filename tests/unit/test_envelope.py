"""The envelope: encoding, decoding, and decode errors that keep the raw entry."""

from __future__ import annotations

import pytest

from conveyor.envelope import TaskEnvelope, decode_envelope, new_envelope
from conveyor.errors import EnvelopeDecodeError, EnvelopeEncodeError


def test_round_trip_keeps_every_field() -> None:
    env = new_envelope(
        "demo.echo",
        {"a": [1, 2], "ü": None},
        "default",
        source="/clients/alice",
        max_attempts=5,
        timeout=2.5,
        idempotency_key="alice:k1",
        subject="alice",
        origin="api",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        tracestate="k=v",
    )
    raw = {k.encode(): v.encode() for k, v in env.to_fields().items()}
    back = decode_envelope("1-0", raw, "default")
    assert back == env
    assert back.payload == {"a": [1, 2], "ü": None}


def test_optional_fields_are_left_out_of_the_wire() -> None:
    env = new_envelope("demo.echo", 1, "default")
    assert set(env.to_fields()) == {
        "v",
        "id",
        "type",
        "queue",
        "datacontenttype",
        "data",
        "time",
        "attempt",
    }


def test_minimal_raw_entry_gets_defaults() -> None:
    env = decode_envelope("5-0", {"v": "1", "id": "x1", "type": "demo.echo", "data": "{}"}, "q")
    assert (env.queue, env.attempt, env.max_attempts, env.timeout) == ("q", 1, None, None)
    assert env.effective_idempotency_key == "x1"


def test_next_attempt_increments_only_the_attempt() -> None:
    env = new_envelope("demo.echo", 1, "default")
    nxt = env.next_attempt()
    assert nxt.attempt == 2
    assert nxt.id == env.id


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"id": "a", "type": "t", "data": "1"}, "unsupported envelope version None"),
        ({"v": "2", "id": "a", "type": "t", "data": "1"}, "unsupported envelope version '2'"),
        ({"v": "1", "type": "t", "data": "1"}, "field 'id' is missing"),
        ({"v": "1", "id": "a", "data": "1"}, "field 'type' is missing"),
        ({"v": "1", "id": "a", "type": "bad type!", "data": "1"}, "is not a valid task type"),
        ({"v": "1", "id": "a", "type": "t"}, "field 'data' is missing"),
        ({"v": "1", "id": "a", "type": "t", "data": "{nope"}, "field 'data' is not valid JSON"),
        ({"v": "1", "id": "a", "type": "t", "data": "1", "attempt": "x"}, "must be an integer"),
        ({"v": "1", "id": "a", "type": "t", "data": "1", "attempt": "0"}, "at least 1"),
        ({"v": "1", "id": "a", "type": "t", "data": "1", "timeout": "-1"}, "positive number"),
        ({"v": "1", "id": "a", "type": "t", "data": "1", "timeout": "nan"}, "positive number"),
        ({"v": "1", "id": "a", "type": "t", "data": "1", "queue": "other"}, "on queue 'q'"),
        (
            {"v": "1", "id": "a", "type": "t", "data": "1", "datacontenttype": "text/plain"},
            "datacontenttype",
        ),
        ({"v": "1", "id": "a" * 129, "type": "t", "data": "1"}, "longer than 128"),
        ({"v": "1", "id": "{q}", "type": "t", "data": "1"}, "'id' must not contain"),
        (
            {"v": "1", "id": "a", "type": "t", "data": "1", "idempotency_key": "k}"},
            "'idempotency_key' must not contain",
        ),
    ],
)
def test_decode_error_keeps_entry_id_fields_and_reason(fields: dict[str, str], reason: str) -> None:
    raw = {k.encode(): v.encode() for k, v in fields.items()}
    with pytest.raises(EnvelopeDecodeError) as caught:
        decode_envelope("17-3", raw, "q")
    assert caught.value.entry_id == "17-3"
    assert caught.value.fields == raw
    assert reason in caught.value.reason


def test_non_utf8_fields_are_a_decode_error() -> None:
    with pytest.raises(EnvelopeDecodeError, match="UTF-8"):
        decode_envelope("1-1", {b"v": b"\xff"}, "q")


def test_unserialisable_payload_is_an_encode_error() -> None:
    with pytest.raises(EnvelopeEncodeError, match="JSON"):
        new_envelope("demo.echo", {"x": object()}, "default")
    with pytest.raises(EnvelopeEncodeError, match="JSON"):
        new_envelope("demo.echo", float("nan"), "default")


def test_invalid_type_is_an_encode_error() -> None:
    with pytest.raises(EnvelopeEncodeError, match="task type"):
        new_envelope("", 1, "default")


def test_envelope_is_frozen() -> None:
    env = TaskEnvelope(id="a", type="t", queue="q")
    with pytest.raises(AttributeError):
        env.attempt = 3  # type: ignore[misc]
