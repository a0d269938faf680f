"""deploy/redis/users.acl on a real server: each service user can do its job and nothing else.

The server is started with the ACL file rendered by ``deploy/redis/render-acl.sh``
(the same step a deployment runs), on Redis 7.0 and on Valkey. Every command
outside a user's role must be refused with NOPERM; a few commands inside it must
work, including a script over the user's own keys.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor import AsyncClient, TaskStatus
from conveyor.connection import check_server, create_client
from conveyor.control import replace_fields
from conveyor.envelope import new_envelope
from conveyor.keys import Keys, QueueKeys
from conveyor.localserver import LocalServer, find_server_binary
from conveyor.settings import RedisSettings
from conveyor.streams import Group, ensure_group, read_reply_entries
from conveyor.timers import TimerKind, timer_fields
from conveyor_scheduler.control import ControlConsumer
from conveyor_scheduler.intake import TimerIntake
from conveyor_scheduler.reading import GroupReader
from conveyor_scheduler.testing import xadd

ROOT = Path(__file__).resolve().parents[2]
ACL_TEMPLATE = ROOT / "deploy" / "redis" / "users.acl"
RENDER = ROOT / "deploy" / "redis" / "render-acl.sh"
USERS = ("ingest", "scheduler", "worker", "keda", "producer")

KEYS = Keys(prefix="conveyor")  # the ACL file's patterns are written for the default prefix
Q = KEYS.queue("default")
# A partition of a partitioned queue: its own hash tag, matched by the same patterns.
P = Keys("conveyor", ("default",), (("default", 4),)).queue("default~3")


@dataclass(frozen=True)
class AclDeployment:
    """A running server with the rendered ACL file and each user's password."""

    port: int
    passwords: dict[str, str]

    def url(self, user: str) -> str:
        """CONVEYOR_REDIS_URL of ``user``, as a deployment would set it."""
        return f"redis://conveyor-{user}:{self.passwords[user]}@127.0.0.1:{self.port}/0"


