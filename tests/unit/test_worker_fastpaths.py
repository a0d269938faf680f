"""The worker's hot-path shortcuts give exactly what the general code gives."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from conveyor.envelope import decode_envelope, new_envelope
from conveyor.errors import EnvelopeDecodeError
from conveyor.events import TaskEventType, event_fields, event_tokens
from conveyor.telemetry.batched import BatchedHistogram


def _pairs(tokens: list[str]) -> list[tuple[str, str]]:
    assert int(tokens[0]) == len(tokens) - 1
    return list(zip(tokens[1::2], tokens[2::2], strict=True))


@pytest.mark.parametrize(
    "extra", [{}, {"subject": "alice", "origin": "cron:nightly"}, {"subject": "bob"}]
)
def test_event_tokens_are_event_fields_flattened_in_order(extra: dict[str, str]) -> None:
    envelope = new_envelope("demo.echo", {"a": 1}, "default", **extra)  # type: ignore[arg-type]
    for kind in (TaskEventType.STARTED, TaskEventType.SUCCEEDED):
        tokens = event_tokens(kind, envelope, 1_700_000_000_123, "result", '{"a":1}')
        fields = event_fields(kind, envelope, 1_700_000_000_123, result='{"a":1}')
        assert _pairs(tokens) == list(fields.items())
    assert _pairs(event_tokens(TaskEventType.STARTED, envelope, 5)) == list(
        event_fields(TaskEventType.STARTED, envelope, 5).items()
    )


@pytest.mark.parametrize("payload", [None, {"x": [1, 2]}, "null", 0, []])
def test_decode_of_bytes_str_and_mixed_fields_agree(payload: object) -> None:
    envelope = new_envelope("demo.echo", payload, "default", idempotency_key="k1", subject="s")
    text = envelope.to_fields()
    as_bytes = {k.encode(): v.encode() for k, v in text.items()}
    mixed = {k.encode() if n % 2 else k: v for n, (k, v) in enumerate(text.items())}
    decoded = [decode_envelope("1-1", raw, "default") for raw in (text, as_bytes, mixed)]
    assert decoded[0] == decoded[1] == decoded[2] == envelope
    assert all(d.payload == payload for d in decoded)


def test_decode_still_rejects_bad_type_json_and_utf8() -> None:
    good = {k.encode(): v.encode() for k, v in new_envelope("a.b", 1, "q").to_fields().items()}
    for field, value, reason in [
        (b"type", b"bad type!", "is not a valid task type"),
        (b"data", b"nul", "is not valid JSON"),
        (b"data", b"\xff", "not valid UTF-8"),
    ]:
        with pytest.raises(EnvelopeDecodeError) as caught:
            decode_envelope("1-1", {**good, field: value}, "q")
        assert reason in caught.value.reason


def test_batched_histogram_matches_observe() -> None:
    values = [0.0, 0.0005, 0.001, 0.0011, 0.3, 7.0, 1e9, 0.005, 0.005]
    direct = Histogram(
        "d", "d", ["q"], buckets=(0.001, 0.005, 0.5, 10.0), registry=(r1 := CollectorRegistry())
    )
    batched_parent = Histogram(
        "d", "d", ["q"], buckets=(0.001, 0.005, 0.5, 10.0), registry=(r2 := CollectorRegistry())
    )
    for value in values:
        direct.labels("x").observe(value)
    batched = BatchedHistogram(batched_parent.labels("x"))
    batched.values.extend(values)
    assert r2.get_sample_value("d_count", {"q": "x"}) == 0
    batched.flush()
    batched.flush()  # nothing new: adds nothing
    for bound in ("0.001", "0.005", "0.5", "10.0", "+Inf"):
        labels = {"q": "x", "le": bound}
        assert r1.get_sample_value("d_bucket", labels) == r2.get_sample_value("d_bucket", labels)
    assert r1.get_sample_value("d_sum", {"q": "x"}) == r2.get_sample_value("d_sum", {"q": "x"})
    assert r2.get_sample_value("d_count", {"q": "x"}) == len(values)
