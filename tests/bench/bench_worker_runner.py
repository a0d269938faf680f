"""A worker process for the benchmark: drains the queue (burst) or serves, then reports.

``python bench_worker_runner.py burst|serve`` with the usual CONVEYOR_* environment;
prints one ``BENCH <json>`` line (logs may share stdout): the drain's elapsed seconds
and the process's peak RSS. ``python bench_worker_runner.py raw-pickup N`` is the
pickup-latency floor: a bare redis-py XREADGROUP BLOCK loop on the ``raw`` queue's
stream that reports, for N entries, reply time minus the payload's enqueue time.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
import time

from conveyor.connection import create_client
from conveyor.keys import Keys
from conveyor.logging import configure_logging
from conveyor.service import tune_gc
from conveyor.settings import LogSettings, RedisSettings, load_settings
from conveyor.streams import ensure_group, read_reply_entries
from conveyor_worker.loading import load_registry
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.worker import Worker


async def main(mode: str) -> None:
    """Run the worker in ``mode`` and print the figures."""
    configure_logging(load_settings(LogSettings))  # the bench sets WARNING: no per-task lines
    redis_settings = load_settings(RedisSettings)
    settings = load_settings(WorkerSettings)
    client = create_client(redis_settings)
    registry = load_registry(settings.handler_modules)
    worker = Worker(client, settings, registry, Keys(redis_settings.key_prefix))
    tune_gc()  # as the service does before serving
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    if mode == "burst":
        await worker.run(burst=True)
    else:
        print("BENCH", json.dumps({"ready": True}), flush=True)  # noqa: T201 - the protocol line
        await worker.run(stop)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "elapsed": elapsed,
        "cpu_seconds": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }
    print("BENCH", json.dumps(figures), flush=True)  # noqa: T201
    await client.aclose()


async def raw_pickup(count: int) -> None:
    """Print the pickup latencies (ms) of a bare blocked reader: no decoding, no handler."""
    redis_settings = load_settings(RedisSettings)
    client = create_client(redis_settings)
    stream = Keys(redis_settings.key_prefix).queue("raw").tasks
    await ensure_group(client, stream, "raw")
    print("BENCH", json.dumps({"ready": True}), flush=True)  # noqa: T201 - the protocol line
    latencies: list[float] = []
    while len(latencies) < count:
        reply = await client.xreadgroup("raw", "raw-1", {stream: ">"}, count=500, block=5000)
        now = time.time_ns()
        for _, entries in read_reply_entries(reply):
            for entry_id, fields in entries:
                latencies.append((now - int(json.loads(fields[b"data"])["t"])) / 1e6)
                await client.xack(stream, "raw", entry_id)
    print("BENCH", json.dumps({"latencies": latencies}), flush=True)  # noqa: T201
    await client.aclose()


if __name__ == "__main__":
    if sys.argv[1] == "raw-pickup":
        asyncio.run(raw_pickup(int(sys.argv[2])))
    else:
        asyncio.run(main(sys.argv[1]))
