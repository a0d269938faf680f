"""Client benchmark: direct and HTTP enqueue against same-run baselines; import cost.

Run with ``make bench``. Every figure is a ratio to a baseline measured in the same
run, in alternating rounds (the machine is shared: absolute rates swing with the
neighbours' load, the median of alternating rounds much less):

- direct ``Client.enqueue`` one at a time vs raw redis-py XADD one at a time, each
  task a fresh envelope (the direct path also writes the read-model record, the
  index entry and the trim in the same script: that is its guarantee);
- ``enqueue_many`` of 1,000 vs one raw pipeline of 1,000 XADDs;
- HTTP ``enqueue`` over one kept-alive connection vs a bare aiohttp client POST of
  the same body to the same ingest server;
- ``import conveyor`` plus creating a client, with ``python -X importtime``, in a
  clean venv holding the wheel and its base dependencies (against the 150 ms target).
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from redis import Redis

from conveyor import AsyncClient, Client
from conveyor.envelope import new_envelope
from conveyor.keys import Keys
from conveyor.localserver import free_port
from conveyor.settings import RedisSettings
from conveyor_ingest.tokens import mint_token
from integration.test_client_wheel import ROOT, _run, _uv
from results import record, table

ROUNDS = 7
SINGLES = 400
BATCH = 1000
BATCH_ROUNDS = 5
HTTP_REQUESTS = 300
SECRET = "bench-secret-of-sufficient-length-for-hs256"
IMPORT_TARGET_MS = 150.0


def _rate(action: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    action()
    return count / (time.perf_counter() - started)


def _alternating(
    ours: Callable[[], object], theirs: Callable[[], object], count: int, rounds: int
) -> tuple[float, float]:
    """Median rates (per second) of ``ours`` and ``theirs``, run in alternating rounds."""
    mine, base = [], []
    for _ in range(rounds):
        mine.append(_rate(ours, count))
        base.append(_rate(theirs, count))
    return statistics.median(mine), statistics.median(base)


@pytest.fixture
def settings(redis_url: str, keys: Keys) -> RedisSettings:
    """The bench's key namespace on the session's server."""
    return RedisSettings(redis_url=redis_url, key_prefix=keys.prefix)


def test_bench_client_direct_enqueue(settings: RedisSettings, keys: Keys) -> None:
    raw = Redis.from_url(settings.redis_url, socket_timeout=10)
    stream = keys.queue("default").tasks + "-raw"
    rows = []
    with Client(settings=settings) as client:
        client.enqueue("bench.noop", 0)  # loads the script

        def singles() -> None:
            for i in range(SINGLES):
                client.enqueue("bench.noop", {"n": i})

        def raw_singles() -> None:
            for i in range(SINGLES):
                raw.xadd(stream, new_envelope("bench.noop", {"n": i}, "default").to_fields())  # type: ignore[arg-type]

        mine, base = _alternating(singles, raw_singles, SINGLES, ROUNDS)
        rows.append(record("client direct enqueue (one at a time)", mine, "tasks/s",
                           "raw XADD one at a time", base))  # fmt: skip

        def many() -> None:
            client.enqueue_many("bench.noop", [{"n": i} for i in range(BATCH)])

        def raw_many() -> None:
            with raw.pipeline(transaction=False) as pipe:
                for i in range(BATCH):
                    pipe.xadd(stream, new_envelope("bench.noop", {"n": i}, "default").to_fields())  # type: ignore[arg-type]
                pipe.execute()

        mine, base = _alternating(many, raw_many, BATCH, BATCH_ROUNDS)
        rows.append(record("client direct enqueue_many (1,000)", mine, "tasks/s",
                           "raw pipelined XADD x1000", base))  # fmt: skip
    raw.close()
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
    assert all(row["ratio"] > 0 for row in rows)


@pytest.fixture
def ingest_url(redis_url: str, keys: Keys, tmp_path: Path) -> Iterator[str]:
    """An ingest process (auth on, limits out of the way)."""
    port = free_port()
    env = {
        **os.environ,
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_INGEST_PORT": str(port),
        "CONVEYOR_INGEST_JWT_SECRET": SECRET,
        "CONVEYOR_INGEST_RATE_LIMIT": "1000000000",
        "CONVEYOR_INGEST_RATE_BURST": "1000000000",
        "CONVEYOR_INGEST_MAX_BACKLOG": "1000000000",
        "CONVEYOR_LOG_LEVEL": "WARNING",
    }
    with (tmp_path / "ingest.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "conveyor_ingest"], env=env, stdout=log, stderr=log
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _wait_ready(url: str, within: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a child's start-up, not test synchronisation
    msg = "ingest did not become ready"
    raise AssertionError(msg)


async def _bare_posts(url: str, token: str, count: int) -> None:
    """The baseline: a bare aiohttp client POSTing the same body over one connection."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"type": "bench.noop", "payload": {"n": 1}, "queue": "default"}
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector) as session:
        for _ in range(count):
            async with session.post("/api/v1/tasks", json=body) as response:
                assert response.status == 202
                await response.read()


