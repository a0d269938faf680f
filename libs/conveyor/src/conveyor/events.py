"""Task lifecycle events: the ``{q}:events`` stream that ingest's read model is built from.

Flat string fields, like the task envelope:

| field | when | value |
|---|---|---|
| ``v`` | always | ``1`` |
| ``event`` | always | a :class:`TaskEventType` |
| ``task_id`` | always | the task's id |
| ``type`` | always | the task type |
| ``queue`` | always | the queue |
| ``attempt`` | always | attempt number |
| ``at_ms`` | always | when it happened (Unix ms) |
| ``subject``, ``origin`` | when known | who submitted it, what created it |
| ``revision`` | a changed task | the task's revision (envelope ``revision``), left out when 0 |
| ``due_ms`` | scheduled, retrying | when the task is due |
| ``result`` | succeeded | the handler's return value as JSON text |
| ``error`` | retrying, dead, dropped | the last error, one line |
| ``progress``, ``progress_message`` | progress | the fraction done (0 to 1) and a message |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from conveyor.envelope import TaskEnvelope, as_text

EVENT_VERSION = "1"


class TaskEventType(StrEnum):
    """What happened to a task."""

    PENDING = "pending"  # enqueued on its task stream
    SCHEDULED = "scheduled"  # waiting in the scheduler's timer index
    STARTED = "started"  # a handler began an attempt
    RETRYING = "retrying"  # an attempt failed; a retry timer is set
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # moved to the dead-letter stream
    CANCELLED = "cancelled"
    DROPPED = "dropped"  # the handler raised Drop: finished without running further
    UPDATED = "updated"  # changed before it started
    PROGRESS = "progress"  # a running handler reported how far it got (ctx.progress)


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One lifecycle event as read from the events stream."""

    event: TaskEventType
    task_id: str
    type: str
    queue: str
    attempt: int
    at_ms: int
    subject: str = ""
    origin: str = ""
    due_ms: int | None = None
    result: str | None = None
    error: str | None = None
    revision: int = 0
    progress: float | None = None
    progress_message: str | None = None


def event_fields(
    event: TaskEventType,
    envelope: TaskEnvelope,
    at_ms: int,
    **extra: Any,
) -> dict[str, str]:
    """XADD fields of ``event`` for ``envelope``; ``extra`` adds due_ms, result or error."""
    fields = {
        "v": EVENT_VERSION,
        "event": event.value,
        "task_id": envelope.id,
        "type": envelope.type,
        "queue": envelope.queue,
        "attempt": str(envelope.attempt),
        "at_ms": str(at_ms),
    }
    if envelope.subject:
        fields["subject"] = envelope.subject
    if envelope.origin:
        fields["origin"] = envelope.origin
    if envelope.revision:
        fields["revision"] = str(envelope.revision)
    for name, value in extra.items():
        if value is not None:
            fields[name] = str(value)
    return fields


def event_tokens(
    event: TaskEventType, envelope: TaskEnvelope, at_ms: int, *extra: str
) -> list[str]:
    """``event_fields`` flattened for a script: ``[n, name, value, ...]`` (n = 2 x fields).

    ``extra`` are name, value pairs appended as given (e.g. ``"result", "null"``).
    The worker builds two events per task; this skips the dict and its flattening.
    """
    tokens = [
        "",
        "v",
        EVENT_VERSION,
        "event",
        event.value,
        "task_id",
        envelope.id,
        "type",
        envelope.type,
        "queue",
        envelope.queue,
        "attempt",
        str(envelope.attempt),
        "at_ms",
        str(at_ms),
    ]
    if envelope.subject:
        tokens += ("subject", envelope.subject)
    if envelope.origin:
        tokens += ("origin", envelope.origin)
    if envelope.revision:
        tokens += ("revision", str(envelope.revision))
    if extra:
        tokens += extra
    tokens[0] = str(len(tokens) - 1)
    return tokens


def decode_event(raw: Mapping[bytes, bytes] | Mapping[str, str]) -> TaskEvent:
    """Read an events-stream entry; raises ValueError on an entry that is not an event."""
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    if fields.get("v") != EVENT_VERSION:
        msg = f"unsupported event version {fields.get('v')!r}"
        raise ValueError(msg)
    due = fields.get("due_ms")
    return TaskEvent(
        event=TaskEventType(fields["event"]),
        task_id=fields["task_id"],
        type=fields.get("type", ""),
        queue=fields.get("queue", ""),
        attempt=int(fields.get("attempt", "1")),
        at_ms=int(fields["at_ms"]),
        subject=fields.get("subject", ""),
        origin=fields.get("origin", ""),
        due_ms=int(due) if due else None,
        result=fields.get("result"),
        error=fields.get("error"),
        revision=int(fields.get("revision") or "0"),
        progress=float(fields["progress"]) if "progress" in fields else None,
        progress_message=fields.get("progress_message"),
    )
