"""Worker and scheduler on a 3-master Redis Cluster, queues on different masters.

The fixture starts three cluster-enabled servers, splits the 16384 slots with
CLUSTER ADDSLOTSRANGE and joins them with CLUSTER MEET. The services' code runs
unchanged: every script and transaction touches one queue's hash tag (one slot).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from redis.asyncio import Redis

from conveyor.client._plans import Plan
from conveyor.client._redis import AsyncRunner
from conveyor.connection import check_server, create_client, is_cluster
from conveyor.envelope import new_envelope
from conveyor.errors import ConfigurationError
from conveyor.events import TaskEventType
from conveyor.keys import Keys, fire_scope
from conveyor.localserver import LocalCluster, ServerKind
from conveyor.producing import flows
from conveyor.producing.writes import ScriptCall, TaskWrites
from conveyor.schedules import ScheduleDefinition
from conveyor.settings import RedisSettings, load_settings
from conveyor.workflows import Step, chain, chord, group, plan
from conveyor_ingest.app import create_app
from conveyor_ingest.settings import IngestSettings
from conveyor_ingest.tokens import mint_token
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings
from conveyor_scheduler.testing import tasks
from conveyor_worker.examples import registry as examples
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker
from e2e.e2e_harness import api_session, final_state, post_task, running_services
from integration.worker.test_worker_workflows import flow_registry
from waiting import wait_for


def server_kinds() -> list[str]:
    """redis and valkey, narrowed by CONVEYOR_TEST_SERVERS like the session fixture."""
    wanted = os.environ.get("CONVEYOR_TEST_SERVERS", "redis,valkey").split(",")
    return [kind for kind in ("redis", "valkey") if kind in wanted]


@pytest.fixture(scope="module", params=server_kinds())
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of one node of a fresh 3-master cluster of each server kind."""
    kind: ServerKind = request.param
    try:
        server = LocalCluster(tmp_path_factory.mktemp(f"{kind}-cluster"), masters=3, kind=kind)
    except ConfigurationError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc))
    with server:
        yield server.url


@pytest.fixture
async def client(cluster: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Redis]:
    """A client built from settings with CONVEYOR_REDIS_CLUSTER=true."""
    monkeypatch.setenv("CONVEYOR_REDIS_URL", cluster)
    monkeypatch.setenv("CONVEYOR_REDIS_CLUSTER", "true")
    redis = create_client(load_settings(RedisSettings))
    yield redis
    await redis.aclose()


def _node_of(client: Redis, key: str) -> str:
    node = client.get_node_from_key(key)  # type: ignore[attr-defined] # RedisCluster method
    return str(node.name)


async def spread_keys(client: Redis) -> Keys:
    """Keys with a random prefix and two queues whose slots live on different masters."""
    await client.ping()  # loads the slot map
    prefix = f"t{secrets.token_hex(5)}"
    first = Keys(prefix).queue("q0")
    for index in range(1, 100):
        other = Keys(prefix).queue(f"q{index}")
        if _node_of(client, other.tasks) != _node_of(client, first.tasks):
            return Keys(prefix, (first.queue, other.queue))
    msg = "no two queues on different masters among 100 names"
    raise AssertionError(msg)


async def test_client_from_settings_is_a_cluster_client_that_passes_the_server_check(
    client: Redis,
) -> None:
    assert is_cluster(client)
    assert type(client) is not Redis
    info = await check_server(client)
    assert info.version >= (7, 0, 0)


async def _enqueue(client: Redis, keys: Keys, queue: str, task_type: str, payload: Any) -> str:
    envelope = new_envelope(task_type, payload, queue)
    fields: Any = envelope.to_fields()
    await client.xadd(keys.queue(queue).tasks, fields)
    return envelope.id


def _worker(client: Redis, keys: Keys) -> Worker:
    settings = WorkerSettings(block_ms=50, breaker_enabled=False)
    return Worker(client, settings, examples, keys, consumer="cluster-worker")


async def test_tasks_retries_and_dead_letters_work_with_queues_on_different_masters(
    client: Redis,
) -> None:
    keys = await spread_keys(client)
    qa, qb = keys.queues
    assert _node_of(client, keys.queue(qa).tasks) != _node_of(client, keys.queue(qb).tasks)
    echo_a = await _enqueue(client, keys, qa, "demo.echo", {"n": 1})
    echo_b = await _enqueue(client, keys, qb, "demo.echo", {"n": 2})
    flaky = await _enqueue(client, keys, qb, "demo.fail", {"times": 1})
    unknown = await _enqueue(client, keys, qa, "demo.no-such-handler", {})

    await _worker(client, keys).run(burst=True)
    view_a, view_b = StreamView(client, keys.queue(qa)), StreamView(client, keys.queue(qb))
    assert TaskEventType.SUCCEEDED in await view_a.event_types(echo_a)
    assert TaskEventType.SUCCEEDED in await view_b.event_types(echo_b)
    assert await view_b.event_types(flaky) == [TaskEventType.STARTED, TaskEventType.RETRYING]
    [dead] = await view_a.dead()
    assert dead.task_fields["id"] == unknown
    assert TaskEventType.DEAD in await view_a.event_types(unknown)

    # The retry timer is on qb's timers-in: the scheduler files and promotes it.
    scheduler = Scheduler(client, keys, SchedulerSettings(consumer="cluster-scheduler"))
    later = time.time_ns() // 1_000_000 + 60_000

    async def promoted() -> bool:
        await scheduler.tick(later)
        return len(await tasks(client, keys.queue(qb))) == 3

    # waiting.wait_for's probe union (value or awaitable) defeats mypy's inference here.
    await wait_for(promoted, within=30, what="retry promoted")
    await _worker(client, keys).run(burst=True)
    assert (await view_b.event_types(flaky))[-1] == TaskEventType.SUCCEEDED
    assert await view_a.pending() == 0
    assert await view_b.pending() == 0


