"""Dead letters: the ``{q}:dead`` stream a worker writes when a task cannot succeed.

A dead letter keeps the task's original fields as they were received (so an
undecodable entry is kept byte for byte and a decodable one can be replayed)
and adds, each prefixed ``dead_`` so it cannot clash with a task field:

| field | value |
|---|---|
| ``dead_reason`` | a :class:`DeadReason` |
| ``dead_error`` | the last error, one line |
| ``dead_attempts`` | attempts made (or deliveries, for poison) |
| ``dead_at_ms`` | when it was dead-lettered (Unix ms) |
| ``dead_entry_id`` | the task-stream entry id it came from |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

DEAD_PREFIX = "dead_"


class DeadReason(StrEnum):
    """Why a task was dead-lettered."""

    EXHAUSTED = "exhausted"  # every attempt failed
    PERMANENT = "permanent"  # the handler raised a permanent error
    INVALID_PAYLOAD = "invalid_payload"  # the payload failed the handler's model
    POISON = "poison"  # delivered too often without an outcome (it crashed workers)
    UNDECODABLE = "undecodable"  # the entry is not a valid envelope
    UNKNOWN_TYPE = "unknown_type"  # no handler is registered for its type


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-letter entry split into the original task fields and the dead_ metadata."""

    entry_id: str
    task_fields: dict[str, str]
    reason: DeadReason
    error: str
    attempts: int
    at_ms: int
    source_entry_id: str


def dead_fields(
    task_fields: Mapping[bytes, bytes] | Mapping[str, str],
    reason: DeadReason,
    error: str,
    attempts: int,
    at_ms: int,
    source_entry_id: str,
) -> dict[bytes | str, bytes | str]:
    """XADD fields of a dead letter; the task's own fields are copied unchanged."""
    fields: dict[bytes | str, bytes | str] = dict(task_fields.items())
    fields[f"{DEAD_PREFIX}reason"] = reason.value
    fields[f"{DEAD_PREFIX}error"] = error.replace("\n", " ")[:2000]
    fields[f"{DEAD_PREFIX}attempts"] = str(attempts)
    fields[f"{DEAD_PREFIX}at_ms"] = str(at_ms)
    fields[f"{DEAD_PREFIX}entry_id"] = source_entry_id
    return fields


def decode_dead_letter(entry_id: str, raw: Mapping[bytes, bytes] | Mapping[str, str]) -> DeadLetter:
    """Split a dead-letter entry; task fields that are not UTF-8 are shown with replacements."""
    fields = {_text(k): _text(v) for k, v in raw.items()}
    meta = {k.removeprefix(DEAD_PREFIX): v for k, v in fields.items() if k.startswith(DEAD_PREFIX)}
    task = {k: v for k, v in fields.items() if not k.startswith(DEAD_PREFIX)}
    return DeadLetter(
        entry_id=entry_id,
        task_fields=task,
        reason=DeadReason(meta.get("reason", DeadReason.UNDECODABLE.value)),
        error=meta.get("error", ""),
        attempts=int(meta.get("attempts", "0")),
        at_ms=int(meta.get("at_ms", "0")),
        source_entry_id=meta.get("entry_id", ""),
    )


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
