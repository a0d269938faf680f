"""Timer messages: the ``{q}:timers-in`` stream that feeds the scheduler's timer index.

A timer message is a task envelope's fields plus:

| field | value |
|---|---|
| ``due_ms`` | when the task becomes runnable (Unix ms, server clock) |
| ``timer_kind`` | a :class:`TimerKind` |

The scheduler files it under the task id (one pending timer per task), and
when it is due XADDs the envelope's fields, without these two, to the queue's
task stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from conveyor.envelope import TaskEnvelope, as_text, decode_envelope
from conveyor.errors import EnvelopeDecodeError

DUE_FIELD = "due_ms"
KIND_FIELD = "timer_kind"


class TimerKind(StrEnum):
    """Why a task waits."""

    DELAYED = "delayed"  # submitted with a delay or run_at
    RETRY = "retry"  # a failed attempt's backoff
    DEFERRED = "deferred"  # postponed without spending an attempt (open circuit breaker)


@dataclass(frozen=True, slots=True)
class Timer:
    """A task and when it is due."""

    envelope: TaskEnvelope
    due_ms: int
    kind: TimerKind


def timer_fields(envelope: TaskEnvelope, due_ms: int, kind: TimerKind) -> dict[str, str]:
    """XADD fields of a timer message."""
    fields = envelope.to_fields()
    fields[DUE_FIELD] = str(due_ms)
    fields[KIND_FIELD] = kind.value
    return fields


def decode_timer(
    entry_id: str, raw: Mapping[bytes, bytes] | Mapping[str, str], queue: str
) -> Timer:
    """Read a timers-in entry; raises EnvelopeDecodeError when it is not a valid timer."""
    envelope = decode_envelope(entry_id, raw, queue)
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    due = fields.get(DUE_FIELD, "")
    kind = fields.get(KIND_FIELD, TimerKind.DELAYED.value)
    try:
        return Timer(envelope=envelope, due_ms=int(due), kind=TimerKind(kind))
    except ValueError as exc:
        msg = f"invalid timer fields {DUE_FIELD}={due!r} {KIND_FIELD}={kind!r}"
        raise EnvelopeDecodeError(entry_id, raw, msg) from exc
