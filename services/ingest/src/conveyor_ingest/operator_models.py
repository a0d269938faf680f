"""Response bodies of the operator routes (workers, queue pause/resume, history)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from conveyor.envelope import format_time
from conveyor.pausing import PauseState
from conveyor.workers import WorkerRecord


def ms_time(ms: int) -> str:
    """Unix ms as RFC 3339 UTC with milliseconds (the API's time format)."""
    return format_time(datetime.fromtimestamp(ms / 1000, tz=UTC))


class WorkerOut(BaseModel):
    """One live worker process, as its last heartbeat described it."""

    consumer: str = Field(description="Consumer name in the workers group (host-pid-suffix).")
    host: str
    pid: int
    version: str = Field(description="Installed conveyor-worker version.")
    queues: list[str] = Field(description="Queues (and partitions, as queue~N) it reads.")
    concurrency: int = Field(description="Handlers it runs at once at most.")
    in_flight: int = Field(description="Tasks it held at the last heartbeat.")
    started_at: str = Field(description="When the process started (RFC 3339).")
    last_heartbeat: str = Field(description="When it last wrote its heartbeat (RFC 3339).")
    expires_in_s: float = Field(description="Seconds until it is gone unless it beats again.")

    @classmethod
    def of(cls, record: WorkerRecord, now_ms: int) -> WorkerOut:
        """The API view of a heartbeat record at ``now_ms``."""
        left = record.heartbeat_ms + record.ttl_ms - now_ms
        return cls(
            consumer=record.consumer, host=record.host, pid=record.pid, version=record.version,
            queues=list(record.queues), concurrency=record.concurrency,
            in_flight=record.in_flight, started_at=ms_time(record.started_ms),
            last_heartbeat=ms_time(record.heartbeat_ms), expires_in_s=max(left, 0) / 1000,
        )  # fmt: skip


class WorkerList(BaseModel):
    """GET /api/v1/workers."""

    items: list[WorkerOut]


class QueuePauseOut(BaseModel):
    """POST /api/v1/queues/{queue}/pause and /resume."""

    queue: str
    paused: bool
    paused_at: str | None = Field(default=None, description="When it was paused (RFC 3339).")
    paused_by: str | None = Field(default=None, description="Subject of the token that paused it.")
    changed: bool = Field(description="False when the queue already was in the asked state.")

    @classmethod
    def of(cls, queue: str, state: PauseState | None, *, changed: bool) -> QueuePauseOut:
        """The answer for ``queue`` (``state`` None: not paused)."""
        if state is None:
            return cls(queue=queue, paused=False, changed=changed)
        return cls(
            queue=queue, paused=True, paused_at=ms_time(state.paused_at_ms),
            paused_by=state.paused_by, changed=changed,
        )  # fmt: skip
