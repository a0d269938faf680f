"""The three services as real processes, and an API client for them.

Plain functions and context managers (not fixtures), shared by the e2e tests
and the Sentinel and Cluster tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from conveyor.localserver import free_port
from conveyor_ingest.tokens import mint_token
from waiting import wait_for

SERVICES = ("ingest", "worker", "scheduler")
SECRET = "e2e-secret-of-sufficient-length-for-hs256"
FINISHED = ("succeeded", "dead", "cancelled")


@dataclass
class Deployment:
    """The running services and where their logs are."""

    base_url: str
    logs: dict[str, Path]


def stop_services(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the service processes and reap them (SIGKILL after 30 s)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_services(
    folder: Path, urls: dict[str, str] | str, extra_env: dict[str, str] | None = None
) -> Iterator[Deployment]:
    """ingest, worker and scheduler as processes; ``urls``: one Redis URL, or one per service.

    The default key prefix is ``conveyor`` (what the ACL patterns name); pass
    ``CONVEYOR_KEY_PREFIX`` in ``extra_env`` to use a test's own namespace.
    """
    port = free_port()
    logs = {name: folder / f"{name}.log" for name in SERVICES}
    common = {
        **os.environ,
        "CONVEYOR_KEY_PREFIX": "conveyor",
        "CONVEYOR_INGEST_PORT": str(port),
        "CONVEYOR_INGEST_JWT_SECRET": SECRET,
        "CONVEYOR_WORKER_METRICS_PORT": "0",
        "CONVEYOR_SCHEDULER_METRICS_PORT": "0",
        "CONVEYOR_WORKER_BLOCK_MS": "100",
        "CONVEYOR_LOG_LEVEL": "INFO",
        "CONVEYOR_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    per_service = urls if isinstance(urls, dict) else dict.fromkeys(SERVICES, urls)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name in SERVICES:
            with logs[name].open("wb") as log:
                processes.append(
                    subprocess.Popen(  # noqa: S603 - our own interpreter and module
                        [sys.executable, "-m", f"conveyor_{name}"],
                        env={**common, "CONVEYOR_REDIS_URL": per_service[name]},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=folder,
                    )
                )
        yield Deployment(f"http://127.0.0.1:{port}", logs)
    finally:
        stop_services(processes)


async def until(probe: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    """tests/waiting.wait_for with a 0.1 s interval and an async probe."""
    return await wait_for(probe, within=within, interval=0.1, what=what)


@asynccontextmanager
async def api_session(deployment: Deployment) -> AsyncIterator[aiohttp.ClientSession]:
    """A session with a write/read token, entered once ingest is ready."""
    token = mint_token(SECRET, "e2e", ["tasks:write", "tasks:read"])
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(deployment.base_url, headers=headers) as session:

        async def ready() -> bool:
            try:
                async with session.get("/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await until(ready, 60, "ingest ready")
        yield session


async def post_task(http: aiohttp.ClientSession, body: dict[str, Any]) -> str:
    """POST one task, assert 202, return its id."""
    async with http.post("/api/v1/tasks", json=body) as response:
        assert response.status == 202, await response.text()
        task_id: str = (await response.json())["data"]["id"]
    return task_id


async def post_until_accepted(
    http: aiohttp.ClientSession, body: dict[str, Any], within: float = 60
) -> str:
    """POST until ingest answers 202 (it answers 503 while Redis has no primary); the id."""
    accepted: list[str] = []

    async def post() -> bool:
        async with http.post("/api/v1/tasks", json=body) as response:
            if response.status == 202:
                accepted.append((await response.json())["data"]["id"])
            return response.status == 202

    await until(post, within, "ingest accepts tasks again")
    return accepted[0]


async def run_across_failover(
    http: aiohttp.ClientSession, fail: Callable[[], Awaitable[None]]
) -> None:
    """A task runs, ``fail`` kills the primary, then a task and a retried task run again.

    The same service processes must carry on: ingest answers 503 until there is a new
    primary, and the worker and the scheduler (which files the retry) reconnect.
    """
    before = await post_task(http, {"type": "demo.echo", "payload": "before"})
    assert (await final_state(http, before))["status"] == "succeeded"
    await fail()
    after = await post_until_accepted(http, {"type": "demo.echo", "payload": "after"})
    flaky = await post_task(http, {"type": "demo.fail", "payload": {"times": 1}})
    assert (await final_state(http, after))["status"] == "succeeded"
    retried = await final_state(http, flaky)  # the scheduler's timer, on the new primary
    assert (retried["status"], retried["attempts"]) == ("succeeded", 2)


async def final_state(http: aiohttp.ClientSession, task_id: str) -> dict[str, Any]:
    """The task's read-model view once it has finished (succeeded, dead or cancelled)."""

    async def probe() -> dict[str, Any]:
        async with http.get(f"/api/v1/tasks/{task_id}?wait=5") as response:
            data: dict[str, Any] = (await response.json())["data"] or {}
        return data if data.get("status") in FINISHED else {}

    result: dict[str, Any] = await until(probe, 90, f"task {task_id} finished")
    return result
