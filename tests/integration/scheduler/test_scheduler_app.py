"""The service process: probes and metrics on its port, the schedules file, a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.localserver import free_port
from conveyor_scheduler.testing import xrange
from waiting import wait_for


async def eventually(probe: Callable[[], Awaitable[object]], what: str) -> None:
    """``waiting.wait_for`` for an async probe (its annotation trips mypy's inference)."""
    await wait_for(probe, within=60, interval=0.1, what=what)


def _env(redis_url: str, keys: Keys, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_LOG_FORMAT": "json",
        **extra,
    }


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except OSError:
        return 0, ""


async def test_service_serves_probes_and_metrics_fires_file_schedules_and_stops_cleanly(
    redis: Redis, keys: Keys, redis_url: str, tmp_path: Path
) -> None:
    schedules = tmp_path / "schedules.yaml"
    schedules.write_text("schedules:\n  - {id: tick, cron: '@every 1s', task: {type: demo.echo}}\n")
    port = free_port()
    env = _env(
        redis_url,
        keys,
        CONVEYOR_SCHEDULER_METRICS_PORT=str(port),
        CONVEYOR_SCHEDULER_SCHEDULES_FILE=str(schedules),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conveyor_scheduler", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:

        async def ready() -> bool:
            return (await asyncio.to_thread(_get, port, "/readyz"))[0] == 200

        await eventually(ready, "readiness")

        async def fired() -> bool:
            return len(await xrange(redis, keys.queue("default").tasks)) >= 2

        await eventually(fired, "two fires")

        async def counted() -> bool:
            status, body = await asyncio.to_thread(_get, port, "/metrics")
            return status == 200 and "conveyor_scheduler_fires_total" in body

        await eventually(counted, "fires in /metrics")
        assert (await asyncio.to_thread(_get, port, "/livez"))[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0


async def test_invalid_schedules_file_stops_the_service_with_exit_code_2(
    redis_url: str, keys: Keys, tmp_path: Path
) -> None:
    schedules = tmp_path / "bad.yaml"
    schedules.write_text("schedules:\n  - {id: bad, cron: '0 0 30 2 *', task: {type: t}}\n")
    env = _env(redis_url, keys, CONVEYOR_SCHEDULER_SCHEDULES_FILE=str(schedules))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conveyor_scheduler", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "schedule 'bad'" in err.decode()
