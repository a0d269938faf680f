"""The dispatcher: turns a batch of stream entries into handler runs and commit ops.

Per batch: decode every entry (bad ones are dead-lettered), defer types whose
breaker is open, commit one ``started`` op per task (which also answers whether
the task was cancelled), then run the handlers. Results become ops on the
committer; an entry leaves ``in_flight`` only once its outcome is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

import structlog
from opentelemetry.trace import Span

from conveyor.connection import TRANSIENT_ERRORS
from conveyor.deadletter import DeadReason
from conveyor.envelope import decode_envelope
from conveyor.errors import ControlSignal, EnvelopeDecodeError
from conveyor.handlers import Handler, InvalidPayloadError, Registry, Resources, TaskContext
from conveyor.keys import QueueKeys
from conveyor.streams import Entry, entry_time_ms
from conveyor.telemetry.batched import BatchedHistogram
from conveyor.telemetry.consuming import ConsumerSpans
from conveyor_worker import outcomes
from conveyor_worker.breaker import Breakers, BreakerState
from conveyor_worker.committer import Committer
from conveyor_worker.metrics import WorkerMetrics
from conveyor_worker.ops import Op, OpKind, Reply
from conveyor_worker.progress import ProgressReporter
from conveyor_worker.timeouts import Deadlines
from conveyor_worker.typelimits import BUSY_DEFER_MS, HOLD_MS, TypeLimits

log = structlog.get_logger(__name__)

CLOSE_SECONDS = 1.0  # at shutdown, for attempts whose outcome was just committed

_OUTCOME = {
    OpKind.ACK: "succeeded",
    OpKind.TIMER: "retrying",
    OpKind.DEAD: "dead",
    OpKind.EFFECT: "succeeded",
}
# Span event naming the committed outcome of an attempt.
_SPAN_OUTCOME = {
    OpKind.ACK: "succeeded",
    OpKind.TIMER: "retry_scheduled",
    OpKind.DEAD: "dead_lettered",
    OpKind.EFFECT: "effects_committed",
}


@dataclass(slots=True, eq=False)
class Job:
    """One task being run (in its own asyncio task): its context, raw fields and handler."""

    ctx: TaskContext
    raw: dict[bytes, bytes]
    handler: Handler
    task: asyncio.Task[None] | None = None
    span: Span | None = None
    started: float = 0.0
    running: bool = False  # the handler runs: its timeout or a shutdown may cancel it
    expired: bool = False  # its timeout cancelled it
    outcome: asyncio.Future[Reply] | None = None  # done: committed, released next step

    def expire(self) -> None:
        """Its timeout passed: cancel its task if the handler still runs."""
        if self.running and self.task is not None:
            self.expired = True
            self.task.cancel()


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-process limits the dispatcher enforces."""

    concurrency: int
    max_deliveries: int
    cancel_check_window: float = 0.0


