"""Unfinished work in queue partitions the configuration no longer names.

Lowering a queue's partition count (CONVEYOR_QUEUE_PARTITIONS) leaves partitions
at or above the new count unread: their tasks would wait forever. Nothing can
read them without the old count, so the worker looks for them at start and
logs an error naming each stream, instead of letting them go quietly.
"""

from __future__ import annotations

from redis.asyncio import Redis

from conveyor.keys import Keys, QueueKeys
from conveyor.settings import MAX_PARTITIONS
from conveyor.streams import Group, find_group


async def stranded_streams(client: Redis, keys: Keys) -> list[str]:
    """Task streams of unconfigured partitions that hold undelivered or pending tasks."""
    beyond = [
        stream
        for queue in keys.queues
        for partition in range(keys.partition_count(queue), MAX_PARTITIONS)
        for stream in QueueKeys(keys.prefix, queue, partition).level_streams
    ]
    async with client.pipeline(transaction=False) as pipe:
        for stream in beyond:
            pipe.xinfo_groups(stream)
            pipe.xlen(stream)
        # A stream that does not exist answers XINFO with an error: nothing there.
        replies = await pipe.execute(raise_on_error=False)
    found = []
    for index, stream in enumerate(beyond):
        groups, length = replies[2 * index], replies[2 * index + 1]
        if isinstance(length, int) and length and _unfinished(groups):
            found.append(stream)
    return found


def _unfinished(groups: object) -> bool:
    workers = find_group(groups, Group.WORKERS.value)
    if workers is None:
        return True  # entries no worker ever read
    # lag is None when Redis cannot tell (after deletions): count that as unfinished.
    lag = workers.get("lag")
    return lag is None or int(lag) > 0 or int(workers.get("pending") or 0) > 0
