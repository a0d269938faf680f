"""How the scheduler stores a pending task in its timer entries hash.

One JSON document per task id: ``{"f": [task fields, flat], "e": [PENDING event
fields, flat, without at_ms]}``. The promote script XADDs ``f`` to the task
stream and ``e`` (plus the promotion time) to the events stream, so promotion
needs no Python. ``f`` is the envelope's fields without ``due_ms``/``timer_kind``.
"""

from __future__ import annotations

from conveyor import jsoncodec
from conveyor.events import TaskEventType, event_fields
from conveyor.timers import Timer


def flatten(fields: dict[str, str]) -> list[str]:
    """``{k: v}`` as ``[k, v, ...]``, the argument shape of XADD in Lua."""
    return [item for pair in fields.items() for item in pair]


def pending_event(timer_or_fields: dict[str, str]) -> list[str]:
    """Event fields without ``at_ms``, which the script appends when the event happens."""
    fields = dict(timer_or_fields)
    fields.pop("at_ms", None)
    return flatten(fields)


def stored_entry(timer: Timer) -> str:
    """The timer entries hash value of ``timer``."""
    task = timer.envelope.to_fields()
    event = event_fields(TaskEventType.PENDING, timer.envelope, at_ms=0)
    return jsoncodec.dumps({"f": flatten(task), "e": pending_event(event)})


def read_entry(doc: bytes | str) -> dict[str, str]:
    """The task fields of a stored entry (for inspection and tests)."""
    flat = jsoncodec.loads(doc)["f"]
    return dict(zip(flat[::2], flat[1::2], strict=True))
