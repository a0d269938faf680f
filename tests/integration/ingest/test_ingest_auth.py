"""JWT auth: 401 for missing/expired/forged tokens, 403 for missing scopes, RS256/ES256 by kid."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conveyor_ingest.auth import Principal, TokenVerifier
from conveyor_ingest.responses import ApiError
from integration.ingest.ingest_support import SECRET, Api, auth, ingest_settings

BODY = {"type": "demo.echo"}


async def _post(api: Api, headers: dict[str, str]) -> tuple[int, Any]:
    response = await api.client.post("/api/v1/tasks", json=BODY, headers=headers)
    return response.status, await response.json()


async def test_missing_token_gets_401_with_www_authenticate(api: Api) -> None:
    response = await api.client.post("/api/v1/tasks", json=BODY)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.json())["code"] == 401


async def test_expired_token_gets_401(api: Api) -> None:
    status, body = await _post(api, auth(exp=int(time.time()) - 10))
    assert status == 401
    assert "expired" in body["message"]


async def test_alg_none_token_gets_401(api: Api) -> None:
    claims = {"sub": "eve", "scope": "admin", "iss": "conveyor", "aud": "conveyor",
              "exp": int(time.time()) + 60}  # fmt: skip
    unsigned = jwt.encode(claims, "", algorithm="none")
    status, body = await _post(api, auth(unsigned))
    assert status == 401
    assert "none" in body["message"]


async def test_algorithm_outside_the_allow_list_gets_401(api: Api) -> None:
    claims = {"sub": "eve", "iss": "conveyor", "aud": "conveyor", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, SECRET * 2, algorithm="HS512")
    assert (await _post(api, auth(token)))[0] == 401


async def test_wrong_signature_audience_or_issuer_gets_401(api: Api) -> None:
    forged = jwt.encode(
        {"sub": "eve", "iss": "conveyor", "aud": "conveyor", "exp": int(time.time()) + 60},
        "another-secret-of-sufficient-length-here",
        algorithm="HS256",
    )
    assert (await _post(api, auth(forged)))[0] == 401
    assert (await _post(api, auth(aud="elsewhere")))[0] == 401
    assert (await _post(api, auth(iss="elsewhere")))[0] == 401
    assert (await _post(api, {"Authorization": "Basic abc"}))[0] == 401


async def test_insufficient_scope_gets_403(api: Api) -> None:
    status, body = await _post(api, auth(scope="tasks:read"))
    assert status == 403
    assert "tasks:write" in body["message"]
    response = await api.client.get("/api/v1/queues", headers=auth())
    assert response.status == 403


@pytest.fixture
def rsa_dir(tmp_path: Path) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "k2026.pem").write_bytes(public)
    return tmp_path, _private_pem(key)


@pytest.fixture
def ec_key(rsa_dir: tuple[Path, bytes]) -> bytes:
    """A P-256 key whose public half is ``e2026.pem`` in the same keys directory."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (rsa_dir[0] / "e2026.pem").write_bytes(public)
    return _private_pem(key)


def _private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def settings_overrides(rsa_dir: tuple[Path, bytes]) -> dict[str, Any]:
    return {"jwt_public_keys_dir": str(rsa_dir[0])}


async def test_rs256_token_is_verified_by_its_kid(api: Api, rsa_dir: tuple[Path, bytes]) -> None:
    claims = {"sub": "svc", "scope": "tasks:write", "iss": "conveyor", "aud": "conveyor",
              "exp": int(time.time()) + 60}  # fmt: skip
    good = jwt.encode(claims, rsa_dir[1], algorithm="RS256", headers={"kid": "k2026"})
    assert (await _post(api, auth(good)))[0] == 202
    unknown = jwt.encode(claims, rsa_dir[1], algorithm="RS256", headers={"kid": "k1999"})
    assert (await _post(api, auth(unknown)))[0] == 401


async def test_es256_token_is_verified_by_its_kid(api: Api, ec_key: bytes) -> None:
    claims = {"sub": "svc", "scope": "tasks:write", "iss": "conveyor", "aud": "conveyor",
              "exp": int(time.time()) + 60}  # fmt: skip
    good = jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "e2026"})
    assert (await _post(api, auth(good)))[0] == 202
    # Signed with the EC key but naming the RSA key's kid: the signature cannot verify.
    confused = jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "k2026"})
    assert (await _post(api, auth(confused)))[0] == 401
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert (await _post(api, auth(tampered)))[0] == 401


async def test_token_cli_mints_a_token_the_server_accepts(api: Api, tmp_path: Path) -> None:
    env = {"CONVEYOR_INGEST_JWT_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(  # noqa: ASYNC221 - a short CLI run inside a test
        [sys.executable, "-m", "conveyor_ingest", "token", "--sub", "cli", "--scope",
         "tasks:write"],
        capture_output=True, env=env, cwd=tmp_path, check=True, timeout=60,
    )  # fmt: skip
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1
    assert (await _post(api, auth(lines[0])))[0] == 202


def test_a_verified_header_is_cached_until_its_token_expires() -> None:
    verifier = TokenVerifier(ingest_settings(), SECRET)
    header = auth(exp=int(time.time()) + 60)["Authorization"]
    decoded: list[str] = []
    real_decode = verifier._decode

    def counting_decode(token: str) -> tuple[Principal, float]:
        decoded.append(token)
        return real_decode(token)

    with mock.patch.object(verifier, "_decode", counting_decode):
        first = verifier.verify(header)
        assert verifier.verify(header) is first
        assert len(decoded) == 1  # the second request cost no signature check
        with mock.patch("conveyor_ingest.auth.time.time", return_value=time.time() + 120):
            verifier.verify(header)  # past its exp: verified again (the real token is valid)
        assert len(decoded) == 2
        with pytest.raises(ApiError) as refused:
            verifier.verify(header.replace("Bearer", "Basic"))
    assert refused.value.status == 401
