"""What the client hands back: a task as the read model shows it, and enqueue options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conveyor.errors import TaskCancelledError, TaskDeadError
from conveyor.status import FINAL_STATUSES, TaskStatus


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _progress(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {"progress": float(value["fraction"]), "progress_message": value.get("message")}


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task's status, attempts, result, error and times (GET /api/v1/tasks/{id})."""

    id: str
    type: str
    queue: str
    status: TaskStatus
    attempts: int = 0
    result: Any = None
    error: str | None = None
    subject: str | None = None
    origin: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    due_at: datetime | None = None
    replay_of: str | None = None
    revision: int = 0
    change_rejected: bool = False
    # A task made from a CloudEvent: the event's attributes without a task field (id, time,
    # extensions...), as strings; None for other tasks.
    event_attributes: dict[str, str] | None = None
    progress: float | None = None  # the fraction its handler last reported (ctx.progress)
    progress_message: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TaskView:
        """A view from the API's JSON object (``conveyor.records.view`` for direct reads)."""
        return cls(
            id=str(data["id"]),
            type=str(data.get("type") or ""),
            queue=str(data.get("queue") or ""),
            status=TaskStatus(data.get("status") or TaskStatus.PENDING),
            attempts=int(data.get("attempts") or 0),
            result=data.get("result"),
            error=data.get("error"),
            subject=data.get("subject"),
            origin=data.get("origin"),
            created_at=_moment(data.get("created_at")),
            started_at=_moment(data.get("started_at")),
            finished_at=_moment(data.get("finished_at")),
            due_at=_moment(data.get("due_at")),
            replay_of=data.get("replay_of"),
            revision=int(data.get("revision") or 0),
            change_rejected=bool(data.get("change_rejected")),
            event_attributes=data.get("event_attributes"),
            **_progress(data.get("progress")),
        )

    @property
    def done(self) -> bool:
        """Whether the task is finished: succeeded, dead or cancelled."""
        return self.status in FINAL_STATUSES

    def outcome(self) -> Any:
        """The handler's result; TaskDeadError or TaskCancelledError when there is none."""
        if self.status is TaskStatus.DEAD:
            msg = f"task {self.id} is dead: {self.error or 'no error recorded'}"
            raise TaskDeadError(msg, self)
        if self.status is TaskStatus.CANCELLED:
            msg = f"task {self.id} was cancelled"
            raise TaskCancelledError(msg, self)
        return self.result


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Per-task options of an enqueue (None: the declaration's or the worker's default)."""

    queue: str | None = None
    delay: float | None = None
    run_at: datetime | None = None
    partition_key: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class TaskItem:
    """One task to enqueue, as plain values (what the HTTP API's task body holds)."""

    type: str
    payload: Any
    queue: str
    delay: float | None = None
    run_at: datetime | None = None
    partition_key: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    priority: str | None = None  # high, normal or low (None: normal)

    def body(self) -> dict[str, Any]:
        """The item as the HTTP API's task object (unset options left out)."""
        body: dict[str, Any] = {"type": self.type, "payload": self.payload, "queue": self.queue}
        for name in ("delay", "partition_key", "max_attempts", "timeout", "priority"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.run_at is not None:
            body["run_at"] = self.run_at.isoformat()
        return body


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an enqueue answered for one task: its id, queue and first status."""

    id: str
    queue: str
    status: TaskStatus

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Accepted:
        """From the API's ``{"id", "queue", "status"}``."""
        return cls(str(data["id"]), str(data["queue"]), TaskStatus(data["status"]))
