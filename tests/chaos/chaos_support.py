"""The Redis fault scenarios' harness: services as processes, HTTP load with retries, figures.

``Stack`` runs ingest, worker and scheduler as processes against one Redis of the
test's own (``LocalServer``), each restartable on its own. ``Load`` is a set of
clients that POST ``demo.ledger`` tasks, each with its own Idempotency-Key, and
retry a key (same body) on 503 or a broken connection until it is accepted, the
way a careful client does. ``tally`` then reads the events stream and the
balances and counts accepted, lost and duplicated tasks; ``record`` appends the
figures to ``tests/chaos/results/last.jsonl`` (docs/reliability.md quotes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from conveyor.events import TaskEventType, decode_event
from conveyor.keys import Keys
from conveyor.localserver import free_port
from conveyor_ingest.tokens import mint_token
from conveyor_worker.testing import xrange
from waiting import wait_for

SECRET = "chaos-secret-of-sufficient-length-for-hs256"
PREFIX = "chaos"
ACCOUNTS = 10
RESULTS = Path(__file__).resolve().parent / "results" / "last.jsonl"


@dataclass
class Stack:
    """ingest, worker and scheduler processes on ``redis_url``, logs in ``folder``."""

    redis_url: str
    folder: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """The ingest API's address."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *names: str) -> None:
        """Start the named services (all three by default)."""
        for name in names or ("ingest", "worker", "scheduler"):
            env = {
                **os.environ,
                "CONVEYOR_REDIS_URL": self.redis_url,
                "CONVEYOR_KEY_PREFIX": PREFIX,
                "CONVEYOR_INGEST_PORT": str(self.port),
                "CONVEYOR_INGEST_JWT_SECRET": SECRET,
                "CONVEYOR_WORKER_METRICS_PORT": "0",
                "CONVEYOR_SCHEDULER_METRICS_PORT": "0",
                "CONVEYOR_WORKER_BLOCK_MS": "200",
                "CONVEYOR_LOG_LEVEL": "WARNING",
                "CONVEYOR_LOG_FORMAT": "json",
                **self.env,
            }
            with (self.folder / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter
                    [sys.executable, "-m", f"conveyor_{name}"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.folder,
                )

    def kill(self, name: str) -> None:
        """SIGKILL one service and reap it."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def stop(self) -> None:
        """SIGTERM every service (SIGKILL after 30 s)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def session(stack: Stack, scope: str = "tasks:write tasks:read admin") -> aiohttp.ClientSession:
    """An HTTP session with a token of ``scope``."""
    token = mint_token(SECRET, "chaos", scope.split())
    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"Authorization": f"Bearer {token}"}
    return aiohttp.ClientSession(stack.base_url, headers=headers, timeout=timeout)


async def status_of(http: aiohttp.ClientSession, path: str) -> int:
    """GET ``path``'s status; 0 when ingest does not answer."""
    try:
        async with http.get(path) as response:
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


