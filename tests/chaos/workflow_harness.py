"""Workflows under kill -9: chains and chords drained by worker processes, one of them
killed and restarted while they run; then every step ran its effect exactly once, was
enqueued exactly once, and each chord's callback ran once with every member's result.

Used by the chaos run (tests/chaos, ``make chaos``) and by a bounded run in the normal
suite (tests/integration/worker).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis

from chaos.test_chaos_worker_ledger import WorkerProcess, pending_of
from conveyor.keys import Keys, QueueKeys
from conveyor.streams import Group
from conveyor.workflows import Step, WorkflowPlan, chain, chord, group, plan
from conveyor_worker.testing import xrange
from waiting import wait_for

HERE = Path(__file__).resolve().parent
CHUNK = 200


@dataclass
class Run:
    """What was planned and what the harm hit."""

    chains: list[WorkflowPlan] = field(default_factory=list)
    chords: list[WorkflowPlan] = field(default_factory=list)
    kills: int = 0
    orphaned: int = 0  # entries pending on the killed worker when it died
    seconds: float = 0.0

    def step_ids(self) -> set[str]:
        """Every step's task id except the chords' callbacks."""
        ids = {s.task_id for flow in self.chains for s in flow.steps}
        return ids | {s.task_id for f in self.chords for s in f.steps if s.role == "member"}

    def callback_ids(self) -> set[str]:
        """The chords' callbacks' task ids."""
        return {s.task_id for f in self.chords for s in f.steps if s.role == "callback"}


async def _write(redis: Redis, q: QueueKeys, flows: list[WorkflowPlan]) -> None:
    tasks = [task for flow in flows for task in flow.tasks]
    for start in range(0, len(tasks), CHUNK):
        async with redis.pipeline(transaction=False) as pipe:
            for task in tasks[start : start + CHUNK]:
                pipe.xadd(q.tasks, task.envelope.to_fields())  # type: ignore[arg-type]
            await pipe.execute()


async def _busy(redis: Redis, q: QueueKeys, harmed: WorkerProcess, run: Run) -> str:
    """'held' when ``harmed`` holds entries, 'done' when every workflow finished, else ""."""
    if await pending_of(redis, q, harmed):
        return "held"
    return "done" if await _finished(redis, q, run) else ""


async def _finished(redis: Redis, q: QueueKeys, run: Run) -> bool:
    steps = await redis.hlen(q.effect_key("steps"))
    callbacks = await redis.hlen(q.effect_key("callbacks"))
    if steps < len(run.step_ids()) or callbacks < len(run.callback_ids()):
        return False
    groups = await redis.xinfo_groups(q.tasks)
    workers = next(g for g in groups if g["name"] == Group.WORKERS.value.encode())
    return int(workers["pending"]) == 0 and int(workers["lag"] or 0) == 0


async def run_workflows(
    redis: Redis,
    redis_url: str,
    keys: Keys,
    tmp_path: Path,
    *,
    chains: int,
    chord_count: int,
    members: int,
    kills: int,
    within: float,
) -> Run:
    """Plan and write the workflows, drain them under ``kills`` kill -9s, check them."""
    q = keys.queue("default")
    run = Run()
    run.chains = [
        plan(chain(Step("flow.step", n), Step("flow.step"), Step("flow.step")), "default")
        for n in range(chains)
    ]
    run.chords = [
        plan(chord(group(*(Step("flow.step", m) for m in range(members))), Step("flow.gather")),
             "default")
        for _ in range(chord_count)
    ]  # fmt: skip
    steady = WorkerProcess(redis_url, keys, tmp_path / "steady.log")
    harmed = WorkerProcess(redis_url, keys, tmp_path / "harmed.log")
    started = time.monotonic()
    await _write(redis, q, run.chords + run.chains)
    await harmed.start()  # alone at first, so the first kill surely finds work in flight
    try:
        for _ in range(kills):
            state = await wait_for(
                lambda: _busy(redis, q, harmed, run),
                within=30,
                interval=0.005,
                what="the worker to be killed holds work",
            )
            if state == "done":
                break  # everything finished before this kill
            await harmed.signal(signal.SIGKILL)
            run.kills += 1
            run.orphaned += await pending_of(redis, q, harmed)
            if steady.process is None:
                await steady.start()
            await harmed.start()
        done: Callable[[], Awaitable[bool]] = lambda: _finished(redis, q, run)  # noqa: E731
        await wait_for(done, within=within, interval=0.1, what="every workflow finished")
        run.seconds = time.monotonic() - started
    finally:
        await harmed.stop()
        await steady.stop()
    await check(redis, q, run, members)
    return run


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def check(redis: Redis, q: QueueKeys, run: Run, members: int) -> None:
    """Each step ran its effect once and was enqueued once; each callback once, complete."""
    steps = await redis.hgetall(q.effect_key("steps"))
    assert {_text(k) for k in steps} == run.step_ids()
    assert set(steps.values()) == {b"1"}, "a step's effect ran twice"
    callbacks = await redis.hgetall(q.effect_key("callbacks"))
    assert {_text(k) for k in callbacks} == run.callback_ids()
    assert set(callbacks.values()) == {b"1"}, "a callback ran twice"
    enqueued = Counter(fields[b"id"].decode() for _, fields in await xrange(redis, q.tasks))
    assert set(enqueued) == run.step_ids() | run.callback_ids(), "a step was lost"
    assert max(enqueued.values()) == 1, "a step was enqueued twice"
    # The data passed along: a chain's last step got n + 2 and returned n + 3; a callback
    # got every member's result (m + 1 for member m).
    results = {}
    for _, fields in await xrange(redis, q.events):
        if fields.get(b"event") == b"succeeded":
            results[fields[b"task_id"].decode()] = fields[b"result"]
    for n, flow in enumerate(run.chains):
        assert results[flow.steps[-1].task_id] == str(n + 3).encode()
    total = sum(m + 1 for m in range(members))
    for flow in run.chords:
        assert results[flow.steps[-1].task_id] == str(total).encode()


def worker_env(monkeypatch: pytest.MonkeyPatch, step_seconds: float = 0.005) -> None:
    """Make worker processes load ``flow_handlers`` from this folder, keep every event."""
    monkeypatch.setenv("CONVEYOR_WORKER_HANDLERS", "flow_handlers")
    monkeypatch.setenv("FLOW_STEP_SECONDS", str(step_seconds))
    monkeypatch.setenv("CONVEYOR_WORKER_EVENTS_MAXLEN", "0")
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