def render_acl(out: Path, passwords: dict[str, str]) -> None:
    """Render the template with render-acl.sh, from sha256 digests only."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for user, password in passwords.items():
        env[f"{user.upper()}_SHA256"] = hashlib.sha256(password.encode()).hexdigest()
    subprocess.run(  # noqa: S603 - fixed argument list of a file in this repository
        ["/bin/sh", str(RENDER), str(ACL_TEMPLATE), str(out)], env=env, check=True
    )


def _kinds() -> list[str]:
    wanted = os.environ.get("CONVEYOR_TEST_SERVERS", "redis,valkey").split(",")
    return [kind for kind in ("redis", "valkey") if kind in wanted]


@pytest.fixture(scope="module", params=_kinds())
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AclDeployment]:
    """A server of each kind started with ``--aclfile`` and the rendered users.acl."""
    kind = request.param
    try:
        find_server_binary(kind)
    except Exception as exc:  # any reason means: this server is absent here
        pytest.skip(f"{kind} server not available: {exc}")
    folder = tmp_path_factory.mktemp(f"acl-{kind}")
    passwords = {user: secrets.token_urlsafe(24) for user in USERS}
    render_acl(folder / "users.acl", passwords)
    server = LocalServer(
        folder / "data", kind=kind, extra_args=["--aclfile", str(folder / "users.acl")]
    )
    with server:
        yield AclDeployment(server.port, passwords)


@pytest.fixture
async def clients(deployment: AclDeployment) -> AsyncIterator[dict[str, Redis]]:
    """One client per service user, made the way the services make theirs."""
    made = {user: create_client(RedisSettings(redis_url=deployment.url(user))) for user in USERS}
    yield made
    for client in made.values():
        await client.aclose()


# Commands outside each user's role: (user, command...). Every one must be NOPERM.
EVERYONE = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "GET", "maxmemory-policy"),
    ("CONFIG", "SET", "appendonly", "no"),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("INFO",),
    ("CLIENT", "LIST"),
    ("CLIENT", "KILL", "ID", "1"),
    ("ACL", "LIST"),
    ("SCRIPT", "FLUSH"),
    ("FUNCTION", "FLUSH"),
    ("BGREWRITEAOF",),
    ("PUBLISH", "conveyor", "x"),
    ("MIGRATE", "127.0.0.1", "1", "k", "0", "100"),
]
OUTSIDE = [
    ("worker", ("HSET", Q.task_status("x"), "status", "succeeded")),
    ("worker", ("GET", Q.idempotency("client", "k"))),
    ("worker", ("ZADD", Q.timer_index, "1", "x")),
    ("worker", ("SET", Q.fire_dedup("s", 1), "1")),
    ("worker", ("XADD", KEYS.schedule_applied, "*", "k", "v")),
    ("worker", ("HSET", KEYS.schedule_store, "s", "{}")),
    ("ingest", ("GET", Q.effect_mark("x"))),
    ("ingest", ("SET", Q.effect_key("balance"), "1")),
    ("ingest", ("ZRANGE", Q.timer_index, "0", "-1")),
    ("ingest", ("HGET", KEYS.schedule_store, "s")),
    ("ingest", ("SADD", Q.cancelled, "x")),
    ("scheduler", ("GET", Q.effect_mark("x"))),
    ("scheduler", ("HSET", Q.task_status("x"), "status", "running")),
    ("scheduler", ("SET", Q.effect_key("balance"), "1")),
    ("scheduler", ("HGETALL", KEYS.schedule_listing)),
    ("scheduler", ("ZADD", Q.status_index, "1", "x")),
    ("scheduler", ("GET", KEYS.rate_limit("client"))),
    ("scheduler", ("HGET", Q.replaced, "x")),  # the workers' marks: its own record instead
    ("scheduler", ("HSET", Q.replaced, "x", "1")),
    ("scheduler", ("ZSCORE", Q.cancelled, "x")),
    ("ingest", ("HGET", Q.replaced, "x")),
    ("keda", ("XADD", Q.tasks, "*", "k", "v")),
    ("keda", ("XGROUP", "CREATE", Q.tasks, "evil", "0")),
    ("keda", ("XINFO", "GROUPS", Q.events)),
    ("keda", ("GET", Q.effect_mark("x"))),
    ("keda", ("XRANGE", Q.tasks, "-", "+")),
    ("worker", ("HSET", P.task_status("x"), "status", "succeeded")),
    ("ingest", ("GET", P.effect_mark("x"))),
    ("scheduler", ("HSET", P.task_status("x"), "status", "running")),
    ("keda", ("XADD", P.tasks, "*", "k", "v")),
    ("producer", ("XADD", Q.events, "*", "k", "v")),
    ("producer", ("XADD", Q.dead, "*", "k", "v")),
    ("producer", ("XRANGE", Q.dead, "-", "+")),
    ("producer", ("XREADGROUP", "GROUP", "workers", "p", "STREAMS", Q.tasks, ">")),
    ("producer", ("XACK", Q.tasks, "workers", "1-0")),
    ("producer", ("XGROUP", "CREATE", Q.tasks, "evil", "0")),
    ("producer", ("XTRIM", Q.tasks, "MAXLEN", "0")),
    ("producer", ("GET", Q.effect_mark("x"))),
    ("producer", ("ZADD", Q.timer_index, "1", "x")),
    ("producer", ("GET", KEYS.rate_limit("client"))),
    ("producer", ("HGETALL", KEYS.schedule_listing)),
    ("producer", ("XADD", KEYS.schedule_changes, "*", "k", "v")),
    ("producer", ("DEL", Q.tasks)),
    ("producer", ("XADD", P.events, "*", "k", "v")),
    *[(user, command) for user in USERS for command in EVERYONE],
]


@pytest.mark.parametrize(
    ("user", "command"), OUTSIDE, ids=[f"{u}-{' '.join(c[:2])}" for u, c in OUTSIDE]
)
async def test_command_outside_the_users_role_is_refused(
    clients: dict[str, Redis], user: str, command: tuple[str, ...]
) -> None:
    with pytest.raises(redis_errors.NoPermissionError):
        await clients[user].execute_command(*command)


SMUGGLE = """
redis.call('HSET', KEYS[1], 'status', 'succeeded')
return 1
"""


@pytest.mark.parametrize("declared", [True, False], ids=["declared-key", "undeclared-key"])
async def test_a_script_cannot_reach_another_services_keys(
    clients: dict[str, Redis], declared: bool
) -> None:
    target = Q.task_status("smuggled")
    script = SMUGGLE if declared else SMUGGLE.replace("KEYS[1]", f"'{target}'")
    keys = [target] if declared else []
    with pytest.raises(redis_errors.ResponseError, match=r"(?i)noperm|no permissions|can.t access"):
        await clients["worker"].eval(script, len(keys), *keys)


async def test_default_user_is_off(deployment: AclDeployment) -> None:
    anonymous = Redis(host="127.0.0.1", port=deployment.port)
    try:
        with pytest.raises(redis_errors.AuthenticationError):
            await anonymous.ping()
    finally:
        await anonymous.aclose()
    wrong = Redis.from_url(f"redis://conveyor-worker:wrong@127.0.0.1:{deployment.port}/0")
    try:
        with pytest.raises(redis_errors.AuthenticationError):
            await wrong.ping()
    finally:
        await wrong.aclose()


@pytest.mark.parametrize("user", ["ingest", "scheduler", "worker"])
async def test_each_service_user_passes_the_start_up_check(
    clients: dict[str, Redis], user: str
) -> None:
    info = await check_server(clients[user])
    assert info.maxmemory_policy is None  # CONFIG is refused: the service warns and goes on


COMMIT = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], 'done')
return redis.call('XADD', KEYS[3], '*', 'type', 'task.succeeded')
"""
PROMOTE = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[2])
return redis.call('XADD', KEYS[2], '*', 'id', ARGV[2])
"""
ACCEPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('HSET', KEYS[2], 'status', 'pending')
  return redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
end
return false
"""