async def test_multi_queue_xreadgroup_across_slots_is_refused_by_the_cluster_client(
    client: Redis,
) -> None:
    """Why readers of several queues must read per queue (or per slot) on Cluster."""
    keys = await spread_keys(client)
    streams: dict[Any, Any] = {q.tasks: ">" for q in keys.all_queues()}
    with pytest.raises(Exception, match="same key slot"):
        await client.xreadgroup("g", "c", streams, count=1)


def test_wait_replicas_cannot_be_combined_with_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONVEYOR_REDIS_CLUSTER", "true")
    monkeypatch.setenv("CONVEYOR_REDIS_WAIT_REPLICAS", "1")
    with pytest.raises(ConfigurationError, match="not supported with CONVEYOR_REDIS_CLUSTER"):
        load_settings(RedisSettings)


INGEST_SECRET = "cluster-test-secret-of-sufficient-length-hs256"


async def test_ingest_api_enqueues_and_reads_back_tasks_of_queues_on_different_masters(
    client: Redis, cluster: str
) -> None:
    keys = await spread_keys(client)
    redis_settings = RedisSettings(
        redis_url=cluster, redis_cluster=True, key_prefix=keys.prefix, queues=keys.queues
    )
    app = create_app(IngestSettings(jwt_secret=SecretStr(INGEST_SECRET)), redis_settings)
    token = mint_token(INGEST_SECRET, "cluster", ["tasks:write", "tasks:read"])
    headers = {"Authorization": f"Bearer {token}"}
    async with TestClient(TestServer(app)) as http:
        ids = []
        for queue in keys.queues:
            body = {"type": "demo.echo", "payload": queue, "queue": queue}
            response = await http.post("/api/v1/tasks", json=body, headers=headers)
            assert response.status == 202, await response.text()
            ids.append((await response.json())["data"]["id"])
        await _worker(client, keys).run(burst=True)

        async def all_succeeded() -> bool:
            for task_id in ids:
                response = await http.get(f"/api/v1/tasks/{task_id}", headers=headers)
                data = (await response.json())["data"] or {}
                if data.get("status") != "succeeded":
                    return False
            return True

        # The read model follows both queues' event streams (one read per stream on Cluster).
        what = "read model shows both tasks succeeded"
        await wait_for(all_succeeded, within=30, what=what)


async def test_cron_schedules_fire_once_into_a_queue_on_another_master_than_the_schedules(
    client: Redis,
) -> None:
    keys = await spread_keys(client)
    qa, qb = keys.queues
    start = 1_795_766_400_000  # 2026-11-27T08:00:00Z, a multiple of 5 s
    schedule = ScheduleDefinition.model_validate(
        {
            "id": "every5",
            "cron": "@every 5s",
            "task": {"type": "demo.echo", "queue": qb},
            "created_at_ms": start,
        }
    )
    replicas = [
        Scheduler(client, keys, SchedulerSettings(consumer=name)) for name in ("s-a", "s-b")
    ]
    await replicas[0].apply_file([schedule], start + 1)
    for now in (start + 1, start + 5_000, start + 10_000):
        for replica in replicas:
            await replica.tick(now)
    fired = await tasks(client, keys.queue(qb))
    # Two replicas, two instants: each instant fired once (dedup key + XADD in one script).
    assert sorted(t.idempotency_key for t in fired) == [
        fire_scope("every5", start + 5_000),
        fire_scope("every5", start + 10_000),
    ]
    assert await tasks(client, keys.queue(qa)) == []
    await _worker(client, keys).run(burst=True)
    view = StreamView(client, keys.queue(qb))
    for task in fired:
        assert TaskEventType.SUCCEEDED in await view.event_types(task.id)


