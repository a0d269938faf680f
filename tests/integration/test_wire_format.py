"""A producer in any language can enqueue a task with a plain XADD of documented fields."""

from __future__ import annotations

from redis.asyncio import Redis

from conveyor.envelope import decode_envelope, new_envelope
from conveyor.keys import Keys
from conveyor.streams import ensure_group, entry_time_ms, read_reply_entries


async def test_raw_xadd_as_documented_decodes_into_an_envelope(redis: Redis, keys: Keys) -> None:
    q = keys.queue("default")
    # Exactly what docs/wire-format.md shows for redis-cli, written before any group exists.
    entry_id = await redis.execute_command(
        "XADD", q.tasks, "*",
        "v", "1",
        "id", "01890a5d-ac96-774b-bcce-b302099a8057",
        "type", "demo.echo",
        "data", '{"hello": "world"}',
        "max_attempts", "5",
    )  # fmt: skip
    assert await ensure_group(redis, q.tasks, "workers") is True
    assert await ensure_group(redis, q.tasks, "workers") is False
    reply = await redis.xreadgroup("workers", "c1", {q.tasks: ">"}, count=10)
    entries = read_reply_entries(reply)[0][1]
    assert len(entries) == 1
    got_id, fields = entries[0]
    env = decode_envelope(got_id.decode(), fields, "default")
    assert env.id == "01890a5d-ac96-774b-bcce-b302099a8057"
    assert env.type == "demo.echo"
    assert env.payload == {"hello": "world"}
    assert (env.attempt, env.max_attempts) == (1, 5)
    assert entry_time_ms(got_id) == entry_time_ms(entry_id)


async def test_encoded_envelope_survives_the_stream(redis: Redis, keys: Keys) -> None:
    q = keys.queue("default")
    env = new_envelope("demo.echo", {"n": 1}, "default", subject="alice")
    await ensure_group(redis, q.tasks, "workers")
    await redis.xadd(q.tasks, env.to_fields())  # type: ignore[arg-type]
    reply = await redis.xreadgroup("workers", "c1", {q.tasks: ">"}, count=10)
    got_id, fields = read_reply_entries(reply)[0][1][0]
    assert decode_envelope(got_id.decode(), fields, "default") == env