@pytest.mark.parametrize("q", [Q, P], ids=["queue", "partition"])
async def test_worker_consumes_and_commits_with_one_script(
    clients: dict[str, Redis], q: QueueKeys
) -> None:
    worker = clients["worker"]
    await ensure_group(worker, q.tasks, Group.WORKERS)
    await clients["ingest"].xadd(q.tasks, {"id": "t1"})
    reply = await worker.xreadgroup(Group.WORKERS, "w1", {q.tasks: ">"}, count=1)
    [(_, [(entry_id, _)])] = read_reply_entries(reply)
    commit = worker.register_script(COMMIT)
    event_id = await commit(
        keys=[q.tasks, q.effect_mark("t1"), q.events], args=[Group.WORKERS, entry_id]
    )
    assert event_id
    assert await worker.get(q.effect_mark("t1")) == b"done"
    assert await worker.xpending(q.tasks, Group.WORKERS) == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }  # fmt: skip


async def test_scheduler_promotes_a_timer_with_one_script(clients: dict[str, Redis]) -> None:
    scheduler = clients["scheduler"]
    await ensure_group(scheduler, Q.timers_in, Group.SCHEDULER)
    await clients["worker"].xadd(Q.timers_in, {"id": "t2", "due_ms": "1"})
    reply = await scheduler.xreadgroup(Group.SCHEDULER, "s1", {Q.timers_in: ">"}, count=1)
    assert reply
    promote = scheduler.register_script(PROMOTE)
    assert await promote(keys=[Q.timer_index, Q.tasks], args=["1", "t2"])


async def test_scheduler_records_a_change_before_its_timer_and_applies_it_at_filing(
    clients: dict[str, Redis],
) -> None:
    """Control and intake under the scheduler's user: every key they declare is its own."""
    scheduler, ingest = clients["scheduler"], clients["ingest"]
    envelope = new_envelope("demo.echo", "old", "default")
    await xadd(ingest, Q.timers_in, timer_fields(envelope, 9_000, TimerKind.DELAYED))
    changes = {"data": '"new"', "due_ms": "5"}
    await xadd(ingest, Q.control, replace_fields(envelope.id, 1, 60_000, 1, changes))
    control = GroupReader(scheduler, Q.control, "s-acl", 100, 60_000)
    assert (await ControlConsumer(scheduler, Q, control).run_once(10)).replaced == 0
    assert await scheduler.hget(Q.replaces, envelope.id) is not None
    timers = GroupReader(scheduler, Q.timers_in, "s-acl", 100, 60_000)
    assert (await TimerIntake(scheduler, Q, timers).run_once(10)).replaced == 1
    assert await scheduler.zscore(Q.timer_index, envelope.id) == 5
    assert await scheduler.hget(Q.replaces, envelope.id) is None


async def test_ingest_accepts_a_task_with_one_script(clients: dict[str, Redis]) -> None:
    ingest = clients["ingest"]
    accept = ingest.register_script(ACCEPT)
    keys = [Q.idempotency("client", "k3"), Q.task_status("t3"), Q.tasks]
    assert await accept(keys=keys, args=["t3"])
    assert await accept(keys=keys, args=["t3"]) is None
    await ensure_group(ingest, Q.events, Group.INGEST)
    await clients["worker"].xadd(Q.events, {"type": "task.started"})
    assert await ingest.xreadgroup(Group.INGEST, "i1", {Q.events: ">"}, count=1)
    assert await ingest.xrange(Q.dead) is not None


async def test_keda_reads_the_workers_lag_and_pending(clients: dict[str, Redis]) -> None:
    await ensure_group(clients["worker"], Q.tasks, Group.WORKERS)
    groups = await clients["keda"].xinfo_groups(Q.tasks)
    assert Group.WORKERS.value in [g["name"].decode() for g in groups]
    assert (await clients["keda"].xpending(Q.tasks, Group.WORKERS))["pending"] >= 0
    assert await clients["keda"].xlen(Q.tasks) >= 0


async def test_the_direct_client_works_as_the_producer_user(deployment: AclDeployment) -> None:
    """Enqueue (idempotent, delayed, partitioned), read, change and cancel: nothing more."""
    settings = RedisSettings(
        redis_url=deployment.url("producer"), queues=("default",), queue_partitions=((Q.queue, 4),)
    )
    async with AsyncClient(settings=settings) as client:
        ref = await client.enqueue("demo.echo", {"n": 1}, idempotency_key="acl-1")
        assert (await client.enqueue("demo.echo", {"n": 1}, idempotency_key="acl-1")).id == ref.id
        assert (await client.get(ref.id)).status is TaskStatus.PENDING
        later = await client.enqueue("demo.echo", 2, delay=60, partition_key="p")
        assert await client.change(later.id, payload=3) == 1
        await later.cancel()
        assert (await later.get()).status is TaskStatus.CANCELLED
        refs = await client.enqueue_many("demo.echo", list(range(10)))
        assert len(refs) == 10
