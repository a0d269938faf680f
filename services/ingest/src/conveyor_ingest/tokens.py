"""Signing keys and tokens: the dev key file and ``conveyor-ingest token``.

The server and the CLI share one rule for the HS256 key: CONVEYOR_INGEST_JWT_SECRET
when set, else the key file (``.conveyor/dev-jwt.key`` by default), created with mode
0600 by whichever runs first.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

import jwt

from conveyor.settings import load_settings
from conveyor_ingest.settings import IngestSettings

DEFAULT_TTL_S = 86_400


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


def signing_secret(settings: IngestSettings) -> str:
    """The HS256 secret the server verifies with and the CLI signs with."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    return ensure_dev_key(Path(settings.jwt_key_file))


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


def token_command(argv: list[str]) -> int:
    """``conveyor-ingest token --sub NAME --scope "tasks:write tasks:read"``: print a token."""
    parser = argparse.ArgumentParser(prog="conveyor-ingest token")
    parser.add_argument("--sub", required=True, help="the client's name (JWT sub)")
    parser.add_argument("--scope", default="tasks:write tasks:read", help="space-separated")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_S, help="seconds (default 24 h)")
    args = parser.parse_args(argv)
    if not args.sub.strip():
        parser.error("--sub must name the client; an empty or blank subject is refused")
    settings = load_settings(IngestSettings)
    token = mint_token(
        signing_secret(settings),
        args.sub,
        args.scope.replace(",", " ").split(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_s=args.ttl,
    )
    sys.stdout.write(token + "\n")
    return 0
