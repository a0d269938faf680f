"""A throwaway PKI for the TLS tests: a CA, a server and a client certificate.

Shared by the single-server TLS tests and the Sentinel-over-TLS tests (one copy).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conveyor.errors import ConfigurationError
from conveyor.localserver import TlsFiles

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


def skip_without_tls(kind: str, exc: ConfigurationError) -> None:
    """Skip the test when ``exc`` says the server binary lacks TLS (or is missing)."""
    if "tls" in str(exc).lower() or "not on path" in str(exc):
        last_line = str(exc).strip().splitlines()[-1]
        pytest.skip(f"the {kind} binary here was built without TLS: {last_line}")
