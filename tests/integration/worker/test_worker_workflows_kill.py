"""Bounded kill -9 run of workflows (the full one is in tests/chaos): 50 chains and a
chord of 20 while a worker process is killed once: no step lost or repeated."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from chaos.workflow_harness import run_workflows, worker_env
from conveyor.keys import Keys


async def test_worker_killed_mid_workflows_loses_and_repeats_no_step(
    redis: Redis, redis_url: str, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker_env(monkeypatch)
    run = await run_workflows(
        redis, redis_url, keys, tmp_path, chains=50, chord_count=1, members=20, kills=1, within=60
    )
    assert run.kills == 1
