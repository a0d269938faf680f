"""The typed context a handler receives with its payload."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from conveyor.envelope import TaskEnvelope, decode_event_attributes
from conveyor.handlers._effects import Effects
from conveyor.handlers._lifespan import Resources

MAX_PROGRESS_MESSAGE = 500


@dataclass(slots=True)
class TaskContext:
    """What a handler knows about the task it runs, and where it queues effects.

    ``idempotency_key`` is the key the task's effects are deduplicated by; pass
    it on to external systems (e.g. as an ``Idempotency-Key`` header) so their
    side effects are deduplicated too. ``resources`` holds what the registry's
    lifespans opened for the whole process (``ctx.resources[KEY]``, typed by the key).
    """

    envelope: TaskEnvelope
    entry_id: str
    delivery_count: int = 1
    effects: Effects = field(default_factory=Effects)
    resources: Resources = field(default_factory=Resources)
    # Where progress reports go (the worker's coalescing reporter); None keeps the last.
    progress_sink: Callable[[TaskContext], None] | None = None
    last_progress: tuple[float, str] | None = None

    async def progress(self, fraction: float, message: str = "") -> None:
        """Report how far the task got: ``fraction`` from 0 to 1 and a short message.

        Cheap to call often: the worker publishes at most a few reports a second per task
        (the last one always, at the latest with the task's outcome). GET
        /api/v1/tasks/{id}, its event stream and the client show it.
        """
        if not isinstance(fraction, int | float) or not math.isfinite(fraction):
            msg = f"progress fraction must be a number from 0 to 1, not {fraction!r}"
            raise ValueError(msg)
        if not 0 <= fraction <= 1:
            msg = f"progress fraction must be from 0 to 1, not {fraction!r}"
            raise ValueError(msg)
        if len(message) > MAX_PROGRESS_MESSAGE:
            msg = f"progress message is {len(message)} characters; at most {MAX_PROGRESS_MESSAGE}"
            raise ValueError(msg)
        self.last_progress = (float(fraction), message)
        if self.progress_sink is not None:
            self.progress_sink(self)

    @property
    def task_id(self) -> str:
        """The task's id."""
        return self.envelope.id

    @property
    def attempt(self) -> int:
        """The attempt number, from 1."""
        return self.envelope.attempt

    @property
    def queue(self) -> str:
        """The queue the task came from."""
        return self.envelope.queue

    @property
    def idempotency_key(self) -> str:
        """The key effects are deduplicated by (client key, fire identity or task id)."""
        return self.envelope.effective_idempotency_key

    @property
    def event_attributes(self) -> dict[str, str]:
        """A task made from a CloudEvent: the event's attributes without a task field of
        their own (id, time, subject, datacontenttype, extensions...); else empty.

        A ``datacontenttype`` that is not JSON means the payload is the data's bytes as
        Base64 text (docs/wire-format.md).
        """
        return decode_event_attributes(self.envelope.event_attributes)
