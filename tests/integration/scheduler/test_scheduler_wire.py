"""Fire calls encoded ahead (``wire.PackedCall``) and sent raw, with the NOSCRIPT fallback."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from conveyor.events import TaskEventType
from conveyor.keys import Keys, fire_scope
from conveyor.lua import register, script_source
from conveyor.schedules import ScheduleDefinition
from conveyor_scheduler.firer import Firer, FirerConfig
from conveyor_scheduler.testing import events, tasks
from conveyor_scheduler.wire import PackedCall, send_packed

T0 = 1_795_766_400_000


def _every_second(n: int) -> ScheduleDefinition:
    return ScheduleDefinition.model_validate(
        {
            "id": f"w{n}",
            "cron": "* * * * * *",
            "task": {"type": "demo.echo", "payload": {"n": n, "text": "é\r\n$*"}},
            "created_at_ms": T0,
        }
    )


def test_packed_call_is_what_redis_py_would_send() -> None:
    keys = ["k1", "ké"]
    before: list[str | int] = [86_400_000]
    after: list[str | int] = ["x", "", "é\r\n", 7]
    packed = PackedCall.encode("abc", keys, before, after).at(T0)
    expected = Connection().pack_command("EVALSHA", "abc", 2, *keys, *before, T0, *after)
    assert packed == b"".join(expected)


async def test_raw_send_fires_each_instant_once_with_the_fields_the_script_path_writes(
    redis: Redis, keys: Keys
) -> None:
    firer = Firer(redis, keys, FirerConfig(misfire_ms=5_000, dedup_ttl_ms=86_400_000))
    script = register(redis, "scheduler_fire")
    definitions = {f"w{n}": _every_second(n) for n in range(250)}  # three script calls
    await redis.script_load(script_source("scheduler_fire"))  # loaded, as after a first send
    prepared = await firer.prepare(definitions, T0 + 1_000)
    assert len(prepared.packed) == 3
    fired = await send_packed(redis, script, prepared.packed, T0 + 1_000)
    assert fired is not None
    assert sum(len(reply) for reply in fired) == 2 * 250
    # Sent again (a retry, or a second replica): nothing more.
    again = await send_packed(redis, script, prepared.packed, T0 + 1_001)
    assert again is not None
    assert all(reply == [] for reply in again)
    queue = keys.queue("default")
    made = await tasks(redis, queue)
    assert sorted(t.idempotency_key for t in made) == sorted(
        fire_scope(f"w{n}", T0 + 1_000) for n in range(250)
    )
    assert {t.data for t in made} == {f'{{"n":{n},"text":"é\\r\\n$*"}}' for n in range(250)}
    pending = await events(redis, queue)
    assert len(pending) == 250
    assert {(e.event, e.at_ms) for e in pending} == {(TaskEventType.PENDING, T0 + 1_000)}
    assert {e.task_id for e in pending} == {t.id for t in made}


async def test_after_the_server_lost_the_script_fires_go_through_the_registered_script(
    redis: Redis, keys: Keys
) -> None:
    firer = Firer(redis, keys, FirerConfig(misfire_ms=5_000, dedup_ttl_ms=86_400_000))
    script = register(redis, "scheduler_fire")
    definitions = {f"w{n}": _every_second(n) for n in range(150)}
    prepared = await firer.prepare(definitions, T0 + 1_000)
    await redis.script_flush()
    assert await send_packed(redis, script, prepared.packed, T0 + 1_000) is None
    # The connection that saw NOSCRIPT (with a reply still unread) is not handed out again.
    assert await redis.ping()
    fired = await firer.send(prepared, T0 + 1_000)
    assert len(fired) == 150
    assert len(await tasks(redis, keys.queue("default"))) == 150
    assert await redis.ping()
