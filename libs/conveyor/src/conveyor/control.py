"""Control messages: the ``{q}:control`` stream from ingest to workers and the scheduler.

| field | value |
|---|---|
| ``v`` | ``1`` |
| ``op`` | a :class:`ControlOp` |
| ``task_id`` | the task concerned |
| ``at_ms`` | when ingest accepted the change (Unix ms) |
| ``until_ms`` | how long the mark must be kept (at least the longest delay) |
| ``revision`` | replace: the task's new revision (1, 2, ...) |
| ``changes`` | replace: JSON object of the changed task fields (see CHANGEABLE) |

A cancel reaches the worker group (which marks the task so no worker runs it)
and the scheduler group (which drops a pending timer). A replace (PUT: a change
of a task that has not started) reaches both groups too: the scheduler changes a
pending first-attempt timer of the task with a lower revision; the worker that
takes an entry of the task with a lower revision skips it and enqueues the
changed task instead, in the same atomic step. Whichever applies it first, the
other then finds the task at that revision and leaves it alone, so a change
applies once even when the scheduler promoted the timer before the replace
reached it. ``changes`` holds every change since the task was enqueued
(cumulative), so it applies to any older copy of the task; a value ``""``
removes the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from conveyor import jsoncodec
from conveyor.envelope import as_text

CONTROL_VERSION = "1"
# Task fields a replace may change, in the order the worker writes them; ``due_ms``
# (Unix ms) makes the changed task a delayed one (a timer) instead of a runnable one.
CHANGEABLE = ("data", "max_attempts", "timeout", "due_ms")


class ControlOp(StrEnum):
    """What a control message asks for."""

    CANCEL = "cancel"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class ControlMessage:
    """A control message's fields."""

    op: ControlOp
    task_id: str
    at_ms: int
    until_ms: int | None = None
    revision: int = 0
    changes: str = ""  # replace: the JSON object, as sent (checked by decode_control)


def cancel_fields(task_id: str, at_ms: int, until_ms: int) -> dict[str, str]:
    """XADD fields of a cancel."""
    return {
        "v": CONTROL_VERSION,
        "op": ControlOp.CANCEL.value,
        "task_id": task_id,
        "at_ms": str(at_ms),
        "until_ms": str(until_ms),
    }


def replace_fields(
    task_id: str,
    at_ms: int,
    until_ms: int,
    revision: int | None = None,
    changes: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """XADD fields of a replace: ``changes`` maps CHANGEABLE field names to new values.

    Without ``revision`` the two last fields are left out: ingest's change script adds
    them, since it alone knows the task's next revision and cumulative changes.
    """
    fields = {
        "v": CONTROL_VERSION,
        "op": ControlOp.REPLACE.value,
        "task_id": task_id,
        "at_ms": str(at_ms),
        "until_ms": str(until_ms),
    }
    if revision is not None:
        fields["revision"] = str(revision)
        fields["changes"] = jsoncodec.dumps(dict(changes or {}))
    return fields


def decode_control(raw: Mapping[bytes, bytes] | Mapping[str, str]) -> ControlMessage:
    """Read a control entry's own fields; raises ValueError on anything else."""
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    op = ControlOp(fields["op"])
    version = fields.get("v")
    if version != CONTROL_VERSION:
        msg = f"unsupported control message version {version!r}"
        raise ValueError(msg)
    until = fields.get("until_ms")
    message = ControlMessage(
        op=op,
        task_id=fields["task_id"],
        at_ms=int(fields["at_ms"]),
        until_ms=int(until) if until else None,
    )
    if op is ControlOp.REPLACE:
        return _replace(message, fields)
    return message


def _replace(message: ControlMessage, fields: dict[str, str]) -> ControlMessage:
    """A replace's revision and changes, checked: the worker's script trusts them."""
    revision = int(fields["revision"])
    changes = jsoncodec.loads(fields["changes"])
    if revision < 1 or message.until_ms is None:
        msg = "a replace needs a revision of at least 1 and until_ms"
        raise ValueError(msg)
    if not isinstance(changes, dict) or not all(
        name in CHANGEABLE and isinstance(value, str) for name, value in changes.items()
    ):
        msg = f"replace changes must map {', '.join(CHANGEABLE)} to strings"
        raise ValueError(msg)
    return ControlMessage(
        message.op, message.task_id, message.at_ms, message.until_ms, revision,
        jsoncodec.dumps(changes),
    )  # fmt: skip
