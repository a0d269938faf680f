"""Worker start and stop (issue 16): process start to the first completed task, and an
idle worker's exit after SIGTERM, each against a same-run floor.

- Start: a worker process is started with one task already waiting; the figure is the
  time from ``exec`` to that task's ``succeeded`` event. Floor: an interpreter that
  imports only the worker's third-party dependencies (redis-py, pydantic-settings,
  structlog, prometheus-client) and exits.
- Stop: a worker blocked in its idle read (default 1,000 ms block) gets SIGTERM; the
  figure is the time until the process has exited. Floor: an interpreter with the same
  imports, killed by SIGTERM (default handler).

Byte code is cached under a temporary ``PYTHONPYCACHEPREFIX`` after a warm-up run, as an
installed package is byte-compiled (the development environment sets
PYTHONDONTWRITEBYTECODE). Run: ``pytest tests/bench/test_bench_worker_start.py -m bench -s``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from conveyor.envelope import new_envelope
from conveyor.keys import Keys
from conveyor.streams import Group, ensure_group, read_reply_entries
from results import record, table

pytestmark = pytest.mark.bench

HERE = Path(__file__).resolve().parent
RUNS = 7
FLOOR_IMPORTS = "import redis.asyncio, pydantic_settings, structlog, prometheus_client"
WAIT_S = 60.0


def _env(redis_url: str, keys: Keys, cache: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {
        **env,
        "PYTHONPYCACHEPREFIX": str(cache),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_WORKER_HANDLERS": "bench_worker_handlers",
        "CONVEYOR_WORKER_METRICS_PORT": "0",
        "CONVEYOR_LOG_LEVEL": "WARNING",
        "CONVEYOR_LOG_FORMAT": "json",
    }


async def _start_to_first_task(redis: Redis, keys: Keys, env: dict[str, str]) -> float:
    q = keys.queue("default")
    await redis.delete(q.tasks, q.events)
    await ensure_group(redis, q.tasks, Group.WORKERS)
    envelope = new_envelope("bench.noop", None, "default")
    await redis.xadd(q.tasks, envelope.to_fields())  # type: ignore[arg-type]
    started = time.perf_counter()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conveyor_worker", env=env, stdin=asyncio.subprocess.DEVNULL
    )
    try:
        last = "0"
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            reply = await redis.xread({q.events: last}, block=100)
            for _, entries in read_reply_entries(reply):
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    if fields.get(b"event") == b"succeeded":
                        return time.perf_counter() - started
        msg = "the worker completed no task"
        raise AssertionError(msg)
    finally:
        worker.send_signal(signal.SIGTERM)
        await worker.wait()


async def _blocked(redis: Redis) -> bool:
    clients = await redis.client_list()
    return any(c.get("cmd") == "xreadgroup" and "b" in str(c.get("flags")) for c in clients)


async def _idle_exit(redis: Redis, env: dict[str, str]) -> float:
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conveyor_worker", env=env, stdin=asyncio.subprocess.DEVNULL
    )
    deadline = time.monotonic() + WAIT_S
    while not await _blocked(redis):
        assert time.monotonic() < deadline, "the worker never blocked in its read"
        await asyncio.sleep(0.01)  # polling CLIENT LIST, with a deadline
    await asyncio.sleep(0.3)  # well inside its 1,000 ms block: the case being measured
    sent = time.perf_counter()
    worker.send_signal(signal.SIGTERM)
    assert await worker.wait() == 0
    return time.perf_counter() - sent


async def _floor(env: dict[str, str], *, terminate: bool) -> float:
    code = FLOOR_IMPORTS + ("\nimport time\ntime.sleep(60)" if terminate else "")
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=env)
    if not terminate:
        await process.wait()
        return time.perf_counter() - started
    await asyncio.sleep(1.0)  # its imports are done well before (measured above)
    sent = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    await process.wait()
    return time.perf_counter() - sent


async def test_bench_worker_start_and_idle_stop(
    redis: Redis, redis_url: str, keys: Keys, tmp_path: Path
) -> None:
    env = _env(redis_url, keys, tmp_path / "pycache")
    await _floor(env, terminate=False)  # warm-up: writes the byte-code cache
    await _start_to_first_task(redis, keys, env)
    starts, floors, stops, stop_floors = [], [], [], []
    for _ in range(RUNS):  # alternated, so load changes hit both alike
        floors.append(await _floor(env, terminate=False))
        starts.append(await _start_to_first_task(redis, keys, env))
        stop_floors.append(await _floor(env, terminate=True))
        stops.append(await _idle_exit(redis, env))
    ms = 1000.0
    rows = [
        record("worker.start_to_first_task", statistics.median(starts) * ms, "ms",
               "interpreter + deps import", statistics.median(floors) * ms),
        record("worker.start_to_first_task_best", min(starts) * ms, "ms",
               "interpreter + deps import", min(floors) * ms),
        record("worker.idle_sigterm_to_exit", statistics.median(stops) * ms, "ms",
               "interpreter, SIGTERM", statistics.median(stop_floors) * ms),
    ]  # fmt: skip
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
