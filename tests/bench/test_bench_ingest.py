"""Ingest benchmark: single POST vs a bare aiohttp 202 handler, batch vs raw pipelined XADD.

Run with ``make bench``. Load comes from ``wrk`` (a separate process; install it
with ``apt-get install -y wrk``). Auth is on: every request carries one token,
verified once and then cached until its exp. Figures go to
``tests/bench/results/latest.json`` through ``results.record``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from conveyor.envelope import new_envelope
from conveyor.keys import Keys
from conveyor.localserver import free_port
from conveyor_ingest.tokens import mint_token
from results import record, table

SECRET = "bench-secret-of-sufficient-length-for-hs256"
DURATION_S = 10
CONNECTIONS = 64
BATCH_SIZE = 1000
RAW_EVENTS = 200_000

BARE_SERVER = """
import sys
from aiohttp import web
async def handler(request):
    await request.read()
    return web.json_response({"code": 202, "message": "accepted",
        "data": {"id": "0190aaaa-0000-7000-8000-000000000000", "queue": "default",
                 "status": "pending"}}, status=202)
app = web.Application()
app.router.add_post("/api/v1/tasks", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


def _wait_port(port: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
        except OSError:
            time.sleep(0.05)  # polling a child's start-up, not test synchronisation
        else:
            return
    msg = f"nothing listens on {port}"
    raise AssertionError(msg)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def ingest(redis_url: str, keys: Keys, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """An ingest process (auth on, limits out of the way): (port, pid)."""
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
        "CONVEYOR_LOG_FORMAT": "json",
    }
    with (tmp_path / "ingest.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "conveyor_ingest"], env=env, stdout=log, stderr=log
        )
        try:
            _wait_port(port)
            yield port, process.pid
        finally:
            _stop(process)


@pytest.fixture
def bare() -> Iterator[int]:
    """The baseline: an aiohttp app whose handler only answers 202."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", BARE_SERVER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        yield port
    finally:
        _stop(process)


def _wrk(port: int, path: str, body: str, tmp_path: Path, connections: int) -> dict[str, float]:
    token = mint_token(SECRET, "bench", ["tasks:write"])
    script = tmp_path / f"post-{port}.lua"
    script.write_text(WRK_SCRIPT.format(body=json.dumps(body), token=token))
    wrk = shutil.which("wrk") or "wrk"
    result = subprocess.run(  # noqa: S603 - fixed argv
        [wrk, "-t1", f"-c{connections}", f"-d{DURATION_S}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, check=True, timeout=DURATION_S * 3 + 30,
    )  # fmt: skip
    return _parse_wrk(result.stdout.decode())


def _parse_wrk(text: str) -> dict[str, float]:
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}  # type: ignore[union-attr]
    figures["requests"] = float(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    for name, pattern in (("p50_ms", r"\s50%\s+([\d.]+)(us|ms|s)"),
                          ("p99_ms", r"\s99%\s+([\d.]+)(us|ms|s)")):  # fmt: skip
        match = re.search(pattern, text)
        assert match is not None, text
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        figures[name] = float(match.group(1)) * scale
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    figures["errors"] = float(non2xx.group(1)) if non2xx else 0.0
    return figures


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _redis_cpu_s(client: Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _costed_wrk(
    pid: int, redis_url: str, args: tuple[int, str, str, Path, int]
) -> tuple[dict[str, float], float, float]:
    """wrk figures plus the ingest process's and Redis's CPU microseconds per request.

    On a shared machine throughput swings with the neighbours' load; CPU per request
    is the steadier measure of what ingest (and its scripts) cost.
    """
    client = Redis.from_url(redis_url)
    try:
        cpu, redis_cpu = _cpu_s(pid), _redis_cpu_s(client)
        figures = _wrk(*args)
        requests = max(figures["requests"], 1.0)
        ingest_us = (_cpu_s(pid) - cpu) / requests * 1e6
        redis_us = (_redis_cpu_s(client) - redis_cpu) / requests * 1e6
    finally:
        client.close()
    return figures, ingest_us, redis_us


def _raw_xadd_rate(redis_url: str, keys: Keys) -> float:
    """Events/s of a plain redis-py loop XADDing pipelines of BATCH_SIZE entries."""
    client = Redis.from_url(redis_url)
    stream = keys.queue("default").tasks + "-raw"
    fields = new_envelope("bench.noop", {"n": 1}, "default").to_fields()
    started = time.perf_counter()
    try:
        for _ in range(RAW_EVENTS // BATCH_SIZE):
            with client.pipeline(transaction=False) as pipe:
                for _ in range(BATCH_SIZE):
                    pipe.xadd(stream, fields)  # type: ignore[arg-type]
                pipe.execute()
        return RAW_EVENTS / (time.perf_counter() - started)
    finally:
        client.delete(stream)
        client.close()


def _print_targets(targets: dict[str, bool]) -> None:
    """Print issue 4's targets, met or not.

    Only RSS is asserted: throughput on this shared 2-core machine swings with the
    neighbours' load, so a missed throughput target is reported (its figures are
    recorded above), not failed.
    """
    for name, met in targets.items():
        print(f"target {name}: {'met' if met else 'NOT met'}")  # noqa: T201 - the report


def test_bench_ingest_single_post_and_batch(
    ingest: tuple[int, int],
    bare: int,
    redis_url: str,
    keys: Keys,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    server = request.node.callspec.params.get("redis_url", "server")
    port, pid = ingest
    single = json.dumps({"type": "bench.noop", "payload": {"n": 1}})
    baseline = _wrk(bare, "/api/v1/tasks", single, tmp_path, CONNECTIONS)
    measured, single_cpu, single_redis = _costed_wrk(
        pid, redis_url, (port, "/api/v1/tasks", single, tmp_path, CONNECTIONS)
    )
    batch = json.dumps({"tasks": [{"type": "bench.noop", "payload": {"n": n}}
                                  for n in range(BATCH_SIZE)]})  # fmt: skip
    batches, batch_cpu, batch_redis = _costed_wrk(
        pid, redis_url, (port, "/api/v1/tasks/batch", batch, tmp_path, 4)
    )
    raw_rate = _raw_xadd_rate(redis_url, keys)
    rss = _peak_rss_mb(pid)
    rows = [
        record(f"ingest.{server}: single POST", measured["rps"], "req/s", "bare aiohttp 202",
               baseline["rps"]),
        record(f"ingest.{server}: single POST p50", measured["p50_ms"], "ms"),
        record(f"ingest.{server}: single POST p99", measured["p99_ms"], "ms"),
        record(f"ingest.{server}: bare aiohttp 202 p50", baseline["p50_ms"], "ms"),
        record(f"ingest.{server}: single POST CPU", single_cpu, "us/request"),
        record(f"ingest.{server}: single POST Redis CPU", single_redis, "us/request"),
        record(f"ingest.{server}: batch (1000/request)", batches["rps"] * BATCH_SIZE, "events/s",
               "raw pipelined XADD", raw_rate),
        record(f"ingest.{server}: batch p99", batches["p99_ms"], "ms"),
        record(f"ingest.{server}: batch CPU", batch_cpu / BATCH_SIZE, "us/task"),
        record(f"ingest.{server}: batch Redis CPU", batch_redis / BATCH_SIZE, "us/task"),
        record(f"ingest.{server}: peak RSS", rss, "MB"),
    ]  # fmt: skip
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
    batch_rate = batches["rps"] * BATCH_SIZE
    _print_targets(
        {
            "single POST >= 0.5 of bare aiohttp": measured["rps"] >= 0.5 * baseline["rps"],
            "batch >= 50,000 events/s": batch_rate >= 50_000,
            "batch >= 0.5 of raw pipelined XADD": batch_rate >= 0.5 * raw_rate,
            "peak RSS < 200 MB (asserted)": rss < 200,
        }
    )
    assert measured["errors"] == 0
    assert batches["errors"] == 0
    assert rss < 200
