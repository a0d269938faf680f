"""The optional ``event_attributes`` wire field: round trip, absence, malformed values."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conveyor.envelope import (
    decode_envelope,
    decode_event_attributes,
    encode_event_attributes,
    new_envelope,
)
from conveyor.errors import EnvelopeDecodeError
from conveyor.handlers import TaskContext


def test_event_attributes_round_trip_and_are_left_out_when_empty() -> None:
    env = new_envelope("demo.echo", {"a": 1}, "default")
    assert "event_attributes" not in env.to_fields()
    text = encode_event_attributes({"id": "e-1", "myext": "blue \u20ac"})
    carried = replace(env, event_attributes=text)
    decoded = decode_envelope("1-0", carried.to_fields(), "default")
    assert decode_event_attributes(decoded.event_attributes) == {
        "id": "e-1",
        "myext": "blue \u20ac",
    }
    assert decode_event_attributes("") == {}


@pytest.mark.parametrize("value", ["[1]", '{"a": 1}', "not json"])
def test_malformed_event_attributes_do_not_decode(value: str) -> None:
    fields = {**new_envelope("demo.echo", None, "default").to_fields(), "event_attributes": value}
    with pytest.raises(EnvelopeDecodeError, match="event_attributes"):
        decode_envelope("1-0", fields, "default")


def test_a_handler_reads_the_event_attributes_from_its_context() -> None:
    env = new_envelope("demo.echo", None, "default", event_attributes='{"myext":"x"}')
    assert TaskContext(envelope=env, entry_id="1-0").event_attributes == {"myext": "x"}
    plain = new_envelope("demo.echo", None, "default")
    assert TaskContext(envelope=plain, entry_id="1-0").event_attributes == {}
