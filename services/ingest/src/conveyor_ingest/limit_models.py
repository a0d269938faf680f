"""Bodies of /api/v1/limits (pydantic). The request body is the library's
``conveyor.limits.LimitsDocument``, which every ingest and worker replica applies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from conveyor.limits import LimitsDocument
from conveyor_ingest.models import QueryModel


class LimitsView(BaseModel):
    """``data`` of GET and PUT /api/v1/limits: the document in force and its version."""

    version: int = Field(description="Changes made so far; 0: never changed (all defaults).")
    limits: LimitsDocument
    changed_by: str | None = Field(description="Subject of the token that made this version.")
    changed_at: str | None = Field(description="When (RFC 3339, UTC).")


class LimitsChange(BaseModel):
    """One change of the limits (the audit trail)."""

    version: int
    changed_by: str
    changed_at: str
    before: dict[str, Any] = Field(description="The document this change replaced.")
    after: dict[str, Any] = Field(description="The document it made.")


class LimitsHistory(BaseModel):
    """``data`` of GET /api/v1/limits/history: the last changes, newest first."""

    items: list[LimitsChange]


class LimitsHistoryQuery(QueryModel):
    """GET /api/v1/limits/history."""

    limit: int = Field(default=50, ge=1, le=1000, description="Changes to return.")