async def test_services_as_processes_on_the_cluster_run_the_api_flow(
    client: Redis, cluster: str, tmp_path: Path
) -> None:
    """ingest, worker and scheduler as processes with CONVEYOR_REDIS_CLUSTER=true."""
    keys = await spread_keys(client)
    qa, qb = keys.queues
    urls = dict.fromkeys(("ingest", "worker", "scheduler"), cluster)
    extra = {
        "CONVEYOR_REDIS_CLUSTER": "true",
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_QUEUES": f"{qa},{qb}",
    }
    with running_services(tmp_path, urls, extra) as deployment:
        async with api_session(deployment) as http:
            echo = await post_task(http, {"type": "demo.echo", "payload": 1, "queue": qa})
            flaky = await post_task(
                http, {"type": "demo.fail", "payload": {"times": 1}, "queue": qb}
            )
            unknown = await post_task(http, {"type": "demo.nothing", "payload": 1, "queue": qa})
            assert (await final_state(http, echo))["status"] == "succeeded"
            retried = await final_state(http, flaky)
            assert (retried["status"], retried["attempts"]) == ("succeeded", 2)
            assert (await final_state(http, unknown))["status"] == "dead"
    for name, path in deployment.logs.items():
        text = path.read_text(errors="replace")
        assert "service_started" in text, f"{name} did not start: {text[-2000:]}"
        for bad in ("Traceback", "RedisClusterException", "_failed"):
            assert bad not in text, f"{name} logged {bad}: {text[-3000:]}"


async def test_partitions_of_one_queue_spread_over_masters_and_the_api_flow_works(
    client: Redis, cluster: str
) -> None:
    """A 4-partition queue: ingest routes by key, one worker drains all, a retry stays put."""
    keys = Keys(f"t{secrets.token_hex(5)}", ("orders",), (("orders", 4),))
    await client.ping()
    assert len({_node_of(client, qk.tasks) for qk in keys.all_queues()}) > 1
    redis_settings = RedisSettings(
        redis_url=cluster,
        redis_cluster=True,
        key_prefix=keys.prefix,
        queues=keys.queues,
        queue_partitions=keys.partitions,
    )
    app = create_app(IngestSettings(jwt_secret=SecretStr(INGEST_SECRET)), redis_settings)
    token = mint_token(INGEST_SECRET, "cluster", ["tasks:write", "tasks:read"])
    headers = {"Authorization": f"Bearer {token}"}
    bodies: list[dict[str, Any]] = [
        {"type": "demo.echo", "payload": n, "queue": "orders", "partition_key": f"c{n}"}
        for n in range(8)
    ]
    bodies.append({"type": "demo.fail", "payload": {"times": 1}, "queue": "orders",
                   "partition_key": "customer-2"})  # fmt: skip
    async with TestClient(TestServer(app)) as http:
        ids = []
        for body in bodies:
            response = await http.post("/api/v1/tasks", json=body, headers=headers)
            assert response.status == 202, await response.text()
            ids.append((await response.json())["data"]["id"])
        assert all([await client.xlen(qk.tasks) for qk in keys.all_queues()])
        await _worker(client, keys).run(burst=True)
        scheduler = Scheduler(client, keys, SchedulerSettings(consumer="cluster-parts"))
        later = time.time_ns() // 1_000_000 + 60_000
        retried = keys.route("orders", "customer-2")

        async def promoted() -> bool:
            await scheduler.tick(later)
            return [t.id for t in await tasks(client, retried)].count(ids[-1]) == 2

        await wait_for(promoted, within=30, what="retry promoted into its partition")
        await _worker(client, keys).run(burst=True)

        async def all_succeeded() -> bool:
            for task_id in ids:
                response = await http.get(f"/api/v1/tasks/{task_id}", headers=headers)
                if ((await response.json())["data"] or {}).get("status") != "succeeded":
                    return False
            return True

        await wait_for(all_succeeded, within=30, what="read model shows every task succeeded")


async def test_workflows_advance_in_one_slot_on_a_partitioned_queue_over_masters(
    client: Redis,
) -> None:
    """Each workflow's tasks, record and state share its partition's slot: the create
    script and every commit that advances it run on one master."""
    prefix = f"t{secrets.token_hex(5)}"
    keys = Keys(prefix, ("wf",), partitions=(("wf", 4),))
    await client.ping()
    assert len({_node_of(client, qk.tasks) for qk in keys.shards("wf")}) > 1
    registry, runs = flow_registry()
    flows_ = [
        plan(chain(Step("wf.add", 1), Step("wf.add", {"n": 2}), Step("wf.collect")), "wf"),
        plan(chord(group(Step("wf.add", 1), Step("wf.add", 2)), Step("wf.collect")), "wf"),
    ]
    writes = TaskWrites(keys, 3_600_000, 3_600_000)
    runner = AsyncRunner(client)
    for flow in flows_:
        await runner.run(
            _yield(flows.create_call(writes, flow, None, (202, ""), int(time.time() * 1000)))
        )
    settings = WorkerSettings(block_ms=50, breaker_enabled=False)
    await Worker(client, settings, registry, keys, consumer="cluster-worker").run(burst=True)
    collected = sorted(str(payload) for name, payload in runs if name == "wf.collect")
    assert collected == ["3", "[1, 2]"]


def _yield(call: ScriptCall) -> Plan[Any]:
    return (yield call)
