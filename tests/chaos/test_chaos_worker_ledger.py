"""Chaos: demo.ledger under kill -9 and SIGSTOP of real worker processes stays exactly-once.

Two worker processes drain 5,000 ledger tasks that a producer adds over a few
seconds. One worker is killed with SIGKILL several times (and restarted), or
paused with SIGSTOP past the visibility timeout and resumed. Afterwards every
balance equals the sum of its tasks' amounts, every task has exactly one
``succeeded`` event whose balance is the running sum at its commit, and the
pending entries list is empty.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from conveyor.envelope import new_envelope
from conveyor.events import TaskEventType, decode_event
from conveyor.keys import Keys, QueueKeys
from conveyor.streams import Group
from conveyor_worker.testing import xrange
from waiting import wait_for

TASKS = 5_000  # at least this many; more while the harm is still going on
MAX_TASKS = 40_000
ACCOUNTS = 25
CHUNK = 50
VISIBILITY = 1.0


async def eventually(probe: Callable[[], Awaitable[object]], what: str, within: float) -> None:
    """``waiting.wait_for`` for an async probe (its annotation trips mypy's inference)."""
    await wait_for(probe, within=within, interval=0.1, what=what)


class WorkerProcess:
    """``python -m conveyor_worker`` as a child process."""

    def __init__(self, redis_url: str, keys: Keys, log_path: Path) -> None:
        self._env = {
            **os.environ,
            "CONVEYOR_REDIS_URL": redis_url,
            "CONVEYOR_KEY_PREFIX": keys.prefix,
            "CONVEYOR_QUEUES": "default",
            "CONVEYOR_WORKER_VISIBILITY_TIMEOUT": str(VISIBILITY),
            "CONVEYOR_WORKER_RECLAIM_INTERVAL": "0.3",
            "CONVEYOR_WORKER_BATCH": "20",
            "CONVEYOR_WORKER_CONCURRENCY": "20",
            "CONVEYOR_WORKER_BLOCK_MS": "100",
            "CONVEYOR_WORKER_METRICS_PORT": "0",
            "CONVEYOR_WORKER_SHUTDOWN_GRACE": "2",
            "CONVEYOR_LOG_LEVEL": "WARNING",
            "CONVEYOR_LOG_FORMAT": "json",
        }
        self._log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the worker process."""
        with self._log_path.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "conveyor_worker", env=self._env,
                stdout=log_file, stderr=log_file, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip

    async def signal(self, sig: signal.Signals) -> None:
        """Send ``sig``; wait for the process to end when it is fatal."""
        assert self.process is not None
        self.process.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            await asyncio.wait_for(self.process.wait(), 30)

    async def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is paused) and wait."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGCONT)
            await self.signal(signal.SIGTERM)


async def produce(
    redis: Redis, q: QueueKeys, amounts: dict[str, tuple[str, int]], done: asyncio.Event
) -> None:
    """Add ledger tasks in chunks until the harm is ``done`` (at least TASKS, at most MAX_TASKS).

    Producing for as long as the harm lasts keeps work in flight whenever a worker is
    hit, however slowly a busy machine runs the workers.
    """
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not security
    while len(amounts) < TASKS or (not done.is_set() and len(amounts) < MAX_TASKS):
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(CHUNK):
                account, amount = f"acct{rng.randrange(ACCOUNTS)}", rng.randint(-50, 100)
                task = new_envelope(
                    "demo.ledger", {"account": account, "amount": amount}, "default"
                )
                amounts[task.id] = (account, amount)
                pipe.xadd(q.tasks, task.to_fields())  # type: ignore[arg-type]
            await pipe.execute()
        await asyncio.sleep(0.06)  # the producer's pace, not synchronisation


async def pending_of(redis: Redis, q: QueueKeys, process: WorkerProcess) -> int:
    """Entries pending for the consumer of ``process`` (its name holds the pid)."""
    assert process.process is not None
    marker = f"-{process.process.pid}-".encode()
    try:
        rows = await redis.xinfo_consumers(q.tasks, Group.WORKERS.value)
    except ResponseError:
        return 0  # the workers have not created their group yet
    return sum(int(str(row["pending"])) for row in rows if marker in bytes(row["name"]))


async def drained(redis: Redis, q: QueueKeys, produced: int) -> bool:
    """Every task entry delivered to the workers group and acknowledged."""
    if await redis.xlen(q.tasks) < produced:
        return False
    groups = await redis.xinfo_groups(q.tasks)
    workers = next(g for g in groups if g["name"] == Group.WORKERS.value.encode())
    return int(workers["pending"]) == 0 and int(workers["lag"] or 0) == 0


async def check_exactly_once(
    redis: Redis, q: QueueKeys, amounts: dict[str, tuple[str, int]]
) -> int:
    """Balances are exact sums; each task has one succeeded event with its running sum.

    Returns how many attempts were started again (redeliveries the chaos caused).
    """
    expected: dict[str, int] = defaultdict(int)
    for account, amount in amounts.values():
        expected[account] += amount
    for account, total in expected.items():
        assert await redis.get(q.effect_key(f"balance:{account}")) == str(total).encode()
    running: dict[str, int] = defaultdict(int)
    seen: set[str] = set()
    starts = 0
    for _, fields in await xrange(redis, q.events):
        event = decode_event(fields)
        starts += event.event is TaskEventType.STARTED
        if event.event is not TaskEventType.SUCCEEDED:
            continue
        assert event.task_id not in seen, "a task succeeded twice"
        seen.add(event.task_id)
        account, amount = amounts[event.task_id]
        running[account] += amount
        assert json.loads(event.result or "") == {"account": account, "balance": running[account]}
    assert seen == set(amounts)
    return starts - len(amounts)


async def run_ledger(
    redis: Redis,
    redis_url: str,
    keys: Keys,
    tmp_path: Path,
    disturb: Callable[[WorkerProcess, QueueKeys], Awaitable[int]],
) -> int:
    """The ledger tasks on a steady worker and one that ``disturb`` harms mid-run.

    Asserts exactly-once effects after the drain; returns what ``disturb`` counted
    (entries the harmed worker held when it was hit).
    """
    q = keys.queue("default")
    steady = WorkerProcess(redis_url, keys, tmp_path / "steady.log")
    harmed = WorkerProcess(redis_url, keys, tmp_path / "harmed.log")
    await steady.start()
    await harmed.start()
    amounts: dict[str, tuple[str, int]] = {}
    done = asyncio.Event()
    producer = asyncio.create_task(produce(redis, q, amounts, done))
    try:
        held = await disturb(harmed, q)
        done.set()
        await producer
        produced = len(amounts)
        await eventually(lambda: drained(redis, q, produced), "all tasks acknowledged", within=90)
        await check_exactly_once(redis, q, amounts)
        return held
    finally:
        producer.cancel()
        await harmed.stop()
        await steady.stop()


async def test_kill_9_and_restart_mid_run_loses_and_doubles_nothing(
    redis: Redis, redis_url: str, keys: Keys, tmp_path: Path
) -> None:
    async def kill_and_restart(victim: WorkerProcess, q: QueueKeys) -> int:
        orphaned = 0
        for _ in range(4):
            await asyncio.sleep(0.8)  # let it work a while before the next kill
            await eventually(lambda: pending_of(redis, q, victim), "victim busy", within=30)
            await victim.signal(signal.SIGKILL)
            orphaned += await pending_of(redis, q, victim)
            await victim.start()
        return orphaned

    orphaned = await run_ledger(redis, redis_url, keys, tmp_path, kill_and_restart)
    print(f"kill -9 run: {orphaned} entries were pending on the killed worker")  # noqa: T201
    assert orphaned > 0, "no kill hit a task in flight: the test proved nothing"


async def test_sigstop_past_visibility_timeout_then_sigcont_adds_nothing(
    redis: Redis, redis_url: str, keys: Keys, tmp_path: Path
) -> None:
    async def pause_past_visibility(sleeper: WorkerProcess, q: QueueKeys) -> int:
        frozen = 0
        for _ in range(2):
            await asyncio.sleep(1.0)  # let it take work before it freezes
            await eventually(lambda: pending_of(redis, q, sleeper), "sleeper busy", within=30)
            await sleeper.signal(signal.SIGSTOP)
            frozen += await pending_of(redis, q, sleeper)
            await asyncio.sleep(VISIBILITY * 3)  # frozen past the visibility timeout
            await sleeper.signal(signal.SIGCONT)
        return frozen

    frozen = await run_ledger(redis, redis_url, keys, tmp_path, pause_past_visibility)
    print(f"SIGSTOP run: {frozen} entries were pending on the paused worker")  # noqa: T201
    assert frozen > 0, "the paused worker held no task: the test proved nothing"
