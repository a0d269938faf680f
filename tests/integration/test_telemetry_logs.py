"""The canonical log lines carry the ids of their span: ingest's request line, the worker's
attempt line.

Run in a child process: logging is configured once per process (structlog caches
loggers), and the child gets its own JSON logging and SDK provider.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from conveyor.keys import Keys

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CHILD = """
import asyncio, json, sys
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from conveyor.connection import create_client
from conveyor.keys import Keys
from conveyor.logging import configure_logging
from conveyor.settings import LogSettings, RedisSettings
from conveyor_ingest.app import create_app
from conveyor_ingest.settings import IngestSettings
from conveyor_worker.examples import registry
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.worker import Worker

url, prefix, traceparent = sys.argv[1:4]
configure_logging(LogSettings(level="INFO", format="json"))
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def main():
    settings = RedisSettings(redis_url=url, key_prefix=prefix, queues=("default",))
    app = create_app(IngestSettings(auth_enabled=False), settings, consume=False)
    async with TestClient(TestServer(app)) as client:
        body = {"type": "demo.echo", "payload": 1}
        headers = {"traceparent": traceparent}
        response = await client.post("/api/v1/tasks", json=body, headers=headers)
        assert response.status == 202
    redis = create_client(settings)
    worker = Worker(redis, WorkerSettings(block_ms=50), registry, Keys(prefix, ("default",)))
    await worker.run(burst=True)
    await redis.aclose()

asyncio.run(main())
for span in exporter.get_finished_spans():
    print(json.dumps({"name": span.name, "kind": span.kind.name,
                      "trace_id": format(span.context.trace_id, "032x"),
                      "span_id": format(span.context.span_id, "016x")}))
"""


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


async def test_request_and_attempt_lines_carry_their_span_ids(redis_url: str, keys: Keys) -> None:
    traceparent = f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, redis_url, keys.prefix, traceparent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == 0, stderr.decode()[-2000:]
    spans = {span["kind"]: span for span in json_lines(stdout.decode())}
    logs = {line["event"]: line for line in json_lines(stderr.decode()) if "event" in line}

    request = logs["request_handled"]
    assert request["trace_id"] == CLIENT_TRACE
    assert request["span_id"] == spans["SERVER"]["span_id"]
    attempt = logs["task_attempt_finished"]
    assert attempt["outcome"] == "succeeded"
    assert attempt["trace_id"] == CLIENT_TRACE
    assert attempt["span_id"] == spans["CONSUMER"]["span_id"]
    assert "payload" not in attempt
