"""The control consumer: records cancels and changes so no worker starts a stale entry.

A cancel marks the task; a replace (PUT: a change of a task that has not started)
marks it too and keeps the changed fields, which the start op applies to an entry
of an older revision (see ``worker_commit.lua``). A timer the scheduler changed
already carries the new revision: its start finds nothing left to apply.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from redis.asyncio import Redis

from conveyor.control import ControlOp, decode_control
from conveyor.grouploop import GroupReader
from conveyor.keys import QueueKeys
from conveyor.lua import register
from conveyor.streams import Entry, Group
from conveyor_worker.committer import Committer

log = structlog.get_logger(__name__)


class ControlConsumer:
    """Reads one queue's control stream in the workers group."""

    def __init__(
        self,
        client: Redis,
        keys: QueueKeys,
        consumer: str,
        clock: Callable[[], int],
        committer: Committer,
    ) -> None:
        self._client = client
        self._keys = keys
        self._consumer = consumer
        self._clock = clock
        self._script = register(client, "worker_control")
        self._committer = committer
        # The committers of the partition's other priority levels: a recorded cancel
        # stops their trust in an empty cancelled set too.
        self._siblings: list[Committer] = []
        self.reader = GroupReader(client, Group.WORKERS, consumer, (keys.control,))

    def watch(self, committer: Committer) -> None:
        """Tell ``committer`` (another level's, same partition) of every cancel recorded."""
        self._siblings.append(committer)

    async def poll(self, block_ms: int | None) -> int:
        """Read and apply one batch of control messages; returns how many were read."""
        batches = await self.reader.read(100, block_ms)
        entries = [e for _, batch in batches for e in batch]
        if entries:
            await self.apply(entries)
        return len(entries)

    async def apply(self, entries: list[Entry]) -> None:
        """Record the cancels and replaces among ``entries`` and XACK all of them, in one step."""
        args: list[str] = [Group.WORKERS.value, str(self._clock())]
        for raw_id, raw in entries:
            args += self._tokens(raw_id.decode(), raw)
        keys = [self._keys.control, self._keys.cancelled, self._keys.replaced]
        await self._script(keys=keys, args=args, client=self._client)

    def _tokens(self, entry_id: str, raw: dict[bytes, bytes]) -> list[str]:
        """One message's five script tokens: entry id, task id, until, revision, changes."""
        try:
            message = decode_control(raw)
        except (KeyError, ValueError):
            log.warning("control_message_invalid", entry_id=entry_id)
            return [entry_id, "", "", "", ""]
        if message.until_ms is None:
            return [entry_id, "", "", "", ""]
        self._committer.cancel_recorded()
        for sibling in self._siblings:
            sibling.cancel_recorded()
        until = str(message.until_ms)
        if message.op is ControlOp.CANCEL:
            return [entry_id, message.task_id, until, "", ""]
        return [entry_id, message.task_id, until, str(message.revision), message.changes]
