"""The envelope's cached payload encoder writes what json.dumps with its options writes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conveyor.envelope import new_envelope
from conveyor.errors import EnvelopeEncodeError

PAYLOADS: list[Any] = [
    {"n": 1},
    'text "quoted" \u2028 é \U0001f600',
    12,
    2.5,
    None,
    True,
    [1, {"a": None, "b": [False, -0.0, 1e300]}],
    {1: "int key", "z": {}},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_text_matches_json_dumps(payload: Any) -> None:
    expected = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert new_envelope("t.a", payload, "q").data == expected


@pytest.mark.parametrize("payload", [float("nan"), {"x": float("inf")}, {"o": object()}])
def test_payloads_json_cannot_carry_are_refused(payload: Any) -> None:
    with pytest.raises(EnvelopeEncodeError):
        new_envelope("t.a", payload, "q")


def test_a_circular_payload_is_refused() -> None:
    payload: dict[str, Any] = {}
    payload["self"] = payload
    with pytest.raises(EnvelopeEncodeError):
        new_envelope("t.a", payload, "q")
