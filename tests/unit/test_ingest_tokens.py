"""Dev key file and token minting, without Redis."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from conveyor_ingest.auth import Principal, Scope, TokenVerifier
from conveyor_ingest.responses import ApiError
from conveyor_ingest.settings import IngestSettings
from conveyor_ingest.tokens import ensure_dev_key, mint_token, signing_secret, token_command


def test_dev_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dev-jwt.key"
    first = ensure_dev_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_dev_key(path) == first
    assert len(first) >= 32


def test_secret_setting_wins_over_the_key_file(tmp_path: Path) -> None:
    settings = IngestSettings(jwt_secret=SecretStr("s" * 40), jwt_key_file=str(tmp_path / "k"))
    assert signing_secret(settings) == "s" * 40
    assert not (tmp_path / "k").exists()


def test_minted_token_carries_sub_scopes_and_defaults() -> None:
    token = mint_token("k" * 40, "alice", ["tasks:write", "admin"])
    claims = jwt.decode(token, "k" * 40, algorithms=["HS256"], audience="conveyor")
    assert claims["sub"] == "alice"
    assert claims["scope"] == "tasks:write admin"
    assert claims["iss"] == "conveyor"
    assert 86_000 < claims["exp"] - claims["iat"] <= 86_400


def test_verifier_caches_a_verified_token_and_checks_scopes() -> None:
    verifier = TokenVerifier(IngestSettings(jwt_secret=SecretStr("k" * 40)), "k" * 40)
    token = mint_token("k" * 40, "alice", ["tasks:read"])
    principal = verifier.verify(f"Bearer {token}")
    assert principal == Principal("alice", frozenset({"tasks:read"}))
    assert verifier.verify(f"Bearer {token}") is principal
    principal.require(Scope.TASKS_READ)
    with pytest.raises(ApiError) as caught:
        principal.require(Scope.TASKS_WRITE)
    assert caught.value.status == 403


def test_concurrent_creators_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "dev-jwt.key"
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: ensure_dev_key(path), range(32)))
    assert len(keys) == 1
    assert keys.pop()
    assert [p.name for p in tmp_path.iterdir()] == ["dev-jwt.key"]


@pytest.mark.parametrize("subject", ["", "   ", "\t"])
def test_verifier_refuses_a_token_with_an_empty_or_blank_subject(subject: str) -> None:
    verifier = TokenVerifier(IngestSettings(jwt_secret=SecretStr("k" * 40)), "k" * 40)
    token = mint_token("k" * 40, subject, ["admin"])
    with pytest.raises(ApiError) as caught:
        verifier.verify(f"Bearer {token}")
    assert caught.value.status == 401
    assert "subject ('sub') is empty" in caught.value.message


@pytest.mark.parametrize("subject", ["", "  "])
def test_token_command_refuses_an_empty_or_blank_subject(
    subject: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_INGEST_JWT_SECRET", "k" * 40)
    with pytest.raises(SystemExit) as caught:
        token_command(["--sub", subject])
    assert caught.value.code == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "--sub must name the client" in out.err
