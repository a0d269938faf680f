"""Response bodies of /api/v1/schedules (pydantic). The request body is the library's
``conveyor.schedules.ScheduleDefinition``, which the scheduler and the schedules file use."""

from __future__ import annotations

from pydantic import BaseModel, Field

from conveyor.schedules import ScheduleDefinition


class ScheduleView(BaseModel):
    """``data`` of a schedule: the definition, its next fire times and a description."""

    schedule: ScheduleDefinition
    description: str = Field(description="The expression in words.")
    next_fires: list[str] = Field(description="Up to 5 next instants (RFC 3339, UTC).")


class SchedulePage(BaseModel):
    """``data`` of GET /api/v1/schedules."""

    items: list[ScheduleView]


class ScheduleDeleted(BaseModel):
    """``data`` of DELETE /api/v1/schedules/{id}."""

    id: str
    deleted: bool
