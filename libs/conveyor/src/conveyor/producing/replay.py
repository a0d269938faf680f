"""Replaying a dead letter: a new task (new id, attempt 1, origin ``replay``).

The replay is written under an idempotency record keyed by the dead-letter entry
id, in the same atomic step as its XADD, so replaying one dead letter twice gives
the first replay's answer. It goes back to the partition its dead letter came from.
"""

from __future__ import annotations

from typing import Any

from conveyor.deadletter import DeadLetter
from conveyor.envelope import decode_envelope, new_envelope
from conveyor.keys import SYSTEM_SUBJECT
from conveyor.producing.tasks import Idempotency, NewTask, accepted

# Conveyor's own subject: no client's idempotency record can share a replay's.
REPLAY_SUBJECT = SYSTEM_SUBJECT
REPLAY_FINGERPRINT = "replay"


def replay_task(letter: DeadLetter, queue: str) -> NewTask:
    """The new task replaying ``letter`` of ``queue``; EnvelopeDecodeError if it cannot be."""
    original = decode_envelope(letter.entry_id, letter.task_fields, queue)
    envelope = new_envelope(
        original.type,
        original.payload,
        queue,
        source=original.source,
        max_attempts=original.max_attempts,
        timeout=original.timeout,
        subject=original.subject,
        origin="replay",
        traceparent=original.traceparent,
        tracestate=original.tracestate,
        partition_key=original.partition_key,
        event_attributes=original.event_attributes,
        priority=original.priority,
    )
    return NewTask(envelope=envelope, replay_of=original.id)


def replay_idempotency(letter: DeadLetter) -> Idempotency:
    """The idempotency record that makes a second replay of ``letter`` return the first."""
    return Idempotency(REPLAY_SUBJECT, letter.entry_id, REPLAY_FINGERPRINT)


def replay_answer(task: NewTask, letter: DeadLetter) -> dict[str, Any]:
    """What a replay answers: the new task, the task it replays and the dead letter."""
    return {**accepted(task), "replay_of": task.replay_of, "dead_entry_id": letter.entry_id}
