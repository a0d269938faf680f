"""Signing keys and tokens of the ingest API: the dev key file and minting a token.

Shared by ingest (which verifies with the key) and the two commands that mint a
token with it, ``conveyor-ingest token`` and ``conveyor token``. The HS256 key is
CONVEYOR_INGEST_JWT_SECRET when set, else a key file. The server reads
``CONVEYOR_INGEST_JWT_KEY_FILE`` (``.conveyor/dev-jwt.key`` by default, relative to
its folder) and creates it, mode 0600, when missing. A token command signs with the
file the running API uses: the file the setting names (created when missing, the way
``make run`` mints its first token before the API starts), or else the nearest
``.conveyor/dev-jwt.key`` in the current folder or one above it; it never creates a
default key in an unrelated folder, and says on stderr which key it signed with.
Needs PyJWT (ingest's dependency, and the ``[cli]`` extra's).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

import jwt
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conveyor.errors import ConfigurationError

DEFAULT_TTL_S = 86_400
KEY_FILE_SETTING = "CONVEYOR_INGEST_JWT_KEY_FILE"


class TokenSettings(BaseSettings):
    """The ingest API's HS256 key and claims (``CONVEYOR_INGEST_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_INGEST_", extra="ignore", frozen=True)

    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 shared secret; unset: the local dev key file is used."
    )
    jwt_key_file: str = Field(
        default=".conveyor/dev-jwt.key",
        description="Dev HS256 key file (mode 0600), created when no secret is set.",
    )
    jwt_issuer: str = Field(default="conveyor", description="Required `iss` claim.")
    jwt_audience: str = Field(default="conveyor", description="Required `aud` claim.")


def ensure_dev_key(path: Path) -> str:
    """The key in ``path``, creating it (mode 0600) if missing.

    The key is written to a private temporary file first and then hard-linked into
    place, so a concurrent reader (the server and the CLI may start together) never
    sees a half-written file and exactly one key wins.
    """
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process published its key first: use that one
    finally:
        temporary.unlink()
    return path.read_text(encoding="ascii").strip()


def signing_secret(settings: TokenSettings) -> str:
    """The HS256 secret the server verifies with and the CLI signs with."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    return ensure_dev_key(Path(settings.jwt_key_file))


def find_key_file(settings: TokenSettings, start: Path | None = None) -> Path:
    """The key file a token command signs with, as an absolute path.

    A file named by CONVEYOR_INGEST_JWT_KEY_FILE is that file. Otherwise the default
    relative path is looked for in ``start`` (the current folder) and each folder above
    it, the way git finds its repository: run anywhere inside the project, the command
    finds the key ``make run`` keeps at its top. Found nowhere: ConfigurationError
    naming the setting.
    """
    configured = Path(settings.jwt_key_file)
    if "jwt_key_file" in settings.model_fields_set:
        return configured.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / configured).is_file():
            return folder / configured
    msg = (
        f"no key file {configured} in {here} or a folder above it. Run this in the project "
        f"folder after `make run` (or the API) created the key there, or set "
        f"{KEY_FILE_SETTING} to the key file the API uses (or "
        "CONVEYOR_INGEST_JWT_SECRET to its secret)"
    )
    raise ConfigurationError(msg)


def command_secret(settings: TokenSettings, program: str) -> str:
    """The secret a token command signs with; says on stderr where it came from."""
    if settings.jwt_secret is not None:
        sys.stderr.write(f"{program}: signed with CONVEYOR_INGEST_JWT_SECRET\n")
        return settings.jwt_secret.get_secret_value()
    path = find_key_file(settings)
    created = not path.exists()
    secret = ensure_dev_key(path)
    done = f"created the key file {path} and signed with it" if created else f"signed with {path}"
    sys.stderr.write(f"{program}: {done}\n")
    return secret


def mint_token(
    secret: str,
    subject: str,
    scopes: list[str],
    *,
    issuer: str = "conveyor",
    audience: str = "conveyor",
    ttl_s: int = DEFAULT_TTL_S,
) -> str:
    """An HS256 token for ``subject`` with ``scopes``, valid ``ttl_s`` seconds."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def command_token(
    settings: TokenSettings, program: str, subject: str, scope: str, ttl_s: int
) -> str:
    """What a token command prints: a token for ``subject`` with the space- or
    comma-separated ``scope``, signed with the key the API uses (see ``command_secret``)."""
    if not subject.strip():
        msg = "--sub must name the client; an empty or blank subject is refused"
        raise ValueError(msg)
    return mint_token(
        command_secret(settings, program),
        subject,
        scope.replace(",", " ").split(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_s=ttl_s,
    )
