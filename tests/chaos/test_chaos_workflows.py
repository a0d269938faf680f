"""Chaos: 2,000 three-step chains and 50 chords of 100 members, drained while one of two
worker processes is killed with SIGKILL and restarted, again and again: every step ran
its effect once and was enqueued once, every callback ran once (docs/workflows.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from chaos.chaos_support import record
from chaos.workflow_harness import run_workflows, worker_env
from conveyor.keys import Keys


async def test_kill_9_during_chains_and_chords_loses_and_repeats_no_step(
    redis: Redis, redis_url: str, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker_env(monkeypatch, step_seconds=0.03)  # the run lasts long enough for every kill
    run = await run_workflows(
        redis, redis_url, keys, tmp_path,
        chains=2_000, chord_count=50, members=100, kills=6, within=600,
    )  # fmt: skip
    record(
        "workflows_kill_9",
        {
            "chains": len(run.chains), "chords": len(run.chords), "members": 100,
            "tasks": len(run.step_ids()) + len(run.callback_ids()), "kills": run.kills,
            "orphaned_entries": run.orphaned, "seconds": round(run.seconds, 1),
        },
    )  # fmt: skip
    assert run.kills == 6, "the workflows finished before every kill"
    assert run.orphaned > 0, "no kill hit a task in flight: the test proved nothing"
