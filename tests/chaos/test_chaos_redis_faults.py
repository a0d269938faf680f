"""Chaos: Redis paused, killed, restarted empty, its clock jumped; ingest killed mid-batch.

Each scenario runs ingest, worker and scheduler as processes against a Redis of
its own under HTTP load from clients that retry each Idempotency-Key until it is
accepted, then checks every accepted task's effect happened exactly once (the
``demo.ledger`` balances) and records its figures (chaos_support.record) for
docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from chaos.chaos_support import PREFIX, Load, Stack, record, session, settled, status_of
from conveyor.keys import Keys
from conveyor.localserver import LocalServer
from conveyor.streams import entry_time_ms
from waiting import wait_for

PAUSE_S = 8.0
REQUEST_TIMEOUT_S = 5.0  # CONVEYOR_INGEST_REQUEST_TIMEOUT's default
VISIBILITY_S = 30.0  # CONVEYOR_WORKER_VISIBILITY_TIMEOUT's default


async def _ready(stack: Stack) -> None:
    async with session(stack) as http:

        async def ready() -> bool:
            return await status_of(http, "/readyz") == 200

        await wait_for(ready, within=60, interval=0.2, what="ingest ready")


async def _accepted_at_least(load: Load, count: int, within: float = 60) -> None:
    await wait_for(lambda: len(load.accepted) >= count, within=within, interval=0.05)


@pytest.mark.timeout(300)
async def test_redis_paused_answers_within_the_deadline_and_loses_nothing(tmp_path: Path) -> None:
    """SIGSTOP of Redis for 8 s under load: answers within the deadline, drain without waiting
    for the visibility timeout, no accepted task lost or repeated."""
    server = LocalServer(tmp_path / "redis", kind="redis").start()
    stack = Stack(server.url, tmp_path)
    redis = Redis.from_url(server.url)
    try:
        stack.start()
        await _ready(stack)
        async with session(stack) as http:
            load = Load(http)
            load.start()
            await _accepted_at_least(load, 100)
            paused = time.monotonic()
            with server.paused():
                await asyncio.sleep(1.0)  # requests pile up behind the stuck connections
                started = time.monotonic()
                ready_status = await status_of(http, "/readyz")
                ready_s = time.monotonic() - started
                await asyncio.sleep(PAUSE_S - 1.0 - ready_s)  # the fault lasts PAUSE_S
            resumed = time.monotonic()
            await _accepted_at_least(load, len(load.accepted) + 50)
            await load.finish()
            result = await settled(redis, load, within=VISIBILITY_S)
            drained_s = time.monotonic() - resumed
        slowest = load.slowest_answer(paused, resumed)
        record(
            "redis-sigstop",
            {
                "pause_s": PAUSE_S,
                "accepted": result.accepted,
                "lost": result.lost,
                "duplicated": result.duplicated,
                "balances_exact": result.balances_exact,
                "slowest_answer_s": round(slowest, 2),
                "readyz_status": ready_status,
                "readyz_s": round(ready_s, 2),
                "first_accept_after_resume_s": _round(load.first_accepted_after(resumed)),
                "drained_after_resume_s": round(drained_s, 1),
            },
        )
        assert (result.lost, result.duplicated, result.balances_exact) == (0, 0, True)
        assert slowest < REQUEST_TIMEOUT_S + 1.5
        assert (ready_status, ready_s < 2.0) == (503, True)
        assert drained_s < VISIBILITY_S  # lost read replies came back without the timeout
    finally:
        stack.stop()
        await redis.aclose()
        server.stop()


@pytest.mark.timeout(300)
async def test_redis_kill_9_with_appendfsync_always_loses_nothing_accepted(tmp_path: Path) -> None:
    """kill -9 of Redis (AOF, appendfsync always) twice under load, restarted on its files."""
    server = LocalServer(tmp_path / "redis", kind="redis", extra_args=["--appendfsync", "always"])
    server.start()
    stack = Stack(server.url, tmp_path)
    redis = Redis.from_url(server.url)
    recoveries: list[float] = []
    try:
        stack.start()
        await _ready(stack)
        async with session(stack) as http:
            load = Load(http)
            load.start()
            for _ in range(2):
                await _accepted_at_least(load, len(load.accepted) + 100)
                killed = time.monotonic()
                server.kill()
                await asyncio.sleep(1.0)  # Redis stays down a while: clients get 503 and retry
                await asyncio.to_thread(server.start)  # the same port and data directory
                await _accepted_at_least(load, len(load.accepted) + 20)
                recoveries.append(load.first_accepted_after(killed) or 0.0)
            await load.finish()
            await redis.connection_pool.disconnect()
            result = await settled(redis, load, within=120)
        record(
            "redis-kill-9-appendfsync-always",
            {
                "kills": 2,
                "accepted": result.accepted,
                "lost": result.lost,
                "duplicated": result.duplicated,
                "balances_exact": result.balances_exact,
                "down_s": 1.0,
                "first_accept_after_kill_s": [round(s, 2) for s in recoveries],
            },
        )
        assert (result.lost, result.duplicated, result.balances_exact) == (0, 0, True)
    finally:
        stack.stop()
        await redis.aclose()
        server.stop()


@pytest.mark.timeout(300)
async def test_ingest_kill_9_mid_batch_writes_each_batch_once(tmp_path: Path) -> None:
    """kill -9 of ingest three times while clients POST 50-task batches (retried by key)."""
    server = LocalServer(tmp_path / "redis", kind="redis").start()
    stack = Stack(server.url, tmp_path)
    redis = Redis.from_url(server.url)
    try:
        stack.start()
        await _ready(stack)
        async with session(stack) as http:
            load = Load(http, clients=4, batch=50)
            load.start()
            recoveries: list[float] = []
            for _ in range(3):
                await _accepted_at_least(load, len(load.accepted) + 10)
                killed = time.monotonic()
                await asyncio.to_thread(stack.kill, "ingest")
                stack.start("ingest")
                await _ready(stack)
                await _accepted_at_least(load, len(load.accepted) + 1)
                recoveries.append(load.first_accepted_after(killed) or 0.0)
            await load.finish()
            result = await settled(redis, load, within=120)
        record(
            "ingest-kill-9-mid-batch",
            {
                "kills": 3,
                "batches": len(load.accepted),
                "first_accept_after_kill_s": [round(s, 2) for s in recoveries],
                "accepted": result.accepted,
                "lost": result.lost,
                "duplicated": result.duplicated,
                "balances_exact": result.balances_exact,
            },
        )
        assert (result.lost, result.duplicated, result.balances_exact) == (0, 0, True)
    finally:
        stack.stop()
        await redis.aclose()
        server.stop()


def _restart_empty(server: LocalServer) -> None:
    server.stop()
    for path in server.data_dir.iterdir():
        if path.name != "server.log":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    server.start()


def _acknowledge(redis_url: str) -> str:
    """Run the documented operator command; its answer."""
    env = {**os.environ, "CONVEYOR_REDIS_URL": redis_url, "CONVEYOR_KEY_PREFIX": PREFIX}
    done = subprocess.run(
        [sys.executable, "-m", "conveyor.dataset", "acknowledge"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


@pytest.mark.timeout(300)
async def test_redis_restarted_empty_stops_until_acknowledged(tmp_path: Path) -> None:
    """Redis restarted without its data: no key is reused, nothing runs, until acknowledged."""
    server = LocalServer(tmp_path / "redis", kind="redis").start()
    stack = Stack(server.url, tmp_path)
    redis = Redis.from_url(server.url)
    try:
        stack.start()
        await _ready(stack)
        async with session(stack) as http:
            before = Load(http)
            before.start()
            await _accepted_at_least(before, 100)
            await before.finish()
            first = await settled(redis, before, within=60)
            await asyncio.to_thread(_restart_empty, server)
            restarted = time.monotonic()
            await redis.connection_pool.disconnect()
            resent = Load(http, clients=1)
            resent.amounts = dict(list(before.amounts.items())[:20])

            async def refused() -> bool:
                return await status_of(http, "/readyz") == 503 and await _dataset_stopped(http)

            await wait_for(refused, within=60, interval=0.2, what="the reset detected")
            detected_s = time.monotonic() - restarted
            for key in resent.amounts:  # the lost dataset's keys: no new tasks for them
                assert not await resent._send(key)
            answer = _acknowledge(server.url)
            acknowledged = time.monotonic()
            after = Load(http)
            after.start()
            await _accepted_at_least(after, 100)
            await after.finish()
            second = await settled(redis, after, within=60)
        record(
            "redis-restarted-empty",
            {
                "accepted_before": first.accepted,
                "lost_with_the_dataset": first.accepted,
                "resent_keys_accepted_while_stopped": len(resent.accepted),
                "detected_s": round(detected_s, 2),
                "first_accept_after_acknowledge_s": _round(
                    after.first_accepted_after(acknowledged)
                ),
                "accepted_after": second.accepted,
                "lost_after": second.lost,
                "duplicated_after": second.duplicated,
            },
        )
        assert "acknowledged" in answer
        assert resent.accepted == {}
        assert (second.lost, second.duplicated, second.balances_exact) == (0, 0, True)
    finally:
        stack.stop()
        await redis.aclose()
        server.stop()


async def _dataset_stopped(http: aiohttp.ClientSession) -> bool:
    try:
        async with http.get("/api/v1/queues") as response:
            body = await response.json(content_type=None)
    except aiohttp.ClientError:
        return False
    return bool(((body or {}).get("data") or {}).get("dataset", {}).get("stopped"))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _libfaketime() -> str | None:
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    return str(found[0]) if found else None


SCHEDULES = """
schedules:
  - {id: every-second, cron: "* * * * * *", misfire: fire_once, task: {type: demo.echo}}
