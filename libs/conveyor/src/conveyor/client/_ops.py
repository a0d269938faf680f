"""Operator calls through the ingest API only: task listing, queues, workers.

Small plan builders shared by the blocking and the asyncio client (``client.queues``,
``client.workers``, ``client.list_tasks``); admin scope except the task listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from conveyor.client._admin import _call, _params
from conveyor.client._plans import Plan
from conveyor.client._views import TaskView

QUEUES = "/api/v1/queues"
WORKERS = "/api/v1/workers"
TASKS = "/api/v1/tasks"


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of GET /api/v1/tasks: tasks newest first, and the cursor of the next."""

    items: list[TaskView]
    next_cursor: str | None


def task_page(
    http: bool,
    *,
    queue: str | None = None,
    status: str | None = None,
    type: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Plan[TaskPage]:
    """GET /tasks with its filters."""
    params = _params(queue=queue, status=status, type=type, limit=limit, cursor=cursor)
    data = yield from _call(http, "GET", TASKS, params)
    return TaskPage([TaskView.from_api(item) for item in data["items"]], data["next_cursor"])


def _queue_path(queue: str, action: str) -> str:
    return f"{QUEUES}/{quote(queue, safe='')}/{action}"


class Queues:
    """Queue figures and pause/resume (``client.queues``). Admin scope."""

    def __init__(self, runner: Any, http: bool) -> None:
        self._runner = runner
        self._http = http

    def list(self) -> list[dict[str, Any]]:
        """Every configured queue's figures (GET /queues), partitions included."""
        return list(self._runner.run(_call(self._http, "GET", QUEUES))["items"])

    def pause(self, queue: str) -> dict[str, Any]:
        """Pause a queue: it keeps accepting tasks, workers start none of them."""
        return dict(self._runner.run(_call(self._http, "POST", _queue_path(queue, "pause"))))

    def resume(self, queue: str) -> dict[str, Any]:
        """Resume a paused queue."""
        return dict(self._runner.run(_call(self._http, "POST", _queue_path(queue, "resume"))))


class Workers:
    """Live workers from their heartbeats (``client.workers``). Admin scope."""

    def __init__(self, runner: Any, http: bool) -> None:
        self._runner = runner
        self._http = http

    def list(self) -> list[dict[str, Any]]:
        """Every worker whose heartbeat has not expired."""
        return list(self._runner.run(_call(self._http, "GET", WORKERS))["items"])


class AsyncQueues:
    """``Queues`` for the asyncio client."""

    def __init__(self, runner: Any, http: bool) -> None:
        self._runner = runner
        self._http = http

    async def list(self) -> list[dict[str, Any]]:
        """Every configured queue's figures (GET /queues), partitions included."""
        return list((await self._runner.run(_call(self._http, "GET", QUEUES)))["items"])

    async def pause(self, queue: str) -> dict[str, Any]:
        """Pause a queue: it keeps accepting tasks, workers start none of them."""
        return dict(await self._runner.run(_call(self._http, "POST", _queue_path(queue, "pause"))))

    async def resume(self, queue: str) -> dict[str, Any]:
        """Resume a paused queue."""
        path = _queue_path(queue, "resume")
        return dict(await self._runner.run(_call(self._http, "POST", path)))


class AsyncWorkers:
    """``Workers`` for the asyncio client."""

    def __init__(self, runner: Any, http: bool) -> None:
        self._runner = runner
        self._http = http

    async def list(self) -> list[dict[str, Any]]:
        """Every worker whose heartbeat has not expired."""
        return list((await self._runner.run(_call(self._http, "GET", WORKERS)))["items"])
