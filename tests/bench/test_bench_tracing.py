"""Tracing overhead on the worker: drain throughput with tracing off, on at 100%, and sampled.

One worker process (the worker benchmark's runner and no-op handler) drains
pre-enqueued tasks in burst mode, once per mode, three times over, alternating;
the best drain of each mode counts. Throughput (tasks/s) is reported, and tasks
per CPU-second of the worker process, which is steadier on a shared machine.
Modes:

- ``off``: no SDK provider (the default when no OTLP endpoint is set).
- ``always_on``: SDK provider, every task sampled, BatchSpanProcessor into an
  exporter that drops spans (the cost of making and batching spans, not of a
  network).
- ``ratio_10``: SDK provider with ``parentbased_traceidratio`` at 0.1; the tasks
  carry no trace context, so each starts a trace, sampled at 10%.
- ``parent_10``: the same provider; every task carries a producer's
  ``traceparent``, every tenth one sampled (what an ingest sampling at 10%
  writes): the worker follows its parent's decision.

The ingest test runs wrk (64 connections, 10 s, single-task POSTs) against an
ingest process in each mode: SERVER and PRODUCER spans per request.

Run: ``pytest tests/bench/test_bench_tracing.py -m bench -s``. Figures go to
tests/bench/results/latest.json (``tracing.worker.<server>.<mode>``,
``tracing.ingest.<server>.<mode>``).
This file is also the runner: ``python test_bench_tracing.py <mode>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.localserver import free_port
from results import record, table

HERE = Path(__file__).resolve().parent
TASKS = 20_000
MODES = ("off", "always_on", "ratio_10", "parent_10")
INGEST_MODES = ("off", "always_on", "ratio_10")
ROUNDS = 3

pytestmark = pytest.mark.bench


def install(mode: str) -> None:
    """Install the SDK provider of ``mode`` (nothing for ``off``)."""
    if mode == "off":
        return
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    sampler = ALWAYS_ON if mode == "always_on" else ParentBased(TraceIdRatioBased(0.1))  # *_10
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)


async def _enqueue_with_parents(
    redis: Redis, stream: str, count: int, task_type: str = "bench.noop"
) -> None:
    """``count`` tasks, each with its own trace's traceparent; one in ten sampled."""
    from conveyor.envelope import new_envelope

    for start in range(0, count, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(start, min(start + 1000, count)):
                flags = "01" if n % 10 == 0 else "00"
                traceparent = f"00-{n + 1:032x}-{n + 1:016x}-{flags}"
                fields = new_envelope(task_type, None, "default", traceparent=traceparent)
                pipe.xadd(stream, fields.to_fields())  # type: ignore[arg-type]
            await pipe.execute()


async def drain(redis: Redis, redis_url: str, keys: Keys, mode: str, n: int) -> tuple[float, float]:
    """Enqueue TASKS no-op tasks under a fresh prefix; (tasks/s, tasks per CPU-second)."""
    from conveyor.streams import Group, ensure_group
    from test_bench_worker import _enqueue, _env, _line

    run_keys = Keys(f"{keys.prefix}-{mode}-{n}")
    q = run_keys.queue("default")
    await ensure_group(redis, q.tasks, Group.WORKERS.value)
    if mode == "parent_10":
        await _enqueue_with_parents(redis, q.tasks, TASKS)
    else:
        await _enqueue(redis, q.tasks, TASKS, "bench.noop")
    env = _env(redis_url, run_keys, CONVEYOR_WORKER_CONCURRENCY="2000", CONVEYOR_WORKER_BATCH="500")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "test_bench_tracing.py"), mode, env=env,
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    figures = await _line(process)
    await process.wait()
    pending = await redis.xpending(q.tasks, Group.WORKERS.value)
    assert pending["pending"] == 0
    for key in (q.tasks, q.events):
        await redis.delete(key)
    return TASKS / float(figures["elapsed"]), TASKS / float(figures["cpu_seconds"])


async def test_bench_tracing_overhead_on_the_worker(
    redis: Redis, redis_url: str, keys: Keys, request: pytest.FixtureRequest
) -> None:
    server = request.node.callspec.params.get("redis_url", "server")
    best = dict.fromkeys(MODES, 0.0)
    best_cpu = dict.fromkeys(MODES, 0.0)
    for n in range(ROUNDS):
        for mode in MODES:
            rate, per_cpu = await drain(redis, redis_url, keys, mode, n)
            best[mode] = max(best[mode], rate)
            best_cpu[mode] = max(best_cpu[mode], per_cpu)
    rows = overhead_rows(f"tracing.worker.{server}", "tasks", best, best_cpu)
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
    assert all(best.values())


def overhead_rows(
    name: str, unit: str, rates: dict[str, float], per_cpu: dict[str, float]
) -> list[dict[str, Any]]:
    """Recorded rows of each mode's rate and per-CPU rate, traced modes against ``off``."""
    rows = []
    for mode in rates:
        base = "off" if mode != "off" else ""
        for suffix, figures, per in (("", rates, "s"), ("_per_cpu", per_cpu, "cpu-s")):
            value, off = figures[mode], figures["off"] if base else None
            rows.append(record(f"{name}.{mode}{suffix}", value, f"{unit}/{per}", base, off))
    return rows


def ingest_rate(redis_url: str, keys: Keys, mode: str, tmp_path: Path) -> tuple[float, float]:
    """(requests/s, requests per CPU-second of ingest) of single-task POSTs (wrk, 64
    connections) to an ingest process in ``mode``."""
    from test_bench_ingest import (
        SECRET,
        _stop,
        _wait_port,
        _wrk,
    )

    port = free_port()
    env = {
        **os.environ,
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": f"{keys.prefix}-ingest-{mode}",
        "CONVEYOR_INGEST_PORT": str(port),
        "CONVEYOR_INGEST_JWT_SECRET": SECRET,
        "CONVEYOR_INGEST_RATE_LIMIT": "1000000000",
        "CONVEYOR_INGEST_RATE_BURST": "1000000000",
        "CONVEYOR_INGEST_MAX_BACKLOG": "1000000000",
        "CONVEYOR_LOG_LEVEL": "WARNING",
    }
    with (tmp_path / f"ingest-{mode}.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and file
            [sys.executable, str(HERE / "test_bench_tracing.py"), f"ingest-{mode}"],
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            _wait_port(port)
            body = json.dumps({"type": "bench.noop", "payload": {"n": 1}})
            cpu_before = _cpu_seconds(process.pid)
            figures = _wrk(port, "/api/v1/tasks", body, tmp_path, 64)
            cpu = _cpu_seconds(process.pid) - cpu_before
            return float(figures["rps"]), figures["requests"] / cpu
        finally:
            _stop(process)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_bench_tracing_overhead_on_ingest(
    redis_url: str, keys: Keys, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server = request.node.callspec.params.get("redis_url", "server")
    figures = {mode: ingest_rate(redis_url, keys, mode, tmp_path) for mode in INGEST_MODES}
    rates = {mode: rate for mode, (rate, _) in figures.items()}
    per_cpu = {mode: value for mode, (_, value) in figures.items()}
    rows = overhead_rows(f"tracing.ingest.{server}", "req", rates, per_cpu)
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
    assert all(rates.values())


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    target = sys.argv[1]
    if target.startswith("ingest-"):
        install(target.removeprefix("ingest-"))
        from conveyor_ingest.__main__ import main as ingest_main

        sys.argv = sys.argv[:1]
        sys.exit(ingest_main())
    install(target)
    from bench_worker_runner import main

    asyncio.run(main("burst"))