class Dispatcher:
    """Runs the tasks of one queue."""

    def __init__(
        self,
        queue_keys: QueueKeys,
        registry: Registry,
        committer: Committer,
        limits: Limits,
        breakers: Breakers,
        metrics: WorkerMetrics,
        clock: Callable[[], int],
        rand: Callable[[], float],
        spans: ConsumerSpans | None = None,
        type_limits: TypeLimits | None = None,
    ) -> None:
        self.queue_keys = queue_keys
        self._type_limits = type_limits
        self._spans = spans or ConsumerSpans(queue_keys.tasks, "workers")
        self._registry = registry
        self._committer = committer
        self._limits = limits
        self._breakers = breakers
        self._metrics = metrics
        self._clock = clock
        self._rand = rand
        self.in_flight: dict[str, Job | None] = {}
        self.slot_freed = asyncio.Event()
        queue = queue_keys.queue
        # Shared by the dispatchers of a queue's partitions: each adds its own change.
        self._in_flight_gauge = metrics.in_flight.labels(queue)
        self._in_flight_shown = 0
        self._timing_children: dict[str, tuple[BatchedHistogram, BatchedHistogram]] = {}
        self._breaker_shown: dict[str, bool] = {}
        self._outcome_counters = {
            name: metrics.outcomes.labels(queue, name)
            for name in ("succeeded", "retrying", "dead", "cancelled")
        }
        # Decided once (logging is configured before workers are built): with INFO off,
        # the canonical attempt line is not even assembled.
        self._attempt_log = log.bind()
        enabled = getattr(self._attempt_log, "is_enabled_for", None)
        self._log_attempts = enabled is None or bool(enabled(logging.INFO))
        self._settling: set[asyncio.Task[None]] = set()
        self.resources = Resources()  # the worker's, shared by every task
        self._deadlines = Deadlines()
        self._progress = ProgressReporter(committer, clock)

    @property
    def free_slots(self) -> int:
        """How many more entries may be taken now."""
        return max(self._limits.concurrency - len(self.in_flight), 0)

    def dispatch(self, entries: list[Entry], counts: list[int] | None = None) -> None:
        """Start every entry of a batch (``counts``: delivery counters of claimed entries).

        Nothing is awaited here: each task gets its own asyncio task, created with a
        copy of the current context, so what one handler binds (structlog context
        variables, OpenTelemetry context) never reaches another. When the last commit
        (less than the cancel-check window ago) saw no cancelled task, the handler
        starts at once and its started event rides on the next commit. Otherwise the
        task's start op is committed first and the handler runs only if the reply says
        it was not cancelled.
        """
        now = self._clock()
        check = not self._committer.no_cancels_within(self._limits.cancel_check_window)
        create_task = asyncio.get_running_loop().create_task
        gated: dict[str, list[Job]] = {}
        for position, (raw_id, raw) in enumerate(entries):
            entry_id = raw_id.decode()
            if entry_id in self.in_flight:
                continue  # already running here (claimed back from ourselves)
            deliveries = counts[position] if counts else 1
            self.in_flight[entry_id] = None
            job = self._admit(entry_id, raw, deliveries, now)
            if job is None:
                continue
            self.in_flight[entry_id] = job
            if self._type_limits is not None and self._type_limits.applies(job.handler.name):
                gated.setdefault(job.handler.name, []).append(job)
                continue
            start = outcomes.started(entry_id, job.ctx.envelope, now, checked=check)
            if check:
                job.task = create_task(self._attempt(job, self._committer.commit(start)))
            else:
                self._committer.add(start)
                job.task = create_task(self._attempt(job, None))
        for task_type, jobs in gated.items():
            self._track(create_task(self._gate(task_type, jobs)))
        self._in_flight_gauge.inc(len(self.in_flight) - self._in_flight_shown)
        self._in_flight_shown = len(self.in_flight)
        self.flush_metrics()

    def flush_metrics(self) -> None:
        """Add the timings recorded since the last call to their histograms (once per batch)."""
        for start_latency, handler_seconds in self._timing_children.values():
            start_latency.flush()
            handler_seconds.flush()

    def _admit(
        self, entry_id: str, raw: dict[bytes, bytes], deliveries: int, now: int
    ) -> Job | None:
        """Decode and check one entry; None when it was settled without running."""
        try:
            envelope = decode_envelope(entry_id, raw, self.queue_keys.queue)
        except EnvelopeDecodeError as exc:
            log.warning("entry_undecodable", entry_id=entry_id, reason=exc.reason)
            self._settle(
                outcomes.dead(
                    entry_id, raw, None, DeadReason.UNDECODABLE, exc.reason, now, deliveries
                )
            )
            return None
        handler = self._registry.get(envelope.type)
        if handler is None:
            error = f"no handler is registered for task type {envelope.type!r}"
            self._settle(
                outcomes.dead(
                    entry_id,
                    raw,
                    envelope,
                    DeadReason.UNKNOWN_TYPE,
                    error,
                    now,
                    keys=self.queue_keys,
                )
            )
            return None
        if deliveries > self._limits.max_deliveries:
            error = f"delivered {deliveries} times without an outcome"
            self._settle(
                outcomes.dead(
                    entry_id,
                    raw,
                    envelope,
                    DeadReason.POISON,
                    error,
                    now,
                    deliveries,
                    keys=self.queue_keys,
                )
            )
            return None
        breaker = self._breakers.get(envelope.type)
        if breaker is not None and not breaker.allow():
            wait_ms = max(round((breaker.reopens_at - time.monotonic()) * 1000), 100)
            self._settle(outcomes.defer(entry_id, envelope, now + wait_ms, now))
            return None
        ctx = TaskContext(
            envelope=envelope,
            entry_id=entry_id,
            delivery_count=deliveries,
            resources=self.resources,
            progress_sink=self._progress,
        )
        return Job(ctx, raw, handler)

    def _settle(self, item: Op) -> None:
        """Commit an op that settles an entry without running it, then release the entry."""
        self._track(asyncio.create_task(self._settled(item, self._committer.commit(item))))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._settling.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._settling.discard)

    async def _gate(self, task_type: str, jobs: list[Job]) -> None:
        """Start the limited tasks of one type from a batch: one rate check for them all;
        those whose slot is further than HOLD_MS are deferred to it (no attempt spent)."""
        assert self._type_limits is not None  # noqa: S101 - only called when limits exist
        try:
            waits = await self._type_limits.waits_ms(task_type, [j.ctx.task_id for j in jobs])
        except TRANSIENT_ERRORS as exc:
            # Not started: released without an outcome, they stay pending and are claimed
            # again after the visibility timeout.
            log.warning("rate_check_failed", type=task_type, error=str(exc), tasks=len(jobs))
            for job in jobs:
                self._release(job.ctx.entry_id, None)
            return
        now = self._clock()
        create_task = asyncio.get_running_loop().create_task
        for job, wait_ms in zip(jobs, waits, strict=True):
            if wait_ms > HOLD_MS:
                self._settle(outcomes.defer(job.ctx.entry_id, job.ctx.envelope, now + wait_ms, now))
            else:
                job.task = create_task(self._held(job, wait_ms))

    async def _held(self, job: Job, wait_ms: int) -> None:
        """A limited task: wait for its rate slot and a running slot of its type, then run."""
        assert self._type_limits is not None  # noqa: S101 - only called when limits exist
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)  # its reserved rate slot, at most HOLD_MS away
        task_type = job.handler.name
        if not await self._type_limits.acquire(task_type):
            now = self._clock()
            due = now + BUSY_DEFER_MS
            self._settle(outcomes.defer(job.ctx.entry_id, job.ctx.envelope, due, now))
            return
        try:
            now = self._clock()
            check = not self._committer.no_cancels_within(self._limits.cancel_check_window)
            start = outcomes.started(job.ctx.entry_id, job.ctx.envelope, now, checked=check)
            if check:
                await self._attempt(job, self._committer.commit(start))
            else:
                self._committer.add(start)
                await self._attempt(job, None)
        finally:
            self._type_limits.release(task_type)

    async def _settled(self, item: Op, reply: asyncio.Future[Reply]) -> None:
        self._release(item.entry_id, item.kind if await reply is not None else None)

    async def _attempt(self, job: Job, start: asyncio.Future[Reply] | None) -> None:
        """One attempt, from its start op's reply to its committed outcome (its own task)."""
        if start is not None:
            # 0: run; 1: cancelled (already acked with a cancelled event); 2: a newer
            # revision replaced this entry (acked, the changed task enqueued); None: the
            # start was not committed.
            state = await start
            if state != 0:
                self._release(job.ctx.entry_id, OpKind.START if state == 1 else None)
                return
        self._enter_span(job)
        value, exc = await self._run(job)
        if job.ctx.last_progress is not None:
            self._progress.finish(job.ctx)  # its last report lands before the outcome
        item = self._outcome(job, value, exc)
        kind = item.kind
        job.outcome = self._committer.commit(item)
        self._committed(job, kind, await job.outcome)

    def _enter_span(self, job: Job) -> None:
        """Record the start latency; make the attempt's span current in the task's context."""
        job.started = time.perf_counter()
        envelope = job.ctx.envelope
        lag_ms = self._clock() - entry_time_ms(job.ctx.entry_id)
        self._timings(envelope.type)[0].values.append(lag_ms / 1000)
        span = self._spans.start(envelope, job.ctx.entry_id, job.ctx.delivery_count)
        if span is not None:
            job.span = span
            # Never detached: the context is this task's own copy and ends with it.
            ConsumerSpans.attach(span)

    async def _run(self, job: Job) -> tuple[Any, BaseException | None]:
        """Run the handler inside its timeout: (its value, None) or (None, its exception).

        The timeout counts from here, so CPU a handler spends before its first await is
        inside it (it takes effect at that await).
        """
        ctx = job.ctx
        timeout = ctx.envelope.timeout or job.handler.options.timeout
        deadline = self._deadlines.start(job, timeout)
        job.running = True
        try:
            result = job.handler.func(ctx, job.handler.parse(ctx.envelope.payload))
            value = await result if result.__class__ is CoroutineType else result
        except asyncio.CancelledError:
            if not job.expired:
                raise  # shutdown abandoned it: no outcome, the entry stays pending
            if job.task is not None:
                job.task.uncancel()
            return None, TimeoutError(f"attempt exceeded its timeout of {timeout:g} s")
        except Exception as exc:
            return None, exc
        finally:
            job.running = False
            self._deadlines.finish(job, deadline, timeout)
        return value, None

    def _outcome(self, job: Job, value: Any, exc: BaseException | None) -> Op:
        now = self._clock()
        ctx = job.ctx
        self._timings(ctx.envelope.type)[1].values.append(time.perf_counter() - job.started)
        self._record_breaker(job, exc)
        if exc is not None:
            ConsumerSpans.failed(job.span, exc)
            return outcomes.failure(
                ctx, job.raw, job.handler, exc, now, self._rand, keys=self.queue_keys
            )
        try:
            return outcomes.success(ctx, self.queue_keys, value, now)
        except (TypeError, ValueError) as bad:
            error = f"result is not JSON-serialisable: {bad}"
            reason = DeadReason.PERMANENT
            return outcomes.dead(
                ctx.entry_id, job.raw, ctx.envelope, reason, error, now, keys=self.queue_keys
            )

    def _timings(self, task_type: str) -> tuple[BatchedHistogram, BatchedHistogram]:
        """(start latency, handler time) histograms of a type: labels() is slow per task."""
        timings = self._timing_children.get(task_type)
        if timings is None:
            queue = self.queue_keys.queue
            timings = (
                BatchedHistogram(self._metrics.start_latency.labels(queue, task_type)),
                BatchedHistogram(self._metrics.handler_seconds.labels(queue, task_type)),
            )
            self._timing_children[task_type] = timings
        return timings

    def _record_breaker(self, job: Job, exc: BaseException | None) -> None:
        breaker = self._breakers.get(job.ctx.envelope.type)
        if breaker is None or isinstance(exc, ControlSignal | InvalidPayloadError):
            return
        breaker.record(exc is None)
        is_open = breaker.state is not BreakerState.CLOSED
        task_type = job.ctx.envelope.type
        if self._breaker_shown.get(task_type) is not is_open:  # set the gauge on changes only
            self._breaker_shown[task_type] = is_open
            self._metrics.breaker_open.labels(task_type).set(1 if is_open else 0)

    def _committed(self, job: Job, kind: OpKind, reply: Reply) -> None:
        kind_event = _SPAN_OUTCOME.get(kind, kind.value)
        if isinstance(reply, bytes | str) and kind is OpKind.EFFECT:
            text = reply.decode() if isinstance(reply, bytes) else reply
            if text.startswith("f"):
                # An effect could not apply (e.g. INCRBY on a non-number): nothing was
                # written; the task is dead-lettered as permanent.
                now = self._clock()
                error = f"effect failed: {text[1:]}"
                env = job.ctx.envelope
                ConsumerSpans.finished(job.span, "effect_failed_dead_lettered")
                self._settle(
                    outcomes.dead(
                        job.ctx.entry_id,
                        job.raw,
                        env,
                        DeadReason.PERMANENT,
                        error,
                        now,
                        keys=self.queue_keys,
                    )
                )
                return
            if text.startswith("d"):
                self._metrics.duplicates.labels(self.queue_keys.queue).inc()
                log.info(
                    "effects_already_committed", task_id=job.ctx.task_id, entry_id=job.ctx.entry_id
                )
                kind_event = "effects_already_committed"
        self._log_outcome(job, kind_event, reply is not None)
        ConsumerSpans.finished(job.span, kind_event, committed=reply is not None)
        self._release(job.ctx.entry_id, kind if reply is not None else None)

    def _log_outcome(self, job: Job, outcome: str, committed: bool) -> None:
        """The canonical line of one attempt, in the attempt's context: its span's trace_id
        and span_id and whatever the handler bound join it."""
        if not self._log_attempts:
            return
        ctx = job.ctx
        self._attempt_log.info(
            "task_attempt_finished",
            task_id=ctx.task_id,
            entry_id=ctx.entry_id,
            type=ctx.envelope.type,
            queue=ctx.envelope.queue,
            attempt=ctx.envelope.attempt,
            delivery_count=ctx.delivery_count,
            outcome=outcome,
            committed=committed,
            duration_ms=round((time.perf_counter() - job.started) * 1000, 3),
        )

    def _release(self, entry_id: str, kind: OpKind | None) -> None:
        self.in_flight.pop(entry_id, None)
        if kind is not None:
            self._outcome_counters[_OUTCOME.get(kind, "cancelled")].inc()
        if not self.in_flight:
            self.flush_metrics()  # idle: what is recorded shows now, not at the next batch
        self.slot_freed.set()

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` s for running tasks; abandon the rest (they stay pending)."""
        deadline = time.monotonic() + grace
        while self.in_flight and time.monotonic() < deadline:
            self.slot_freed.clear()
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                    await self.slot_freed.wait()
            except TimeoutError:
                break
        running = [j.task for j in self.in_flight.values() if j and j.running and j.task]
        for task in running:
            task.cancel()
        if running:
            log.warning("tasks_abandoned", count=len(running), queue=self.queue_keys.queue)
            await asyncio.gather(*running, return_exceptions=True)

    async def close(self) -> None:
        """After the final flush: let attempts finish with their replies; cancel the rest
        (their outcomes were not committed and they stay pending)."""
        tasks = [j.task for j in self.in_flight.values() if j and j.task and not j.task.done()]
        tasks += self._settling
        if not tasks:
            return
        _, unfinished = await asyncio.wait(tasks, timeout=CLOSE_SECONDS)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def running_entries(self) -> list[str]:
        """Entry ids in flight whose outcome is not committed yet (for lease renewal)."""
        return [entry_id for entry_id in self.in_flight if self.holds(entry_id)]

    def holds(self, entry_id: str) -> bool:
        """Whether ``entry_id`` is in flight here and its outcome not committed yet (its
        attempt's task may still be one step from releasing it)."""
        if entry_id not in self.in_flight:
            return False
        job = self.in_flight[entry_id]
        return job is None or job.outcome is None or not job.outcome.done()
