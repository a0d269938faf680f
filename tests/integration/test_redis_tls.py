"""TLS to Redis: rediss:// with CA, client certificate and key settings.

Each test makes a throwaway CA, a server certificate for 127.0.0.1 and a client
certificate, and starts its own TLS-only server that requires client certificates.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import exceptions as redis_errors

from conveyor.connection import check_server, create_client
from conveyor.errors import ConfigurationError
from conveyor.keys import Keys
from conveyor.localserver import LocalServer, ServerKind, TlsFiles
from conveyor.settings import RedisSettings, load_settings
from conveyor.streams import Group, ensure_group, read_reply_entries
from tls_pki import make_pki, skip_without_tls


def server_kinds() -> list[str]:
    """redis and valkey, narrowed by CONVEYOR_TEST_SERVERS like the session fixture."""
    wanted = os.environ.get("CONVEYOR_TEST_SERVERS", "redis,valkey").split(",")
    return [kind for kind in ("redis", "valkey") if kind in wanted]


@pytest.fixture(params=server_kinds())
def tls_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, TlsFiles]]:
    """A TLS-only server of each kind; skipped where the binary was built without TLS."""
    kind: ServerKind = request.param
    server_files, client_files = make_pki(tmp_path / "pki")
    server = LocalServer(tmp_path / "data", kind=kind, tls=server_files)
    try:
        server.start()
    except ConfigurationError as exc:
        skip_without_tls(kind, exc)
        raise
    try:
        yield server.url, client_files
    finally:
        server.stop()


def _settings(monkeypatch: pytest.MonkeyPatch, url: str, files: TlsFiles) -> RedisSettings:
    monkeypatch.setenv("CONVEYOR_REDIS_URL", url)
    monkeypatch.setenv("CONVEYOR_REDIS_TLS_CA_FILE", str(files.ca))
    monkeypatch.setenv("CONVEYOR_REDIS_TLS_CERT_FILE", str(files.cert))
    monkeypatch.setenv("CONVEYOR_REDIS_TLS_KEY_FILE", str(files.key))
    return load_settings(RedisSettings)


async def test_rediss_url_with_ca_and_client_certificate_checks_server_and_streams(
    tls_server: tuple[str, TlsFiles], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, files = tls_server
    assert url.startswith("rediss://")
    client = create_client(_settings(monkeypatch, url, files))
    try:
        info = await check_server(client)
        assert info.version >= (7, 0, 0)
        stream = Keys("tls").queue("default").tasks
        await ensure_group(client, stream, Group.WORKERS)
        entry_id = await client.xadd(stream, {"type": "demo.echo"})
        reply = await client.xreadgroup(Group.WORKERS, "c1", {stream: ">"}, count=10)
        [(name, entries)] = read_reply_entries(reply)
        assert name == stream.encode()
        assert entries == [(entry_id, {b"type": b"demo.echo"})]
        assert await client.xack(stream, Group.WORKERS, entry_id) == 1
    finally:
        await client.aclose()


async def test_server_requiring_client_certificates_refuses_a_client_without_one(
    tls_server: tuple[str, TlsFiles], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, files = tls_server
    monkeypatch.setenv("CONVEYOR_REDIS_URL", url)
    monkeypatch.setenv("CONVEYOR_REDIS_TLS_CA_FILE", str(files.ca))
    client = create_client(load_settings(RedisSettings))
    try:
        with pytest.raises((redis_errors.ConnectionError, ConnectionError)):
            await client.ping()
    finally:
        await client.aclose()


async def test_client_refuses_a_server_signed_by_another_ca(
    tls_server: tuple[str, TlsFiles], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, files = tls_server
    _, stranger = make_pki(tmp_path / "other-pki")
    settings = _settings(monkeypatch, url, TlsFiles(stranger.ca, files.cert, files.key))
    client = create_client(settings)
    try:
        with pytest.raises(redis_errors.ConnectionError, match=r"(?i)certificate"):
            await client.ping()
    finally:
        await client.aclose()


def test_tls_files_need_a_rediss_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server_files, _ = make_pki(tmp_path)
    monkeypatch.setenv("CONVEYOR_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CONVEYOR_REDIS_TLS_CA_FILE", str(server_files.ca))
    with pytest.raises(ConfigurationError, match="rediss://"):
        load_settings(RedisSettings)
    monkeypatch.setenv("CONVEYOR_REDIS_TLS_CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError, match="CONVEYOR_REDIS_TLS_CA_FILE: no such file"):
        load_settings(RedisSettings)
