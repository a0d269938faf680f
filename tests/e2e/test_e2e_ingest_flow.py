"""End to end: ingest, worker and scheduler as real processes; tasks go in over HTTP and
come out succeeded, read back through the API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from conveyor.keys import Keys
from conveyor.localserver import free_port
from conveyor_ingest.tokens import mint_token
from waiting import wait_for

SECRET = "e2e-secret-of-sufficient-length-for-hs256"
SERVICES = ("ingest", "worker", "scheduler")


@pytest.fixture
def base_url(redis_url: str, keys: Keys, tmp_path: Path) -> Iterator[str]:
    """The three services running against the test server under the test's key prefix."""
    port = free_port()
    env = {
        **os.environ,
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_INGEST_PORT": str(port),
        "CONVEYOR_INGEST_JWT_SECRET": SECRET,
        "CONVEYOR_WORKER_METRICS_PORT": "0",
        "CONVEYOR_SCHEDULER_METRICS_PORT": "0",
        "CONVEYOR_WORKER_BLOCK_MS": "100",
        "CONVEYOR_LOG_LEVEL": "WARNING",
    }
    processes = []
    logs = [(tmp_path / f"{name}.log").open("wb") for name in SERVICES]
    for name, log in zip(SERVICES, logs, strict=True):
        processes.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", f"conveyor_{name}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session with a token; returns once ingest is ready."""
    token = mint_token(SECRET, "e2e", ["tasks:write", "tasks:read"])
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url, headers=headers) as session:

        async def ready() -> bool:
            try:
                async with session.get("/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(ready, within=60, interval=0.1, what="ingest ready")  # type: ignore[arg-type]
        yield session


async def _finished(http: aiohttp.ClientSession, task_id: str) -> dict[str, Any]:
    async with http.get(f"/api/v1/tasks/{task_id}?wait=5") as response:
        body = await response.json()
    data: dict[str, Any] = body["data"] or {}
    return data if data.get("status") in ("succeeded", "dead", "cancelled") else {}


async def _until_finished(http: aiohttp.ClientSession, task_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        return await _finished(http, task_id)

    result: object = await wait_for(probe, within=60, what=f"task {task_id} finished")
    return cast(dict[str, Any], result)


async def test_posted_echo_task_succeeds_and_is_read_back(http: aiohttp.ClientSession) -> None:
    async with http.post(
        "/api/v1/tasks", json={"type": "demo.echo", "payload": {"hello": "world"}}
    ) as response:
        assert response.status == 202, await response.text()
        task_id = (await response.json())["data"]["id"]
    async with http.post(
        "/api/v1/tasks", json={"type": "demo.echo", "payload": "later", "delay": 1}
    ) as response:
        assert response.status == 202, await response.text()
        delayed_id = (await response.json())["data"]["id"]
    done = await _until_finished(http, task_id)
    assert done["status"] == "succeeded"
    assert done["result"] == {"hello": "world"}
    assert done["attempts"] == 1
    later = await _until_finished(http, delayed_id)
    assert later["status"] == "succeeded"
    assert later["result"] == "later"
