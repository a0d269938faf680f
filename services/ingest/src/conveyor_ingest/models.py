"""Request and response bodies (pydantic): validation and the OpenAPI schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from conveyor.envelope import TASK_TYPE
from conveyor.settings import QUEUE_NAME
from conveyor.status import TaskStatus as TaskStatus  # re-exported: the API's statuses

MAX_ATTEMPTS = 100
MAX_TIMEOUT_S = 86_400.0
MAX_PARTITION_KEY = 200


class StrictModel(BaseModel):
    """Unknown fields are errors; instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskOptions(StrictModel):
    """Options shared by a new task and a change to one."""

    delay: float | None = Field(default=None, ge=0, description="Seconds before it may run.")
    run_at: datetime | None = Field(default=None, description="RFC 3339 instant it may run at.")
    max_attempts: int | None = Field(default=None, ge=1, le=MAX_ATTEMPTS)
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S, description="Seconds.")

    @model_validator(mode="after")
    def _one_due_time(self) -> Self:
        if self.delay is not None and self.run_at is not None:
            msg = "give delay or run_at, not both"
            raise ValueError(msg)
        if self.run_at is not None and self.run_at.tzinfo is None:
            msg = "run_at needs a time zone offset, e.g. 2026-01-01T00:00:00Z"
            raise ValueError(msg)
        return self


class TaskRequest(TaskOptions):
    """POST /api/v1/tasks."""

    type: str = Field(pattern=TASK_TYPE.pattern, description="Task type (handler name).")
    payload: JsonValue = Field(default=None, description="Any JSON value.")
    queue: str = Field(default="default", pattern=QUEUE_NAME.pattern)
    partition_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PARTITION_KEY,
        description="Tasks with one key go to one partition of the queue, in order.",
    )

    @field_validator("partition_key")
    @classmethod
    def _printable_key(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            msg = "partition_key must be printable text"
            raise ValueError(msg)
        return value


class BatchRequest(StrictModel):
    """POST /api/v1/tasks/batch."""

    tasks: list[TaskRequest] = Field(min_length=1, description="Tasks, validated all first.")


class TaskUpdate(TaskOptions):
    """PUT /api/v1/tasks/{id}: the fields to change (a task that has not started only)."""

    payload: JsonValue = Field(default=None, description="New payload (omit to keep).")


class Accepted(BaseModel):
    """``data`` of a 202 for one task."""

    id: str
    queue: str
    status: TaskStatus
    revision: int | None = Field(
        default=None, description="PUT of a task on its task stream: the change's revision."
    )


class TaskView(BaseModel):
    """``data`` of GET /api/v1/tasks/{id}."""

    id: str
    type: str
    queue: str
    status: TaskStatus
    attempts: int
    result: JsonValue = None
    error: str | None = None
    subject: str | None = None
    origin: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    due_at: str | None = None
    replay_of: str | None = None
    revision: int = Field(default=0, description="Changes (PUT) accepted so far.")
    change_rejected: bool = Field(
        default=False,
        description="The last accepted change came after a worker had started the task.",
    )


class TaskPage(BaseModel):
    """``data`` of GET /api/v1/tasks."""

    items: list[TaskView]
    next_cursor: str | None


class ReplayFilter(StrictModel):
    """POST /api/v1/dead-letters/replay: replay every dead letter that matches."""

    queue: str = Field(default="default", pattern=QUEUE_NAME.pattern)
    type: str | None = Field(default=None, pattern=TASK_TYPE.pattern)
    reason: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)


def envelope_schema(data: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAPI schema of the response envelope around ``data``."""
    return {
        "type": "object",
        "required": ["code", "message", "data"],
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "data": data or {"type": "null"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }
