"""Control messages: the ``{q}:control`` stream from ingest to workers and the scheduler.

| field | value |
|---|---|
| ``v`` | ``1`` |
| ``op`` | a :class:`ControlOp` |
| ``task_id`` | the task concerned |
| ``at_ms`` | when ingest accepted the change (Unix ms) |
| ``until_ms`` | cancel: how long the cancel mark must be kept (at least the longest delay) |
| task fields + ``due_ms`` | update: the task's new envelope and due time, as a timer message |

A cancel reaches the worker group (which marks the task so no worker runs it)
and the scheduler group (which drops a pending timer). An update reaches the
scheduler, which replaces the pending timer if the task has not been promoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from conveyor.envelope import as_text

CONTROL_VERSION = "1"


class ControlOp(StrEnum):
    """What a control message asks for."""

    CANCEL = "cancel"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class ControlMessage:
    """A control message's own fields (an update's task fields are read with decode_timer)."""

    op: ControlOp
    task_id: str
    at_ms: int
    until_ms: int | None = None


def cancel_fields(task_id: str, at_ms: int, until_ms: int) -> dict[str, str]:
    """XADD fields of a cancel."""
    return {
        "v": CONTROL_VERSION,
        "op": ControlOp.CANCEL.value,
        "task_id": task_id,
        "at_ms": str(at_ms),
        "until_ms": str(until_ms),
    }


def update_fields(task_id: str, at_ms: int, timer: Mapping[str, str]) -> dict[str, str]:
    """XADD fields of an update: ``timer`` is the new task as timer_fields() encodes it.

    The task's ``v`` field is the envelope version; the control version travels as
    ``control_v`` so both fit in one flat entry.
    """
    return {
        **timer,
        "control_v": CONTROL_VERSION,
        "op": ControlOp.UPDATE.value,
        "task_id": task_id,
        "at_ms": str(at_ms),
    }


def decode_control(raw: Mapping[bytes, bytes] | Mapping[str, str]) -> ControlMessage:
    """Read a control entry's own fields; raises ValueError on anything else."""
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    op = ControlOp(fields["op"])
    version = fields.get("control_v") if op is ControlOp.UPDATE else fields.get("v")
    if version != CONTROL_VERSION:
        msg = f"unsupported control message version {version!r}"
        raise ValueError(msg)
    until = fields.get("until_ms")
    return ControlMessage(
        op=op,
        task_id=fields["task_id"],
        at_ms=int(fields["at_ms"]),
        until_ms=int(until) if until else None,
    )
