"""Request, query and response bodies (pydantic): validation and the OpenAPI schemas.

Request bodies are strict: JSON types are not coerced (``"delay": "5"``, ``"delay": true``,
``"max_attempts": "3"`` and ``"run_at": 0`` are errors). Query models are lax, since every
query value arrives as text. Response models are the ``data`` of the success envelope.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from conveyor.deadletter import DeadReason
from conveyor.envelope import TASK_TYPE
from conveyor.schedules import ScheduleDefinition
from conveyor.settings import QUEUE_NAME
from conveyor.status import TaskStatus as TaskStatus  # re-exported: the API's statuses

MAX_ATTEMPTS = 100
MAX_TIMEOUT_S = 86_400.0
MAX_PARTITION_KEY = 200
# The levels of conveyor.priority (a Literal: strict bodies take the JSON strings).
PriorityName = Literal["high", "normal", "low"]


class StrictModel(BaseModel):
    """A request body: unknown fields are errors, JSON types are not coerced, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class QueryModel(BaseModel):
    """A query string: values are text, read as the field's type; unknown names ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


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
    priority: PriorityName = Field(
        default="normal",
        description="Priority level: workers serve high 6 : normal 3 : low 1 when all wait.",
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


class TaskProgress(BaseModel):
    """How far a handler got, as it reported (``await ctx.progress(fraction, message)``)."""

    fraction: float = Field(ge=0, le=1, description="Done so far, from 0 to 1.")
    message: str = ""


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
    event_attributes: dict[str, str] | None = Field(
        default=None,
        description="A task made from a CloudEvent: the event's attributes that have no "
        "task field (id, time, subject, dataschema, datacontenttype, extensions).",
    )
    progress: TaskProgress | None = Field(
        default=None,
        description="The last progress its handler reported (ctx.progress), while it runs "
        "and after; null before any report.",
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


class TaskListQuery(QueryModel):
    """GET /api/v1/tasks."""

    queue: str | None = Field(default=None, pattern=QUEUE_NAME.pattern)
    status: TaskStatus | None = None
    type: str | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page.")


class WaitQuery(QueryModel):
    """GET /api/v1/tasks/{task_id}."""

    wait: int = Field(
        default=0, ge=0, description="Seconds to hold the answer until the task finishes "
        "(at most CONVEYOR_INGEST_MAX_WAIT).",
    )  # fmt: skip


class PartitionQuery(QueryModel):
    """A dead-letter route's partition (0 to the queue's partitions - 1)."""

    partition: int | None = Field(default=None, ge=0)


class DeadLetterListQuery(PartitionQuery):
    """GET /api/v1/dead-letters."""

    queue: str = Field(default="default", pattern=QUEUE_NAME.pattern)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(
        default=None, pattern=r"^\d+-\d+$", description="The last entry_id seen."
    )


class PurgeQuery(PartitionQuery):
    """DELETE /api/v1/dead-letters: one queue (``queue``), or every queue (``all=true``)."""

    queue: str | None = Field(default=None, pattern=QUEUE_NAME.pattern)
    all: bool = Field(default=False, description="Purge every configured queue.")

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.queue is None) == self.all:
            return self
        msg = "give ?queue=NAME to purge one queue, or ?all=true (without queue) to purge all"
        raise located(self, "queue", msg)


def located(model: BaseModel, loc: str, message: str) -> ValidationError:
    """A model-level check's error, located at the field ``loc`` it is about."""
    error = PydanticCustomError("value_error", message)
    line = InitErrorDetails(type=error, loc=(loc,), input=getattr(model, loc, None))
    return ValidationError.from_exception_data(type(model).__name__, [line])


class BatchItem(Accepted):
    """One accepted task of a batch."""

    index: int


class BatchAccepted(BaseModel):
    """``data`` of a batch's 202."""

    accepted: int
    items: list[BatchItem]


class DeadLetterView(BaseModel):
    """One dead letter."""

    entry_id: str
    queue: str
    partition: int
    task_id: str | None
    type: str | None
    reason: DeadReason
    error: str
    attempts: int
    dead_at: str
    task_fields: dict[str, str]


class DeadLetterPage(BaseModel):
    """``data`` of GET /api/v1/dead-letters."""

    items: list[DeadLetterView]
    next_cursor: str | None


class Replayed(Accepted):
    """A dead letter replayed as a new task."""

    replay_of: str
    dead_entry_id: str


class ReplayReport(BaseModel):
    """``data`` of a replay by filter."""

    replayed: list[Replayed]
    skipped_undecodable: int


class Deleted(BaseModel):
    """How many dead letters a delete or purge removed."""

    deleted: int


class LevelFigures(BaseModel):
    """One priority level's task stream in a queue (or partition)."""

    priority: PriorityName
    depth: int
    pending: int
    lag: int | None


class QueueFigures(BaseModel):
    """One queue's (or partition's) figures; depth, pending and lag sum its levels."""

    queue: str
    depth: int
    pending: int
    lag: int | None
    consumers: int
    dead_letters: int
    oldest_pending_age_s: float | None
    paused: bool | None = Field(
        default=None,
        description="Whether an operator paused the queue (POST /api/v1/queues/{queue}/pause); "
        "null in a partitioned queue's list (the queue is paused as a whole).",
    )
    partition: int | None = Field(default=None, description="In a partitioned queue's list.")
    partitions: list[QueueFigures] | None = Field(
        default=None, description="A partitioned queue's partitions."
    )
    levels: list[LevelFigures] = Field(
        default_factory=list, description="Each priority level's stream, highest first."
    )


class DatasetState(BaseModel):
    """Resets of the Redis dataset this ingest process saw (docs/reliability.md)."""

    resets: int
    stopped: bool = Field(description="Stopped until the reset is acknowledged.")
    since_ms: int | None = Field(description="When the first unacknowledged reset was seen.")


class QueueList(BaseModel):
    """``data`` of GET /api/v1/queues."""

    items: list[QueueFigures]
    dataset: DatasetState | None = Field(
        description="Null when this process runs without a dataset guard."
    )


class ScheduleView(BaseModel):
    """A schedule with its next fire times and a description."""

    schedule: ScheduleDefinition
    description: str
    next_fires: list[str]


class ScheduleList(BaseModel):
    """``data`` of GET /api/v1/schedules."""

    items: list[ScheduleView]


class ScheduleDeleted(BaseModel):
    """``data`` of DELETE /api/v1/schedules/{id}."""

    id: str
    deleted: bool


class Liveness(BaseModel):
    """``data`` of /livez."""

    live: bool


class Readiness(BaseModel):
    """``data`` of /readyz (200 ready, 503 not, with the problems)."""

    ready: bool
    problems: list[str] = Field(default_factory=list)
