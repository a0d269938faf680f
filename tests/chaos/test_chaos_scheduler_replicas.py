"""Chaos: three scheduler processes fire each instant exactly once, with one kill -9ed half way.

Three ``python -m conveyor_scheduler`` processes share a schedules file with an
``@every 1s`` and a ``*/2 * * * * *`` schedule. After about 15 s one replica is
killed with SIGKILL; the two survivors run on to about 30 s and are stopped.
Afterwards every instant from the first fire to the last settled one was fired
exactly once (no gap, no duplicate), and fires were on time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.streams import entry_time_ms
from conveyor_scheduler.testing import xrange
from waiting import wait_for

SCHEDULES = """
schedules:
  - {id: every-second, cron: "@every 1s", task: {type: demo.echo}}
  - {id: even-seconds, cron: "*/2 * * * * *", task: {type: demo.echo}}
"""
RUN_MS = 30_000


async def eventually(probe: Callable[[], Awaitable[object]], what: str, within: float) -> None:
    """``waiting.wait_for`` for an async probe (its annotation trips mypy's inference)."""
    await wait_for(probe, within=within, interval=0.1, what=what)


async def start_replica(
    redis_url: str, keys: Keys, name: str, tmp: Path
) -> asyncio.subprocess.Process:
    """Start one scheduler process with the schedules file."""
    env = {
        **os.environ,
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_QUEUES": "default",
        "CONVEYOR_SCHEDULER_SCHEDULES_FILE": str(tmp / "schedules.yaml"),
        "CONVEYOR_SCHEDULER_CONSUMER": name,
        "CONVEYOR_SCHEDULER_METRICS_PORT": "0",
        "CONVEYOR_LOG_LEVEL": "WARNING",
        "CONVEYOR_LOG_FORMAT": "json",
    }
    with (tmp / f"{name}.log").open("ab") as log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "conveyor_scheduler", env=env,
            stdout=log_file, stderr=log_file, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip


async def settled(redis: Redis, keys: Keys, schedule_id: str) -> int:
    """The schedule's last settled instant (ms), 0 if none yet."""
    value = await redis.hget(keys.queue("default").last_fired, schedule_id)
    return int(value) if value else 0


@pytest.mark.timeout(240)
async def test_three_replicas_fire_every_instant_once_with_one_killed_half_way(
    redis: Redis, keys: Keys, redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    replicas = [await start_replica(redis_url, keys, name, tmp_path) for name in "abc"]
    try:
        await eventually(lambda: settled(redis, keys, "every-second"), "first settle", 60)
        start = await settled(redis, keys, "every-second")

        async def reached(offset: int) -> bool:
            return await settled(redis, keys, "every-second") >= start + offset

        await eventually(lambda: reached(RUN_MS // 2), "half way", 60)
        replicas[0].send_signal(signal.SIGKILL)
        await asyncio.wait_for(replicas[0].wait(), 30)
        await eventually(lambda: reached(RUN_MS), "the end of the run", 60)
    finally:
        for process in replicas:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in replicas:
            await asyncio.wait_for(process.wait(), 30)
    assert [p.returncode for p in replicas] == [-signal.SIGKILL, 0, 0]
    fires: Counter[str] = Counter()
    lateness: list[int] = []
    for entry_id, fields in await xrange(redis, keys.queue("default").tasks):
        key = fields[b"idempotency_key"].decode()
        fires[key] += 1
        lateness.append(entry_time_ms(entry_id) - int(key.rsplit(":", 1)[1]))
    assert max(fires.values()) == 1, "an instant fired twice"
    for schedule_id, step in (("every-second", 1_000), ("even-seconds", 2_000)):
        instants = sorted(int(k.rsplit(":", 1)[1]) for k in fires if f":{schedule_id}:" in k)
        last = await settled(redis, keys, schedule_id)
        assert instants[-1] == last
        assert instants[0] <= start + step
        assert instants == list(range(instants[0], last + 1, step)), f"{schedule_id} has a gap"
    assert len(instants) >= RUN_MS // 2_000
    lateness.sort()
    assert lateness[len(lateness) // 2] < 500, f"median fire lateness {lateness} ms"
