"""The tracing budget of the worker (issue 16): three figures, each against a same-run baseline.

1. An unsampled task (its producer's ``traceparent`` says "not sampled", parent-based
   sampler) against tracing off: the worker's span path per task, in-process, µs.
2. A sampled task's span path (ours: parse the traceparent, start the CONSUMER span with
   its attributes, make it current, add the outcome event, end it) against the bare SDK
   doing the same (W3C propagator extract, ``start_span`` with the same attributes,
   attach, ``add_event``, ``end``, detach): target <= 1.3x.
3. Drain throughput of a realistic handler (``bench.json``, ~200 µs of CPU) with tracing
   at 100% and parent-based 10% against tracing off (targets >= 0.85 and >= 0.97), worker
   processes alternated, best of rounds; also as tasks per CPU-second of the worker,
   the figure to trust on a busy machine.

Run: ``pytest tests/bench/test_bench_tracing_budget.py -m bench -s``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable, Sequence

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.keys import Keys
from conveyor.telemetry.consuming import ConsumerSpans
from conveyor.telemetry.messaging import Operation, messaging_attributes
from results import record, table

pytestmark = pytest.mark.bench

SPANS = 20_000
ROUNDS = 5
DRAIN_TASKS = 5_000
DRAIN_MODES = ("off", "always_on", "parent_10")


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _provider(sampler: object) -> TracerProvider:
    provider = TracerProvider(sampler=sampler)  # type: ignore[arg-type]
    provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=SPANS * 2))
    return provider


def _envelopes(flags: str) -> list[TaskEnvelope]:
    return [
        new_envelope(
            "bench.noop", None, "default", traceparent=f"00-{n + 1:032x}-{n + 1:016x}-{flags}"
        )
        for n in range(SPANS)
    ]


def _ours(spans: ConsumerSpans) -> Callable[[TaskEnvelope], None]:
    def one(envelope: TaskEnvelope) -> None:
        span = spans.start(envelope, "1-1", 1)
        if span is None:
            return
        token = ConsumerSpans.attach(span)
        ConsumerSpans.finished(span, "succeeded")
        ConsumerSpans.detach(token)  # the worker drops its task's context instead

    return one


def _bare(provider: TracerProvider, stream: str) -> Callable[[TaskEnvelope], None]:
    tracer = provider.get_tracer("bare")
    propagator = TraceContextTextMapPropagator()
    fixed = messaging_attributes(Operation.PROCESS, stream, group="workers")

    def one(envelope: TaskEnvelope) -> None:
        parent = propagator.extract({"traceparent": envelope.traceparent})
        attributes = {
            **fixed,
            "messaging.message.id": "1-1",
            "conveyor.task.id": envelope.id,
            "conveyor.task.attempt": envelope.attempt,
        }
        span = tracer.start_span(
            f"process {envelope.type}", context=parent, kind=SpanKind.CONSUMER,
            attributes=attributes,
        )  # fmt: skip
        token = otel_context.attach(trace.set_span_in_context(span))
        span.add_event("succeeded")
        span.end()
        otel_context.detach(token)

    return one


def _per_call_us(path: Callable[[TaskEnvelope], None], envelopes: list[TaskEnvelope]) -> float:
    """CPU µs per call: the best of ROUNDS passes (the least disturbed on a shared machine)."""
    best = float("inf")
    for _ in range(ROUNDS):
        gc.collect()
        started = time.process_time()
        for envelope in envelopes:
            path(envelope)
        best = min(best, time.process_time() - started)
    return best / len(envelopes) * 1e6


def test_bench_tracing_budget_span_path() -> None:
    stream = Keys("bench").queue("default").tasks
    unsampled, sampled = _envelopes("00"), _envelopes("01")
    off = ConsumerSpans(stream, "workers")
    assert not off.enabled  # no global provider: tracing off
    parent_based = _provider(ParentBased(TraceIdRatioBased(0.1)))
    always = _provider(ALWAYS_ON)
    try:
        figures: dict[str, float] = {}
        for _ in range(2):  # alternated, best of each
            for name, path, envelopes in (
                ("off", _ours(off), unsampled),
                (
                    "unsampled",
                    _ours(ConsumerSpans(stream, "workers", tracer=parent_based.get_tracer("w"))),
                    unsampled,
                ),
                (
                    "sampled",
                    _ours(ConsumerSpans(stream, "workers", tracer=always.get_tracer("w"))),
                    sampled,
                ),
                ("bare_sdk", _bare(always, stream), sampled),
            ):
                value = _per_call_us(path, envelopes)
                figures[name] = min(figures.get(name, value), value)
    finally:
        parent_based.shutdown()
        always.shutdown()
    extra = figures["unsampled"] - figures["off"]
    rows = [
        record("tracing.worker.span_path_off", figures["off"], "us"),
        record("tracing.worker.unsampled_extra", extra, "us", "target", 1.0),
        record("tracing.worker.sampled_span", figures["sampled"], "us", "bare SDK span",
               figures["bare_sdk"]),
    ]  # fmt: skip
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report


async def test_bench_tracing_budget_realistic_handler(
    redis: Redis, redis_url: str, keys: Keys, request: pytest.FixtureRequest
) -> None:
    from conveyor.streams import Group, ensure_group
    from test_bench_tracing import HERE, _enqueue_with_parents
    from test_bench_worker import _enqueue, _env, _line

    server = request.node.callspec.params.get("redis_url", "server")
    best = dict.fromkeys(DRAIN_MODES, 0.0)
    best_cpu = dict.fromkeys(DRAIN_MODES, 0.0)
    for n in range(3):
        for mode in DRAIN_MODES:
            run_keys = Keys(f"{keys.prefix}-{mode}-{n}")
            q = run_keys.queue("default")
            await ensure_group(redis, q.tasks, Group.WORKERS.value)
            if mode == "parent_10":
                await _enqueue_with_parents(redis, q.tasks, DRAIN_TASKS, "bench.json")
            else:
                await _enqueue(redis, q.tasks, DRAIN_TASKS, "bench.json")
            env = _env(redis_url, run_keys, CONVEYOR_WORKER_CONCURRENCY="500",
                       CONVEYOR_WORKER_BATCH="200")  # fmt: skip
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(HERE / "test_bench_tracing.py"), mode, env=env,
                stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            figures = await _line(process)
            await process.wait()
            best[mode] = max(best[mode], DRAIN_TASKS / float(figures["elapsed"]))
            best_cpu[mode] = max(best_cpu[mode], DRAIN_TASKS / float(figures["cpu_seconds"]))
            await redis.delete(q.tasks, q.events)
    name = f"tracing.worker.{server}.json_handler"
    rows = []
    # Tasks per CPU-second of the worker: steadier than wall-clock rates on a shared machine.
    for suffix, figures, unit in (("", best, "tasks/s"), ("_per_cpu", best_cpu, "tasks/cpu-s")):
        rows.append(record(f"{name}.off{suffix}", figures["off"], unit))
        rows += [
            record(f"{name}.{mode}{suffix}", figures[mode], unit, "tracing off", figures["off"])
            for mode in ("always_on", "parent_10")
        ]
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
