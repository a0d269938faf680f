"""A task's status as the read model, the HTTP API and the client show it."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """A task's status in the read model."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.DEAD, TaskStatus.CANCELLED})
