"""The Python client of Conveyor: enqueue, read, wait for, cancel and change tasks.

``Client`` (blocking) and ``AsyncClient`` (asyncio) have the same methods; the
transport follows the URL (Redis directly, or the ingest API). See docs/client.md.
"""

from __future__ import annotations

from conveyor.client._aclient import AsyncClient, AsyncTaskRef
from conveyor.client._client import Client, TaskRef
from conveyor.client._transport import EnqueueOptions, TaskChanges
from conveyor.client._views import TaskView
from conveyor.status import TaskStatus

__all__ = [
    "AsyncClient",
    "AsyncTaskRef",
    "Client",
    "EnqueueOptions",
    "TaskChanges",
    "TaskRef",
    "TaskStatus",
    "TaskView",
]