"""
JUMPS = 5
MISFIRE_MS = 5_000  # CONVEYOR_SCHEDULER_MISFIRE_THRESHOLD_MS's default


@pytest.mark.timeout(300)
@pytest.mark.skipif(
    _libfaketime() is None, reason="libfaketime is missing (Debian: faketime; `make chaos`)"
)
async def test_a_redis_clock_jump_fires_each_missed_hour_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis's wall clock jumps +1 h five times (libfaketime): one fire_once fire per jump,
    never a prepared fire an hour late on top of it, no instant twice."""
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    with monkeypatch.context() as env:  # only the Redis process runs under libfaketime
        env.setenv("LD_PRELOAD", str(_libfaketime()))
        env.setenv("FAKETIME_TIMESTAMP_FILE", str(offset))
        env.setenv("FAKETIME_NO_CACHE", "1")
        env.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        # Valkey: redis-server's jemalloc recurses into libfaketime at start-up and hangs.
        server = LocalServer(tmp_path / "redis", kind="valkey").start()
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    schedules_file = {"CONVEYOR_SCHEDULER_SCHEDULES_FILE": str(tmp_path / "schedules.yaml")}
    stack = Stack(server.url, tmp_path, env=schedules_file)
    redis = Redis.from_url(server.url)
    try:
        stack.start("scheduler")
        await wait_for(lambda: _fired(redis), within=60, interval=0.2, what="first fires")
        for jump in range(1, JUMPS + 1):
            before = len(await _fired(redis))
            offset.write_text(f"+{jump * 3600}\n")
            await wait_for(partial(_more_than, redis, before + 3), within=60, interval=0.2)
    finally:
        stack.stop()
    fired = await _fired(redis)
    await redis.aclose()
    server.stop()
    instants = [instant for instant, _ in fired]
    late = [instant for instant, at in fired if at - instant > MISFIRE_MS]
    record(
        "redis-clock-jump",
        {
            "jumps": JUMPS,
            "fires": len(fired),
            "late_fires": len(late),
            "twice": len(instants) - len(set(instants)),
        },
    )
    assert len(instants) == len(set(instants)), "an instant fired twice"
    assert len(late) == JUMPS, f"one fire_once fire per jump, late fires: {late}"


async def _fired(redis: Redis) -> list[tuple[int, int]]:
    """(instant, time of its task entry) of every fire, by Redis's (faked) clock."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(
        Keys(PREFIX).queue("default").tasks
    )  # type: ignore[assignment] # redis-py's annotation allows None; XRANGE answers a list
    return [
        (int(fields[b"idempotency_key"].decode().rsplit(":", 1)[1]), entry_time_ms(entry_id))
        for entry_id, fields in entries
    ]


async def _more_than(redis: Redis, count: int) -> bool:
    return len(await _fired(redis)) > count