@dataclass
class Load:
    """Clients POSTing ledger tasks with Idempotency-Keys, retrying each key until accepted."""

    http: aiohttp.ClientSession
    clients: int = 8
    batch: int = 0  # 0: one task per POST /tasks; n: n tasks per POST /tasks/batch
    accepted: dict[str, list[str]] = field(default_factory=dict)  # key -> task ids
    ids: dict[str, set[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(set))
    # key -> [(account, amount), ...]: what each of its tasks adds to a balance
    amounts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    answers: list[tuple[float, float, int]] = field(default_factory=list)  # (sent, seconds, status)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        """Start the clients."""
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(self.clients)]

    async def finish(self, within: float = 90) -> None:
        """Stop starting new keys; wait for every started key to be accepted."""
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), within)

    async def _client(self, number: int) -> None:
        serial = 0
        while not self.stop.is_set():
            key = f"c{number}-{serial}"
            serial += 1
            self.amounts[key] = [
                (f"acct{(number + serial + n) % ACCOUNTS}", (serial + n) % 97 - 30)
                for n in range(max(self.batch, 1))
            ]
            await self._send_until_accepted(key)

    async def _send_until_accepted(self, key: str) -> None:
        for _ in range(1000):
            if await self._send(key):
                return
            await asyncio.sleep(0.2)  # a client's retry pace, not synchronisation
        msg = f"{key} was never accepted"
        raise AssertionError(msg)

    async def _send(self, key: str) -> bool:
        tasks = [
            {"type": "demo.ledger", "payload": {"account": account, "amount": amount}}
            for account, amount in self.amounts[key]
        ]
        path, body = (
            ("/api/v1/tasks/batch", {"tasks": tasks}) if self.batch else ("/api/v1/tasks", tasks[0])
        )
        sent = time.monotonic()
        status = 0
        try:
            async with self.http.post(
                path, json=body, headers={"Idempotency-Key": key}
            ) as response:
                status = response.status
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
            data = None
        self.answers.append((sent, time.monotonic() - sent, status))
        if status == 202 and data is not None:
            found = data["data"]
            ids = [item["id"] for item in found["items"]] if self.batch else [found["id"]]
            self.accepted[key] = ids
            self.ids[key].add(tuple(ids))
            return True
        return False

    def slowest_answer(self, since: float, until: float) -> float:
        """The longest wait for an answer among requests sent in [since, until]."""
        waits = [seconds for sent, seconds, status in self.answers if since <= sent <= until]
        return max(waits, default=0.0)

    def first_accepted_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the first 202 answering a request sent after it."""
        ends = [s + w for s, w, status in self.answers if status == 202 and s >= moment]
        return min(ends) - moment if ends else None


@dataclass
class Tally:
    """What the events stream and the balances say about the accepted tasks."""

    accepted: int
    succeeded: int
    lost: int
    duplicated: int
    balances_exact: bool


async def tally(redis: Redis, load: Load) -> Tally:
    """Count accepted tasks, those with no success (lost) and extra effects (duplicated)."""
    q = Keys(PREFIX).queue("default")
    succeeded: dict[str, int] = defaultdict(int)
    for _, fields in await xrange(redis, q.events):
        event = decode_event(fields)
        if event.event is TaskEventType.SUCCEEDED:
            succeeded[event.task_id] += 1
    wanted = {task_id for ids in load.accepted.values() for task_id in ids}
    lost = sum(1 for task_id in wanted if not succeeded.get(task_id))
    extra_ids = sum(len(ids) - 1 for ids in load.ids.values())  # one key, two tasks
    repeated = sum(count - 1 for task_id, count in succeeded.items() if task_id in wanted)
    # A task that ran without its client ever being told it was accepted: written twice.
    repeated += sum(1 for task_id in succeeded if task_id not in wanted)
    expected: dict[str, int] = defaultdict(int)
    for key in load.accepted:
        for account, amount in load.amounts[key]:
            expected[account] += amount
    exact = True
    for account, total in expected.items():
        value = await redis.get(q.effect_key(f"balance:{account}"))
        exact = exact and int(value or 0) == total
    done = sum(1 for task_id in wanted if succeeded.get(task_id))
    return Tally(len(wanted), done, lost, extra_ids + repeated, exact)


async def settled(redis: Redis, load: Load, within: float) -> Tally:
    """The tally once every accepted task succeeded (or the last one after ``within`` s)."""
    last: list[Tally] = []

    async def all_done() -> bool:
        last.append(await tally(redis, load))
        return last[-1].lost == 0

    with contextlib.suppress(AssertionError):  # the caller decides whether losses are allowed
        await wait_for(all_done, within=within, interval=0.5, what="every accepted task done")
    return last[-1]


def record(scenario: str, figures: dict[str, Any]) -> None:
    """Append ``figures`` for ``scenario`` to the results file and print them."""
    RESULTS.parent.mkdir(exist_ok=True)
    line = json.dumps({"scenario": scenario, **figures}, sort_keys=True)
    with RESULTS.open("a") as out:
        out.write(line + "\n")
    print(f"chaos figures: {line}")  # noqa: T201 - shown with -s and in the report
