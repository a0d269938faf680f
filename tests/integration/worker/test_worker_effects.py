"""Exactly-once effects: the mark, the commit-computed result, redelivery and stale workers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope
from conveyor.events import TaskEventType
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor.streams import Group, ensure_group
from conveyor_worker.testing import StreamView, pending_idle_past, read_as
from conveyor_worker.worker import Worker
from waiting import wait_for

MakeWorker = Callable[..., Worker]
Enqueue = Callable[..., Awaitable[TaskEnvelope]]


def _results(events: list[object]) -> list[dict[str, object]]:
    return [
        json.loads(e.result or "null")  # type: ignore[attr-defined]
        for e in events
        if e.event is TaskEventType.SUCCEEDED  # type: ignore[attr-defined]
    ]


async def eventually(probe: Callable[[], Awaitable[object]], what: str, within: float = 30) -> None:
    """``waiting.wait_for`` for an async probe (its annotation trips mypy's inference)."""
    await wait_for(probe, within=within, what=what)


async def test_ledger_balance_comes_out_of_the_commit_as_running_sums(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    for amount in (5, 7, -2):
        await enqueue("demo.ledger", {"account": "acc1", "amount": amount})
    await make_worker(batch=1).run(burst=True)
    results = _results(list(await view.events()))
    assert [r["balance"] for r in results] == [5, 12, 10]
    assert results[0]["account"] == "acc1"
    q = keys.queue("default")
    assert await redis.get(q.effect_key("balance:acc1")) == b"10"


async def test_redelivered_task_applies_its_effect_once_and_returns_the_stored_result(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue
) -> None:
    q = keys.queue("default")
    task = await enqueue("demo.ledger", {"account": "a", "amount": 3})
    await make_worker().run(burst=True)
    # The same task again (as after a crash between commit and... or a replayed message).
    await redis.xadd(q.tasks, task.to_fields())  # type: ignore[arg-type]
    await make_worker().run(burst=True)
    assert await redis.get(q.effect_key("balance:a")) == b"3"
    stored = await redis.get(q.effect_mark(task.id))
    assert json.loads(stored or b"") == {"account": "a", "balance": 3}
    ttl = await redis.pttl(q.effect_mark(task.id))
    assert 0 < ttl <= 86_400_000


async def test_stale_consumer_commit_adds_nothing_after_its_entry_was_claimed(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue
) -> None:
    q = keys.queue("default")
    await ensure_group(redis, q.tasks, Group.WORKERS.value)
    await enqueue("demo.ledger", {"account": "s", "amount": 4})
    # A stale consumer read the entry and stalled; a live worker claims and commits it.
    [(entry_id, fields)] = await read_as(redis, q.tasks, "stale", 1)
    await eventually(lambda: pending_idle_past(redis, q.tasks, 60), "entry idle past the timeout")
    await make_worker(visibility_timeout=0.05).run(burst=True)
    assert await redis.get(q.effect_key("balance:s")) == b"4"
    # The stale consumer now wakes and commits through the same effect path: no second add.
    late = make_worker()
    dispatcher = late.queues[0].dispatcher
    dispatcher.dispatch([(entry_id, fields)])
    committer = late.queues[0].committer

    async def settled() -> bool:
        await committer.flush()  # no background flusher: the start, then the outcome
        return not dispatcher.in_flight

    await eventually(settled, "the stale consumer's commit settled")
    assert await redis.get(q.effect_key("balance:s")) == b"4"


async def test_effects_read_inside_the_commit_and_a_failing_effect_writes_nothing(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    registry = Registry()

    @registry.handler("t.fx")
    async def fx(ctx: TaskContext, payload: dict[str, str]) -> object:
        ctx.effects.set("note", payload["note"])
        ctx.effects.hincrby("counts", "n", 2)
        ctx.effects.incrby(payload["counter"], 1)
        return {"note": ctx.effects.get("note"), "n": ctx.effects.hget("counts", "n")}

    q = keys.queue("default")
    await redis.set(q.effect_key("text"), "not a number")
    ok = await enqueue("t.fx", {"note": 'he said "hi"', "counter": "c"})
    bad = await enqueue("t.fx", {"note": "x", "counter": "text"})
    await make_worker(registry=registry).run(burst=True)
    results = _results([e for e in await view.events() if e.task_id == ok.id])
    assert results == [{"note": 'he said "hi"', "n": "2"}]
    assert await view.event_types(bad.id) == [TaskEventType.STARTED, TaskEventType.DEAD]
    assert "effect failed" in (await view.dead())[0].error
    assert await redis.get(q.effect_key("note")) == b'he said "hi"'  # bad task wrote nothing
    assert await redis.hget(q.effect_key("counts"), "n") == b"2"
    assert await view.pending() == 0


async def test_idempotency_key_given_at_ingest_dedupes_two_tasks(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue
) -> None:
    q = keys.queue("default")
    await enqueue("demo.ledger", {"account": "k", "amount": 1}, idempotency_key="alice:k1")
    await enqueue("demo.ledger", {"account": "k", "amount": 1}, idempotency_key="alice:k1")
    await make_worker().run(burst=True)
    assert await redis.get(q.effect_key("balance:k")) == b"1"
    assert await redis.exists(q.effect_mark("alice:k1"))
