"""``conveyor queues``, ``queue pause|resume``, ``workers`` against the real operator
routes, and ``conveyor token``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jwt
from redis.asyncio import Redis

from conveyor import AsyncClient
from conveyor.handlers import Registry
from conveyor.keys import Keys
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.worker import Worker
from integration.cli.conftest import Run
from waiting import wait_for

QUEUE_FIELDS = {
    "queue",
    "depth",
    "pending",
    "lag",
    "consumers",
    "dead_letters",
    "oldest_pending_age_s",
    "paused",
}


async def test_queues_show_figures_per_queue_and_partition(conveyor: Run) -> None:
    await conveyor("tasks", "enqueue", "cli.echo", "--queue", "other")
    figures = json.loads((await conveyor("queues", "--json")).stdout)["items"]
    by_name = {item["queue"]: item for item in figures}
    assert set(by_name) == {"default", "other"}
    assert set(by_name["default"]) >= QUEUE_FIELDS
    assert by_name["other"]["depth"] == 1
    assert [p["partition"] for p in by_name["other"]["partitions"]] == [0, 1, 2, 3]
    table = await conveyor("queues")
    assert table.exit_code == 0
    assert "oldest pending" in table.stdout
    assert table.stdout.count("│ other ") == 5  # the queue and its four partitions


async def test_pause_and_resume_a_queue(conveyor: Run) -> None:
    paused = await conveyor("queue", "pause", "default")
    assert (paused.exit_code, paused.stdout.strip()) == (0, "queue default: paused")
    again = json.loads((await conveyor("queue", "pause", "default", "--json")).stdout)
    assert (again["paused"], again["changed"]) == (True, False)
    figures = json.loads((await conveyor("queues", "--json")).stdout)["items"]
    assert {q["queue"]: q["paused"] for q in figures} == {"default": True, "other": False}
    resumed = await conveyor("queue", "resume", "default")
    assert resumed.stdout.strip() == "queue default: resumed"
    unknown = await conveyor("queue", "pause", "nosuch")
    assert (unknown.exit_code, "(HTTP 422)" in unknown.stderr) == (1, True)


async def test_workers_lists_a_live_worker(
    conveyor: Run, redis: Redis, all_keys: Keys, ingest_url: str, token: str
) -> None:
    stop = asyncio.Event()
    worker = Worker(redis, WorkerSettings(block_ms=50), Registry(), all_keys)
    running = asyncio.create_task(worker.run(stop))
    try:
        async with AsyncClient(ingest_url, token=token) as client:
            await wait_for(client.workers.list, within=20)
        listed = json.loads((await conveyor("workers", "--json")).stdout)["items"]
        (item,) = listed
        assert {"consumer", "host", "pid", "queues", "in_flight", "last_heartbeat"} <= set(item)
        assert "default" in item["queues"]
        table = await conveyor("workers")
        assert "workers (1)" in table.stdout
        assert item["consumer"] in table.stdout
    finally:
        stop.set()
        await running


async def test_token_is_signed_with_the_configured_secret(conveyor: Run) -> None:
    secret = "a-cli-test-secret-of-sufficient-length"
    minted = await conveyor(
        "token", "--sub", "ops", "--scope", "admin", CONVEYOR_INGEST_JWT_SECRET=secret
    )
    assert minted.exit_code == 0, minted.output
    claims = jwt.decode(minted.stdout.strip(), secret, algorithms=["HS256"], audience="conveyor")
    assert (claims["sub"], claims["scope"]) == ("ops", "admin")
    assert "signed with CONVEYOR_INGEST_JWT_SECRET" in minted.stderr
    blank = await conveyor("token", "--sub", " ")
    assert blank.exit_code == 2


async def test_token_without_a_key_file_stops_with_exit_2(conveyor: Run, tmp_path: Path) -> None:
    result = await conveyor("token", "--sub", "ops")  # runs in tmp_path: no key above it
    assert result.exit_code == 2
    assert result.stderr.startswith("conveyor: no key file")
    assert result.stderr.count("\n") == 1