async def _client_posts(url: str, token: str, count: int) -> None:
    async with AsyncClient(url, token=token) as client:
        for _ in range(count):
            await client.enqueue("bench.noop", {"n": 1})


def test_bench_client_http_enqueue(ingest_url: str) -> None:
    token = mint_token(SECRET, "bench", ["tasks:write", "tasks:read"])
    rows = []
    with Client(ingest_url, token=token) as client:

        def blocking() -> None:
            for _ in range(HTTP_REQUESTS):
                client.enqueue("bench.noop", {"n": 1})

        def bare() -> None:
            asyncio.run(_bare_posts(ingest_url, token, HTTP_REQUESTS))

        def asynchronous() -> None:
            asyncio.run(_client_posts(ingest_url, token, HTTP_REQUESTS))

        blocking()  # warm: connection, token cache, script
        mine, base = _alternating(blocking, bare, HTTP_REQUESTS, ROUNDS)
        rows.append(record("client HTTP enqueue, blocking (1 conn)", mine, "req/s",
                           "bare aiohttp POST (1 conn)", base))  # fmt: skip
        mine, base = _alternating(asynchronous, bare, HTTP_REQUESTS, ROUNDS)
        rows.append(record("client HTTP enqueue, asyncio (1 conn)", mine, "req/s",
                           "bare aiohttp POST (1 conn)", base))  # fmt: skip
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
    assert all(row["ratio"] > 0 for row in rows)


IMPORT_SCRIPT = """
import sys, time
started = time.perf_counter()
import conveyor
client = conveyor.{kind}({url!r})
print((time.perf_counter() - started) * 1000, "opentelemetry.sdk" in sys.modules)
"""


@pytest.fixture(scope="module")
def producer_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A clean venv with the library's wheel and only its base dependencies, byte-compiled
    (as pip installs them): what a producer application imports."""
    uv = _uv()
    folder = tmp_path_factory.mktemp("producer")
    dist, venv = folder / "dist", folder / "venv"
    _run(uv, "build", "--wheel", "--no-build-isolation", "--python", sys.executable,
         "--out-dir", str(dist), str(ROOT / "libs" / "conveyor"))  # fmt: skip
    (wheel,) = dist.glob("conveyor_tasks-*.whl")
    _run(uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    lock = str(ROOT / "requirements.lock")  # constraints: base dependencies at their pins
    _run(uv, "pip", "install", "--quiet", "--offline", "--compile-bytecode", "--python", python,
         "-c", lock, str(wheel))  # fmt: skip
    return python


def _import_ms(python: str, kind: str, url: str) -> tuple[float, float, bool]:
    """(wall ms, -X importtime total ms of top-level imports, whether the SDK loaded)."""
    done = subprocess.run(  # noqa: S603 - a venv's interpreter and a fixed script
        [python, "-X", "importtime", "-c", IMPORT_SCRIPT.format(kind=kind, url=url)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    total_us = 0
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if match:
            total_us += int(match.group(1))  # top-level imports: their cumulative time
    wall, sdk = done.stdout.split()
    return float(wall), total_us / 1000, sdk == "True"


# What each transport cannot do without: its client library alone, same venv, same run.
FLOOR_SCRIPT = """
import sys, time
started = time.perf_counter()
import {module}
print((time.perf_counter() - started) * 1000, "opentelemetry.sdk" in sys.modules)
"""


def _floor_ms(python: str, module: str) -> float:
    done = subprocess.run(  # noqa: S603 - a venv's interpreter and a fixed script
        [python, "-c", FLOOR_SCRIPT.format(module=module)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return float(done.stdout.split()[0])


@pytest.mark.parametrize(
    ("kind", "url"),
    [("Client", "http://127.0.0.1:9"), ("Client", "redis://127.0.0.1:9/0"),
     ("AsyncClient", "redis://127.0.0.1:9/0")],
)  # fmt: skip
def test_bench_client_import_and_creation(producer_python: str, kind: str, url: str) -> None:
    transport = url.split(":")[0]
    floor_module = "httpx" if transport == "http" else "redis.asyncio"
    runs, floors = [], []
    for _ in range(5):  # alternated with the floor, so load changes hit both alike
        runs.append(_import_ms(producer_python, kind, url))
        floors.append(_floor_ms(producer_python, floor_module))
    wall = statistics.median(run[0] for run in runs)
    imports = statistics.median(run[1] for run in runs)
    rows = [
        record(f"import conveyor + {kind}({transport}) wall", wall, "ms",
               "target 150 ms", IMPORT_TARGET_MS),
        record(f"import conveyor + {kind}({transport}) -X importtime", imports, "ms",
               "target 150 ms", IMPORT_TARGET_MS),
        record(f"import conveyor + {kind}({transport}) vs its transport", wall, "ms",
               f"import {floor_module} alone", statistics.median(floors)),
    ]  # fmt: skip
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
    assert not any(run[2] for run in runs)  # the OTel SDK is not even installed here
