"""The strict JSON codec: RFC 8259 only, NaN/Infinity refused with the path to them."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor import jsoncodec
from conveyor.envelope import decode_envelope, new_envelope
from conveyor.errors import (
    ConfigurationError,
    EnvelopeDecodeError,
    EnvelopeEncodeError,
    JsonNumberError,
)
from conveyor.logging import _encode_json
from conveyor.schedules import ScheduleDefinition
from conveyor_scheduler.schedules_file import parse_schedules

FINITE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


def _strict(text: str) -> Any:
    """A parser independent of the codec: the standard one with NaN/Infinity refused."""

    def refuse(token: str) -> Any:
        raise AssertionError(token)

    return json.loads(text, parse_constant=refuse)


@given(FINITE_JSON)
def test_every_finite_value_round_trips_as_strict_json(value: Any) -> None:
    text = jsoncodec.dumps(value)
    assert _strict(text) == value
    assert jsoncodec.loads(text) == value
    assert jsoncodec.loads(text.encode()) == value


@pytest.mark.parametrize(
    ("text", "what", "path"),
    [
        ("NaN", "NaN", ""),
        ('{"x":Infinity}', "Infinity", "x"),
        ('{"a":[1,{"b":-Infinity}]}', "-Infinity", "a.1.b"),
        ("[0, 1e400]", "1e400", "1"),
        ('{"y":-1E+999}', "-1E+999", "y"),
    ],
)
def test_decode_refuses_non_finite_numbers_naming_the_path(text: str, what: str, path: str) -> None:
    with pytest.raises(JsonNumberError) as caught:
        jsoncodec.loads(text)
    assert (caught.value.what, caught.value.path) == (what, path)
    assert isinstance(caught.value, ValueError)  # callers' "not JSON" handling applies


def test_decode_keeps_strings_that_spell_nan_and_tiny_numbers() -> None:
    assert jsoncodec.loads('["NaN", "Infinity", 1e-400, 12345678901234567890]') == [
        "NaN", "Infinity", 0.0, 12345678901234567890,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": math.inf, "y": math.nan}, "Infinity is not a JSON number (at x)"),
        ([1, [math.nan]], "NaN is not a JSON number (at 1.0)"),
        (-math.inf, "-Infinity is not a JSON number;"),
    ],
)
def test_encode_refuses_non_finite_numbers_naming_the_path(value: Any, message: str) -> None:
    with pytest.raises(JsonNumberError, match=re.escape(message)):
        jsoncodec.dumps(value)
    with pytest.raises(JsonNumberError):
        jsoncodec.dumps(value, default=str)


def test_encode_writes_compact_utf8_and_uses_default() -> None:
    assert jsoncodec.dumps({"é": [1, 2.5]}) == '{"é":[1,2.5]}'
    assert jsoncodec.dumps({"s": {1}}, default=sorted) == '{"s":[1]}'
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular"):
        jsoncodec.dumps(cycle)


def test_envelopes_refuse_non_finite_payloads_and_data() -> None:
    with pytest.raises(EnvelopeEncodeError, match=r"NaN is not a JSON number \(at a\)"):
        new_envelope("demo.echo", {"a": math.nan}, "default")
    fields = {**new_envelope("demo.echo", None, "default").to_fields(), "data": '{"a":NaN}'}
    with pytest.raises(EnvelopeDecodeError, match="field 'data' is not valid JSON"):
        decode_envelope("1-0", fields, "default")


def test_schedules_refuse_non_finite_numbers_from_every_source() -> None:
    base = {"id": "n", "cron": "@daily", "task": {"type": "t.x"}}
    for bad in (
        {**base, "task": {"type": "t.x", "payload": {"r": math.nan}}},
        {**base, "jitter": math.inf},
        {**base, "task": {"type": "t.x", "timeout": math.inf}},
    ):
        with pytest.raises(ValueError, match=r"finite|JSON number"):
            ScheduleDefinition.model_validate(bad)
    text = "schedules:\n  - id: n\n    cron: '@daily'\n    task: {type: t.x, payload: {r: .nan}}\n"
    with pytest.raises(ConfigurationError, match=r"JSON number|finite"):
        parse_schedules(text)


def test_log_lines_name_non_finite_numbers_instead_of_writing_them() -> None:
    line = _encode_json({"event": "x", "ratio": math.nan, "xs": [math.inf]})
    assert _strict(line) == {"event": "x", "ratio": "NaN", "xs": ["Infinity"]}
