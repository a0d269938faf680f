"""The client's ``priority=``: directly over Redis and over the HTTP API, same streams."""

from __future__ import annotations

from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from conveyor import AsyncClient, Client
from conveyor.errors import InvalidTaskError
from conveyor.keys import Keys


def _ids(raw: SyncRedis, stream: str) -> set[str]:
    entries: Any = raw.xrange(stream)
    return {fields[b"id"].decode() for _, fields in entries}


def test_direct_enqueue_writes_each_level_to_its_stream_in_its_partition(
    client: Client, all_keys: Keys, raw: SyncRedis
) -> None:
    high = client.enqueue("demo.echo", 1, queue="other", partition_key="alpha", priority="high")
    plain = client.enqueue("demo.echo", 2, queue="other", partition_key="alpha")
    lows = client.enqueue_many("demo.echo", [3, 4], queue="other", priority="low")
    shard = all_keys.route("other", "alpha")
    assert _ids(raw, shard.at_level("high").tasks) == {high.id}
    assert _ids(raw, shard.tasks) == {plain.id}
    low_ids = {i for qk in all_keys.shards("other") for i in _ids(raw, qk.at_level("low").tasks)}
    assert low_ids == {ref.id for ref in lows}


def test_direct_enqueue_refuses_an_unknown_priority(client: Client) -> None:
    with pytest.raises(InvalidTaskError, match="priority"):
        client.enqueue("demo.echo", 1, priority="urgent")  # type: ignore[call-overload]


async def test_http_enqueue_takes_the_priority(
    hclient: AsyncClient, redis: Redis, all_keys: Keys
) -> None:
    ref = await hclient.enqueue("demo.echo", 1, priority="low")
    entries: Any = await redis.xrange(all_keys.queue("default").at_level("low").tasks)
    assert [fields[b"id"].decode() for _, fields in entries] == [ref.id]
    with pytest.raises(InvalidTaskError) as caught:
        await hclient.enqueue("demo.echo", 1, priority="urgent")  # type: ignore[call-overload]
    assert caught.value.errors[0]["loc"] == "priority"
