"""End to end: PUT of pending tasks over HTTP, with ingest, worker and scheduler as processes.

The worker runs one task at a time and is kept busy, so the changed tasks are
still waiting on the task stream (pending) when the PUTs arrive.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from conveyor.keys import Keys
from e2e.e2e_harness import api_session, final_state, post_task, running_services, until


@pytest.fixture
async def http(redis_url: str, keys: Keys, tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    """The three services, the worker one task at a time, and a client."""
    env = {
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_LOG_LEVEL": "WARNING",
        "CONVEYOR_WORKER_CONCURRENCY": "1",
    }
    with running_services(tmp_path, redis_url, env) as deployment:
        async with api_session(deployment) as session:
            yield session


async def put(http: aiohttp.ClientSession, task_id: str, body: dict[str, Any]) -> None:
    async with http.put(f"/api/v1/tasks/{task_id}", json=body) as response:
        assert response.status == 202, await response.text()


async def test_put_pending_tasks_run_changed_and_delayed(http: aiohttp.ClientSession) -> None:
    blocker = await post_task(http, {"type": "demo.sleep", "payload": {"seconds": 4}})

    async def running() -> bool:
        async with http.get(f"/api/v1/tasks/{blocker}") as response:
            return bool((await response.json())["data"]["status"] == "running")

    await until(running, 60, "the blocker running")
    changed = await post_task(http, {"type": "demo.echo", "payload": "old"})
    delayed = await post_task(http, {"type": "demo.echo", "payload": "old"})
    await put(http, changed, {"payload": "new"})
    put_at = time.time()
    await put(http, delayed, {"payload": "later", "delay": 2})
    done = await final_state(http, changed)
    assert (done["status"], done["result"], done["revision"]) == ("succeeded", "new", 1)
    assert done["change_rejected"] is False
    later = await final_state(http, delayed)
    assert (later["status"], later["result"], later["attempts"]) == ("succeeded", "later", 1)
    started = datetime.fromisoformat(later["started_at"]).timestamp()
    assert started >= put_at + 2 - 0.05  # clock rounding: ms in the API, the same host
    async with http.put(f"/api/v1/tasks/{changed}", json={"payload": 3}) as response:
        assert response.status == 409
