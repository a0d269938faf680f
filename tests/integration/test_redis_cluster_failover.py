"""Redis Cluster failover: a primary dies, its replica takes over, the services carry on.

Three primaries with one replica each (node timeout 2 s). ingest, worker and
scheduler run as processes with CONVEYOR_REDIS_CLUSTER=true; the primary that
serves the queue's slot is killed with SIGKILL. The cluster promotes its
replica, and the same processes - without a restart - accept, run and retry
tasks on the new primary. Runs on one server kind (the failover is the
server's; the client code is the same for both), to keep the suite short.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.errors import ConfigurationError
from conveyor.keys import Keys
from conveyor.localserver import LocalCluster, LocalServer, ServerKind
from e2e.e2e_harness import (
    api_session,
    run_across_failover,
    running_services,
)

NODE_TIMEOUT_MS = 2000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A 3-primary, 3-replica cluster of the first server kind this machine has."""
    wanted = os.environ.get("CONVEYOR_TEST_SERVERS", "redis,valkey").split(",")
    kind: ServerKind = "redis" if "redis" in wanted else "valkey"
    folder = tmp_path_factory.mktemp(f"{kind}-cluster-ha")
    server = LocalCluster(folder, masters=3, kind=kind, replicas=1, node_timeout_ms=NODE_TIMEOUT_MS)
    try:
        server.start()
    except ConfigurationError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


async def test_services_carry_on_after_the_queues_primary_fails_over(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    keys = Keys(f"t{secrets.token_hex(4)}")
    stream = keys.queue("default").tasks
    extra = {"CONVEYOR_REDIS_CLUSTER": "true", "CONVEYOR_KEY_PREFIX": keys.prefix}
    urls = dict.fromkeys(("ingest", "worker", "scheduler"), cluster.url)
    with running_services(tmp_path, urls, extra) as deployment:
        async with api_session(deployment) as http:
            primary = cluster.primary_of(stream)

            async def kill_primary() -> None:
                primary.kill()

            await run_across_failover(http, kill_primary)
            promoted: LocalServer = cluster.primary_of(stream)
            assert promoted is not primary
    for name, path in deployment.logs.items():
        text = path.read_text(errors="replace")
        assert "Traceback" not in text, f"{name} crashed: {text[-3000:]}"
    # While the slot had no primary, ingest answered 503 with Retry-After, never 500.
    assert '"status":500' not in deployment.logs["ingest"].read_text(errors="replace")
