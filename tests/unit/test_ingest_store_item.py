"""The enqueue script's task items carry exactly the envelope's wire fields, in order."""

from __future__ import annotations

import json
from itertools import chain

import pytest

from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.producing.tasks import NewTask
from conveyor.producing.writes import script_item, wire_fields_json
from conveyor.timers import TimerKind, timer_fields

ENVELOPES = [
    new_envelope("demo.echo", None, "default"),
    new_envelope(
        "a/b:c-d_e.f",
        {"q": 'x"\\\n\u00e9\u2028'},
        "other",
        source="/api/v1",
        max_attempts=3,
        timeout=2.5,
        idempotency_key="alice:k:7",
        subject="s\u00e9 \x1f",
        origin="batch",
        traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
        tracestate="k=v",
    ),
    new_envelope("demo.echo", [1, 2.5, None], "default", timeout=1e-3, subject="bob"),
]


@pytest.mark.parametrize("envelope", ENVELOPES)
def test_wire_fields_json_matches_to_fields(envelope: TaskEnvelope) -> None:
    rendered = json.loads("[" + wire_fields_json(envelope) + "]")
    assert rendered == list(chain.from_iterable(envelope.to_fields().items()))


@pytest.mark.parametrize("envelope", ENVELOPES)
def test_item_of_a_task_and_of_a_delayed_task(envelope: TaskEnvelope) -> None:
    now = json.loads(script_item(NewTask(envelope), bucket=2))
    assert now == {"f": list(chain.from_iterable(envelope.to_fields().items())), "b": 2}
    later = json.loads(script_item(NewTask(envelope, due_ms=5, replay_of="t0")))
    fields = timer_fields(envelope, 5, TimerKind.DELAYED)
    assert later["f"] == list(chain.from_iterable(fields.items()))
    assert later == {"f": later["f"], "d": 1, "r": "t0"}
