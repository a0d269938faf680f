"""Every metric an alert rule or dashboard panel names is on a running service's /metrics.

The three services run as processes; tasks go through (one succeeds, one is
retried once after a delay, one request is rejected) so that lazily created
series exist, then ingest, worker and scheduler are scraped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conveyor.keys import Keys
from conveyor.localserver import free_port
from conveyor_ingest.tokens import mint_token
from e2e.e2e_harness import SECRET, SERVICES, running_services
from unit.test_telemetry_deploy import deployed_expressions, exposed_names, expression_metric_names
from waiting import wait_for


@pytest.fixture
def ports(redis_url: str, keys: Keys, tmp_path: Path) -> Iterator[dict[str, int]]:
    """The services as processes; their metrics ports by service name."""
    ports = {"worker": free_port(), "scheduler": free_port()}
    env = {
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_WORKER_METRICS_PORT": str(ports["worker"]),
        "CONVEYOR_SCHEDULER_METRICS_PORT": str(ports["scheduler"]),
        "CONVEYOR_QUEUE_STATS_INTERVAL": "0.5",
        "CONVEYOR_LOG_LEVEL": "WARNING",
    }
    with running_services(tmp_path, redis_url, env) as deployment:
        yield {**ports, "ingest": int(deployment.base_url.rsplit(":", 1)[1])}


def value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` with exactly ``labels`` in a text exposition."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def scrape(session: aiohttp.ClientSession, port: int) -> str:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        return await response.text()


async def test_alerts_and_panels_name_only_scraped_metrics(ports: dict[str, int]) -> None:
    token = mint_token(SECRET, "e2e", ["tasks:write", "tasks:read"])
    api = f"http://127.0.0.1:{ports['ingest']}"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def up() -> bool:
            try:
                for port in ports.values():
                    await scrape(http, port)
            except (aiohttp.ClientError, AssertionError):
                return False
            return True

        await wait_for(up, within=60, interval=0.2, what="services serving /metrics")
        tasks = [
            {"type": "demo.echo", "payload": 1},
            {"type": "demo.fail", "payload": {"times": 1}, "delay": 0.2},
        ]
        for body in tasks:
            async with http.post(f"{api}/api/v1/tasks", json=body) as response:
                assert response.status == 202, await response.text()
        async with http.post(f"{api}/api/v1/tasks", json={"type": "bad type!"}) as response:
            assert response.status == 422

        async def settled() -> bool:
            worker = await scrape(http, ports["worker"])
            ingest = await scrape(http, ports["ingest"])
            outcomes = "conveyor_worker_outcomes_total"
            return (
                value(worker, outcomes, queue="default", outcome="succeeded") == 2
                and value(worker, outcomes, queue="default", outcome="retrying") == 1
                and value(ingest, "conveyor_queue_group_lag", queue="default") is not None
            )

        await wait_for(settled, within=60, interval=0.2, what="both tasks succeeded")
        scraped = {name: await scrape(http, port) for name, port in ports.items()}

    exposed = {"up"}.union(*(exposed_names(text) for text in scraped.values()))
    unknown = {
        where: sorted(expression_metric_names(expr) - exposed)
        for where, expr in deployed_expressions().items()
        if expression_metric_names(expr) - exposed
    }
    assert unknown == {}
    # Series created by the traffic above, not only declared.
    ingest, worker, scheduler = (scraped[name] for name in SERVICES)
    handled = value(
        worker, "conveyor_worker_handler_seconds_count", queue="default", type="demo.fail"
    )
    assert handled == 2
    assert value(ingest, "conveyor_ingest_task_requests_rejected_total", reason="validation") == 1
    assert value(scheduler, "conveyor_scheduler_timers_promoted_total") == 2
