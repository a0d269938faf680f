"""TLS to Redis: rediss:// with CA, client certificate and key settings.

Each test makes a throwaway CA, a server certificate for 127.0.0.1 and a client
certificate, and starts its own TLS-only server that requires client certificates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from redis import exceptions as redis_errors

from conveyor.connection import check_server, create_client
from conveyor.errors import ConfigurationError
from conveyor.keys import Keys
from conveyor.localserver import LocalServer, ServerKind, TlsFiles
from conveyor.settings import RedisSettings, load_settings
from conveyor.streams import Group, ensure_group, read_reply_entries

Key = ec.EllipticCurvePrivateKey


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str, key: Key, issuer: tuple[x509.Name, Key] | None, server: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, signer = issuer or (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        # Redis also presents its own certificate as a client (replication): both usages.
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        usages += [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if server:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: Key) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def make_pki(folder: Path) -> tuple[TlsFiles, TlsFiles]:
    """A CA and two certificates it signs: (server files, client files)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("conveyor test CA", ca_key, None, server=False)
    ca_path, _ = _write(folder / "ca", ca, ca_key)
    files = []
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(f"conveyor {role}", key, (ca.subject, ca_key), role == "server")
        cert_path, key_path = _write(folder / role, cert, key)
        files.append(TlsFiles(ca=ca_path, cert=cert_path, key=key_path))
    return files[0], files[1]


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
        if "tls" in str(exc).lower() or "not on path" in str(exc):
            last_line = str(exc).strip().splitlines()[-1]
            pytest.skip(f"the {kind} binary here was built without TLS: {last_line}")
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
