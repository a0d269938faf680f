"""Writes of the task API: enqueue (with Idempotency-Key) and changes to unstarted tasks.

The calls themselves (which script, keys, arguments; what the reply means) are the
library's write path (``conveyor.producing.writes``), shared with the direct client;
here they run through ingest's coalescing writer, and single tasks submitted at the
same time share one script call.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.lua import register
from conveyor.producing.flows import SCRIPTS as FLOW_SCRIPTS
from conveyor.producing.tasks import Idempotency as Idempotency
from conveyor.producing.tasks import NewTask as NewTask
from conveyor.producing.tasks import Stored as Stored
from conveyor.producing.tasks import fingerprint as fingerprint
from conveyor.producing.tasks import now_ms as now_ms
from conveyor.producing.writes import SCRIPTS, ScriptCall, TaskWrites, change_outcome, stored_answer
from conveyor_ingest.coalesce import TickBatcher
from conveyor_ingest.writer import ScriptWriter


class TaskStore:
    """The enqueue and change scripts, bound to one client and key layout."""

    def __init__(
        self, client: Redis, writer: ScriptWriter, keys: Keys, retention_s: float, idem_ttl_s: float
    ) -> None:
        self._writer = writer
        self._writes = TaskWrites(keys, int(retention_s * 1000), int(idem_ttl_s * 1000))
        self._scripts = {name: register(client, name) for name in (*SCRIPTS, *FLOW_SCRIPTS)}
        self._singles: TickBatcher[str, NewTask, None] = TickBatcher(self._enqueue_many)

    async def enqueue(
        self,
        queue: str,
        tasks: Sequence[NewTask],
        idem: Idempotency | None = None,
        response: tuple[int, str] = (202, ""),
    ) -> Stored | None:
        """Write ``tasks`` of ``queue`` atomically; a replayed Idempotency-Key returns Stored.

        Single tasks without a key, submitted concurrently, share one script call.
        """
        if idem is None and len(tasks) == 1:
            await self._singles.submit(queue, tasks[0])
            return None
        return await self._write(queue, tasks, idem, response)

    async def _enqueue_many(self, queue: str, tasks: list[NewTask]) -> list[None]:
        await self._write(queue, tasks, None, (202, ""))
        return [None] * len(tasks)

    async def _write(
        self,
        queue: str,
        tasks: Sequence[NewTask],
        idem: Idempotency | None,
        response: tuple[int, str],
    ) -> Stored | None:
        call = self._writes.enqueue(queue, tasks, idem, response, now_ms())
        return stored_answer(await self._run(call))

    async def cancel(self, queue: str, task_id: str, until_ms: int) -> str:
        """Cancel a pending or scheduled task: 'ok', 'missing' or the status forbidding it."""
        call = self._writes.cancel(queue, task_id, until_ms, now_ms())
        return change_outcome(await self._run(call))[0]

    async def replace(
        self, queue: str, task_id: str, changes: dict[str, str], until_ms: int
    ) -> tuple[str, int]:
        """Change a task that has not started (PUT); see ``TaskWrites.replace``.

        Returns ('ok', new revision), or ('missing' | the forbidding status, 0).
        """
        call = self._writes.replace(queue, task_id, changes, until_ms, now_ms())
        return change_outcome(await self._run(call))

    @property
    def writes(self) -> TaskWrites:
        """The write calls this store runs (workflows build theirs from it)."""
        return self._writes

    async def run(self, call: ScriptCall) -> object:
        """Run one library script call (a workflow's create, read or cancel)."""
        return await self._run(call)

    async def _run(self, call: ScriptCall) -> object:
        return await self._writer.call(self._scripts[call.script], call.keys, call.args)
