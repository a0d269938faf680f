"""Request, query and response bodies of the workflow routes (docs/workflows.md)."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, Field, JsonValue, model_validator

from conveyor.envelope import TASK_TYPE
from conveyor.settings import QUEUE_NAME
from conveyor.workflows import MAX_STEPS
from conveyor_ingest.models import MAX_ATTEMPTS, MAX_TIMEOUT_S, QueryModel, StrictModel


class WorkflowStep(StrictModel):
    """One task of a workflow."""

    type: str = Field(pattern=TASK_TYPE.pattern, description="Task type (handler name).")
    payload: JsonValue = Field(
        default=None,
        description="Any JSON value for a first step or a member. A later step gets its "
        "input alone when this is left out, else {input, ...payload} (a JSON object).",
    )
    max_attempts: int | None = Field(default=None, ge=1, le=MAX_ATTEMPTS)
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S, description="Seconds.")


class WorkflowRequest(StrictModel):
    """POST /api/v1/workflows: a chain (``steps``), a group (``members``) or a chord
    (``members`` and ``callback``, a chain run once with the members' results)."""

    queue: str = Field(default="default", pattern=QUEUE_NAME.pattern)
    steps: list[WorkflowStep] | None = Field(default=None, min_length=1, max_length=MAX_STEPS)
    members: list[WorkflowStep] | None = Field(default=None, min_length=1, max_length=MAX_STEPS)
    callback: list[WorkflowStep] | None = Field(default=None, min_length=1, max_length=MAX_STEPS)
    policy: Literal["stop", "continue"] = Field(
        default="stop", description="A chord's: skip the callback when a member fails, or not."
    )

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        if (self.steps is None) == (self.members is None):
            msg = "give steps (a chain) or members (a group or chord), not both"
            raise ValueError(msg)
        if self.callback is not None and self.members is None:
            msg = "a callback follows members"
            raise ValueError(msg)
        return self


class WorkflowQuery(QueryModel):
    """The queue a workflow was created on."""

    queue: str = Field(default="default", pattern=QUEUE_NAME.pattern)


class WorkflowStepView(BaseModel):
    """A step: its task id, place and state (a task status, ``waiting`` or ``not_run``)."""

    id: str
    type: str
    role: Literal["step", "member", "callback"]
    index: int
    state: str
    result: Any = None
    error: str | None = None


class WorkflowView(BaseModel):
    """``data`` of a workflow: its status and steps."""

    id: str
    queue: str
    kind: Literal["chain", "group", "chord"]
    policy: str | None = None
    status: Literal["running", "succeeded", "failed", "cancelled"]
    steps: list[WorkflowStepView]


class WorkflowCancelled(BaseModel):
    """``data`` of a workflow's DELETE: how many steps were cancelled."""

    id: str
    cancelled: int
