"""What request handlers share: the service objects (one typed AppKey) and request helpers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from conveyor import jsoncodec
from conveyor.dataset import DatasetGuard
from conveyor.errors import JsonNumberError
from conveyor.keys import Keys
from conveyor.settings import RedisSettings
from conveyor.telemetry.batched import BatchedHistogram
from conveyor_ingest.auth import ANONYMOUS, Principal, Scope, TokenVerifier
from conveyor_ingest.limits import BacklogGuard, RateLimiter
from conveyor_ingest.responses import ApiError, field_errors, unprocessable
from conveyor_ingest.settings import IngestSettings
from conveyor_ingest.store import TaskStore
from conveyor_ingest.writer import ScriptWriter

ModelT = TypeVar("ModelT", bound=BaseModel)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)
ACTION: web.RequestKey[str] = web.RequestKey("action", str)


@dataclass(frozen=True, slots=True)
class Metrics:
    """The service's Prometheus metrics, in a registry of its own (no globals)."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    tasks: Counter
    rejected: Counter
    # Requests answered since the last flush, (route, status, seconds): observing each one
    # (a labelled counter and histogram) cost ~2 µs of a ~70 µs POST, so they are added
    # in bulk once per loop iteration, and before every scrape.
    answered: list[tuple[str, int, float]] = field(default_factory=list, repr=False)
    # Label children (labels() takes a lock and builds a key per call). Bounded: routes are
    # canonical names, statuses a few codes, queues the configured ones.
    request_children: dict[tuple[str, int], Counter] = field(default_factory=dict, repr=False)
    latency_children: dict[str, BatchedHistogram] = field(default_factory=dict, repr=False)
    queue_children: dict[str, Counter] = field(default_factory=dict, repr=False)

    def count_accepted(self, queue: str, tasks: int) -> None:
        """Count tasks enqueued on ``queue`` (configured queues only: bounded)."""
        child = self.queue_children.get(queue)
        if child is None:
            child = self.queue_children[queue] = self.tasks.labels(queue)
        child.inc(tasks)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count and time one answered request (added at the end of the loop iteration)."""
        answered = self.answered
        answered.append((route, status, seconds))
        if len(answered) == 1:
            loop = asyncio.events._get_running_loop()  # get_running_loop, without the raise
            if loop is None:
                self.flush()
            else:
                loop.call_soon(self.flush)

    def flush(self) -> None:
        """Add the requests answered since the last flush to their counters and histograms."""
        answered = self.answered[:]
        self.answered.clear()
        counts: dict[tuple[str, int], int] = {}
        latencies = self.latency_children
        for route, status, seconds in answered:
            counts[route, status] = counts.get((route, status), 0) + 1
            histogram = latencies.get(route)
            if histogram is None:
                histogram = latencies[route] = BatchedHistogram(self.latency.labels(route))
            histogram.values.append(seconds)
        for key, count in counts.items():
            child = self.request_children.get(key)
            if child is None:
                child = self.request_children[key] = self.requests.labels(key[0], str(key[1]))
            child.inc(count)
        for histogram in latencies.values():
            histogram.flush()

    @classmethod
    def create(cls) -> Metrics:
        """A fresh registry with the ingest metrics."""
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "conveyor_ingest_requests", "HTTP requests", ["route", "status"], registry=registry
            ),
            latency=Histogram(
                "conveyor_ingest_request_seconds", "HTTP latency", ["route"], registry=registry
            ),
            tasks=Counter(
                "conveyor_ingest_tasks_accepted", "Tasks enqueued", ["queue"], registry=registry
            ),
            rejected=Counter(
                "conveyor_ingest_task_requests_rejected",
                "Enqueue requests answered without enqueuing, by reason.",
                ["reason"],
                registry=registry,
            ),
        )


@dataclass(frozen=True, slots=True)
class Services:
    """Everything handlers need, created in the app's cleanup context."""

    settings: IngestSettings
    redis_settings: RedisSettings
    keys: Keys
    client: Redis
    writer: ScriptWriter
    store: TaskStore
    verifier: TokenVerifier | None
    limiter: RateLimiter
    backlog: BacklogGuard
    metrics: Metrics
    # Whether an SDK tracer provider was installed when the app started (serve installs
    # it first): without one, requests skip the span machinery altogether.
    tracing: bool = False
    # The dataset identity check of the client's connections (conveyor.dataset).
    dataset: DatasetGuard | None = None


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    """The app's services."""
    return request.app[SERVICES]


def authorize(request: web.Request, scope: Scope, action: str) -> Principal:
    """Authenticate the request (401) and check ``scope`` (403); records the audit action."""
    request[ACTION] = action
    verifier = services(request).verifier
    principal = (
        ANONYMOUS if verifier is None else verifier.verify(request.headers.get("Authorization"))
    )
    request[PRINCIPAL] = principal
    principal.require(scope)
    return principal


async def read_body(request: web.Request) -> bytes:
    """The request body; 413 past CONVEYOR_INGEST_MAX_BODY_BYTES.

    A body aiohttp has already received whole (every small one) is taken from the
    stream's buffer at once: ``request.read()`` awaits the stream twice and copies the
    bytes twice, ~3 µs of a ~72 µs POST. Read the body with this, once.
    """
    content = request.content
    if not content.is_eof():
        return await request.read()  # still arriving: aiohttp enforces the limit as it reads
    body = content.read_nowait()
    limit = services(request).settings.max_body_bytes
    if len(body) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return body


async def read_model(request: web.Request, model: type[ModelT]) -> tuple[ModelT, bytes]:
    """The body validated as ``model`` (400 malformed JSON, 422 field errors) and its bytes."""
    body = await read_body(request)
    return parse_model(model, body), body


def parse_model(model: type[ModelT], body: bytes | str | dict[str, Any]) -> ModelT:
    """Validate ``body`` as ``model``: 400 for malformed JSON, 422 listing field errors."""
    try:
        if isinstance(body, dict):
            return model.model_validate(body)
        return model.model_validate_json(body or b"null")
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            if error["type"] == "json_invalid":  # where the JSON breaks, e.g. "line 1 column 2"
                where = [{"loc": "body", "msg": error["msg"]}]
                raise ApiError(400, "request body is not valid JSON", errors=where) from exc
        msg = "request body is invalid"
        raise unprocessable(msg, field_errors(exc)) from exc


def read_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object body (400 when it is not JSON, 422 when not an object)."""
    try:
        value = jsoncodec.loads(body or b"null")
    except JsonNumberError as exc:
        msg = "request body is invalid"
        raise unprocessable(msg, [{"loc": exc.loc("body"), "msg": str(exc)}]) from exc
    except ValueError as exc:
        where = [{"loc": "body", "msg": str(exc)}]  # e.g. "Expecting value: line 1 column 1"
        raise ApiError(400, "request body is not valid JSON", errors=where) from exc
    if not isinstance(value, dict):
        msg = "request body must be a JSON object"
        raise unprocessable(msg)
    return value


def check_queue(request: web.Request, queue: str, loc: str = "queue") -> None:
    """422 unless ``queue`` is one of the configured queues."""
    configured = services(request).redis_settings.queues
    if queue not in configured:
        message = f"unknown queue {queue!r}; configured: {', '.join(configured)}"
        msg = "unknown queue"
        raise unprocessable(msg, [{"loc": loc, "msg": message}])
