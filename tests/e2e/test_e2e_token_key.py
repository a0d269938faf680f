"""``conveyor-ingest token`` signs with the API's key and says which; never a stray new key.

The installed command runs as a process in temporary folders, without the
signing settings of the environment the tests run in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt

from conveyor_ingest.tokens import ensure_dev_key

SIGNING_SETTINGS = ("CONVEYOR_INGEST_JWT_SECRET", "CONVEYOR_INGEST_JWT_KEY_FILE")


def token(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``conveyor-ingest token --sub alice`` run in ``folder`` with ``env`` added."""
    base = {k: v for k, v in os.environ.items() if k not in SIGNING_SETTINGS}
    return subprocess.run(  # noqa: S603 - the installed console script
        [str(Path(sys.executable).parent / "conveyor-ingest"), "token", "--sub", "alice"],
        cwd=folder,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def subject(result: subprocess.CompletedProcess[str], secret: str) -> str:
    """The verified token's subject (raises if ``secret`` did not sign it)."""
    claims = jwt.decode(result.stdout.strip(), secret, algorithms=["HS256"], audience="conveyor")
    return str(claims["sub"])


def test_outside_any_project_it_refuses_naming_the_setting_and_creates_no_key(
    tmp_path: Path,
) -> None:
    result = token(tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "CONVEYOR_INGEST_JWT_KEY_FILE" in result.stderr
    assert str(tmp_path) in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_in_a_subfolder_it_signs_with_the_project_key_and_names_it(tmp_path: Path) -> None:
    key_file = tmp_path / ".conveyor" / "dev-jwt.key"
    secret = ensure_dev_key(key_file)
    deeper = tmp_path / "src" / "deeper"
    deeper.mkdir(parents=True)
    result = token(deeper)
    assert result.returncode == 0, result.stderr
    assert subject(result, secret) == "alice"
    assert result.stderr == f"conveyor-ingest token: signed with {key_file}\n"
    assert list(deeper.iterdir()) == []


def test_a_key_file_named_by_the_setting_is_used_or_created_and_named(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "api.key"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    created = token(elsewhere, CONVEYOR_INGEST_JWT_KEY_FILE=str(key_file))
    assert created.returncode == 0, created.stderr
    assert created.stderr == (
        f"conveyor-ingest token: created the key file {key_file} and signed with it\n"
    )
    assert key_file.stat().st_mode & 0o777 == 0o600
    secret = key_file.read_text().strip()
    assert subject(created, secret) == "alice"
    again = token(elsewhere, CONVEYOR_INGEST_JWT_KEY_FILE=str(key_file))
    assert again.stderr == f"conveyor-ingest token: signed with {key_file}\n"
    assert subject(again, secret) == "alice"


def test_the_secret_setting_is_named_when_it_signs(tmp_path: Path) -> None:
    result = token(tmp_path, CONVEYOR_INGEST_JWT_SECRET="s" * 40)
    assert result.returncode == 0, result.stderr
    assert subject(result, "s" * 40) == "alice"
    assert result.stderr == "conveyor-ingest token: signed with CONVEYOR_INGEST_JWT_SECRET\n"
    assert list(tmp_path.iterdir()) == []
