"""Worker benchmark: throughput vs a raw loop of the same Redis commands, pickup latency, memory.

Run with ``make bench``. Figures are printed as a table and written with
``results.record`` to ``tests/bench/results/latest.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.envelope import new_envelope
from conveyor.keys import Keys, QueueKeys
from conveyor.lua import register
from conveyor.streams import Group, ensure_group, read_reply_entries
from conveyor_worker.janitor import Janitor
from conveyor_worker.testing import xrange
from results import record, table

HERE = Path(__file__).resolve().parent
TASKS = 100_000
RAW_TASKS = 100_000
LATENCY_TASKS = 500
ENQUEUE_CHUNK = 2_000
EVENTS_MAXLEN = 10_000


def _env(redis_url: str, keys: Keys, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_WORKER_HANDLERS": "bench_worker_handlers",
        "CONVEYOR_WORKER_EVENTS_MAXLEN": str(EVENTS_MAXLEN),
        "CONVEYOR_LOG_LEVEL": "WARNING",
        "CONVEYOR_LOG_FORMAT": "json",
        **extra,
    }


async def _enqueue(redis: Redis, stream: str, count: int, task_type: str) -> None:
    fields = new_envelope(task_type, None, "default").to_fields()
    for start in range(0, count, ENQUEUE_CHUNK):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(start, min(start + ENQUEUE_CHUNK, count)):
                pipe.xadd(stream, {**fields, "id": f"bench-{n}"})  # type: ignore[dict-item]
            await pipe.execute()


async def _worker(env: dict[str, str], *mode: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "bench_worker_runner.py"), *mode, env=env,
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _send_stamps(redis: Redis, stream: str, id_prefix: str) -> None:
    """LATENCY_TASKS stamped tasks, one XADD at a time, 5 ms apart (as prescribed)."""
    for n in range(LATENCY_TASKS):
        envelope = new_envelope(
            "bench.stamp", {"t": time.time_ns()}, "default", task_id=f"{id_prefix}-{n}"
        )
        await redis.xadd(stream, envelope.to_fields())  # type: ignore[arg-type]
        await asyncio.sleep(0.005)


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99) - 1]


async def _raw_pickup(redis: Redis, env: dict[str, str], keys: Keys) -> list[float]:
    """The floor: a bare redis-py blocked reader in its own process, same machine, same run."""
    raw = await _worker(env, "raw-pickup", str(LATENCY_TASKS))
    assert (await _line(raw)).get("ready")
    await asyncio.sleep(1.0)  # let it reach its blocking read
    await _send_stamps(redis, keys.queue("raw").tasks, "raw")
    latencies = list((await _line(raw))["latencies"])
    await raw.wait()
    await redis.delete(keys.queue("raw").tasks)
    return latencies


async def _line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 300)
        if not line:
            msg = "benchmark worker exited without reporting"
            raise AssertionError(msg)
        if line.startswith(b"BENCH "):
            return dict(json.loads(line[6:]))


async def _raw_loop(redis: Redis, q: QueueKeys, raw_q: QueueKeys) -> tuple[float, float]:
    """The floor to compare with: the worker's Redis commands and nothing else.

    XREADGROUP 500, then one ``worker_commit`` call per batch with, for each task, the
    started event and XACK + succeeded event (the same ops, fields and sizes the worker
    sends for a no-op task), built from the raw fields without decoding the envelope.
    ``raw_q``: where its events go (same hash slot as ``q``). Returns (tasks/s, µs of
    this process's CPU per task).
    """
    await ensure_group(redis, q.tasks, "raw")
    script = register(redis, "worker_commit")
    keys = [q.tasks, raw_q.events, raw_q.timers_in, raw_q.dead, raw_q.cancelled, raw_q.replaced]
    started, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < RAW_TASKS:
        reply = await redis.xreadgroup("raw", "raw-1", {q.tasks: ">"}, count=500)
        entries = [entry for _, batch in read_reply_entries(reply) for entry in batch]
        if not entries:
            break
        now = str(time.time_ns() // 1_000_000)
        tokens: list[str] = []
        for entry_id, fields in entries:
            common = ["task_id", fields[b"id"].decode(), "type", fields[b"type"].decode()]
            common += ["queue", "default", "attempt", "1", "at_ms", now]
            eid = entry_id.decode()
            tokens += ["P", eid, "14", "v", "1", "event", "started", *common]
            tokens += ["A", eid, "16", "v", "1", "event", "succeeded", *common, "result", "null"]
        packed = json.dumps(tokens, separators=(",", ":"))
        await script(keys=keys, args=["raw", "86400000", now, str(EVENTS_MAXLEN), packed])
        done += len(entries)
    rate = done / (time.perf_counter() - started)
    cpu_us = (time.process_time() - cpu) / max(done, 1) * 1e6
    await redis.delete(raw_q.events)
    return rate, cpu_us


async def _used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def test_bench_worker_throughput_latency_and_memory(
    redis: Redis, redis_url: str, keys: Keys, request: pytest.FixtureRequest
) -> None:
    server = request.node.callspec.params.get("redis_url", "server")
    q = keys.queue("default")
    baseline_memory = await _used_memory(redis)
    rows = []

    # Raw redis-py loop on the same server, same run.
    await _enqueue(redis, q.tasks, RAW_TASKS, "bench.noop")
    raw_rate, raw_cpu_us = await _raw_loop(redis, q, Keys(f"{keys.prefix}-raw").queue("default"))
    await redis.delete(q.tasks)

    # One worker process draining pre-enqueued no-op tasks (acks + events on).
    await ensure_group(redis, q.tasks, Group.WORKERS.value)
    await _enqueue(redis, q.tasks, TASKS, "bench.noop")
    env = _env(redis_url, keys, CONVEYOR_WORKER_CONCURRENCY="2000", CONVEYOR_WORKER_BATCH="500")
    burst = await _worker(env, "burst")
    drained = await _line(burst)
    await burst.wait()
    rate = TASKS / drained["elapsed"]
    pending = await redis.xpending(q.tasks, Group.WORKERS.value)
    assert pending["pending"] == 0
    rows.append(
        record(f"worker.{server}.throughput", rate, "tasks/s", "raw read+commit loop", raw_rate)
    )
    rows.append(record(f"worker.{server}.raw_loop", raw_rate, "tasks/s"))
    cpu_us = drained["cpu_seconds"] / TASKS * 1e6
    rows.append(
        record(f"worker.{server}.cpu_per_task", cpu_us, "us", "raw loop CPU/task", raw_cpu_us)
    )
    rows.append(record(f"worker.{server}.peak_rss_drain_100k", drained["peak_rss_mb"], "MB"))

    # Redis memory after the drain and the janitor's trim, against the baseline.
    await Janitor(redis, q, "bench", 10_000, 3_600_000).run_once()
    after = await _used_memory(redis)
    rows.append(
        record(
            f"worker.{server}.redis_memory_after_trim",
            after / 2**20,
            "MB",
            "before enqueue",
            baseline_memory / 2**20,
        )
    )
    assert await redis.xlen(q.tasks) <= 1
    assert await redis.xlen(q.events) <= EVENTS_MAXLEN * 1.5

    # Pickup latency on an idle worker: 500 tasks, one at a time, 5 ms apart; first the
    # floor of this machine right now: the same for a bare redis-py blocked reader.
    raw_p50, raw_p99 = _percentiles(await _raw_pickup(redis, _env(redis_url, keys), keys))
    server_proc = await _worker(_env(redis_url, keys, CONVEYOR_WORKER_BLOCK_MS="5000"), "serve")
    assert (await _line(server_proc)).get("ready")
    await asyncio.sleep(1.0)  # let it reach its blocking read (a warm, idle worker)
    await redis.delete(q.events)
    await _send_stamps(redis, q.tasks, "lat")
    p50, p99 = _percentiles(await _latencies(redis, q))
    server_proc.terminate()
    await server_proc.wait()
    rows.append(record(f"worker.{server}.pickup_latency_p50", p50, "ms", "target", 0.5))
    rows.append(record(f"worker.{server}.pickup_latency_p99", p99, "ms", "target", 1.0))
    floor = "bare redis-py reader"
    rows.append(record(f"worker.{server}.pickup_latency_p50_vs_raw", p50, "ms", floor, raw_p50))
    rows.append(record(f"worker.{server}.pickup_latency_p99_vs_raw", p99, "ms", floor, raw_p99))
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report


async def _latencies(redis: Redis, q: QueueKeys) -> list[float]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        values = []
        for _, data in await xrange(redis, q.events):
            if data.get(b"event") == b"succeeded" and data.get(b"type") == b"bench.stamp":
                values.append(float(data[b"result"]))
        if len(values) >= LATENCY_TASKS:
            return values
        await asyncio.sleep(0.2)  # polling for the last results, with a deadline
    msg = "latency results did not all arrive"
    raise AssertionError(msg)
