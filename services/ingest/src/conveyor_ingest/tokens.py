"""Signing keys and tokens: the dev key file and ``conveyor-ingest token``.

The HS256 key is CONVEYOR_INGEST_JWT_SECRET when set, else a key file. The server
reads ``CONVEYOR_INGEST_JWT_KEY_FILE`` (``.conveyor/dev-jwt.key`` by default, relative
to its folder) and creates it, mode 0600, when missing. The token command signs with
the file the running API uses: the file the setting names (created when missing, the
way ``make run`` mints its first token before the API starts), or else the nearest
``.conveyor/dev-jwt.key`` in the current folder or one above it; it never creates a
default key in an unrelated folder, and says on stderr which key it signed with.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

import jwt

from conveyor.errors import ConfigurationError
from conveyor.settings import load_settings
from conveyor_ingest.settings import IngestSettings

DEFAULT_TTL_S = 86_400
KEY_FILE_SETTING = "CONVEYOR_INGEST_JWT_KEY_FILE"


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


def find_key_file(settings: IngestSettings, start: Path | None = None) -> Path:
    """The key file the token command signs with, as an absolute path.

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


def _token_secret(settings: IngestSettings) -> str:
    """The secret the token command signs with; says on stderr where it came from."""
    if settings.jwt_secret is not None:
        sys.stderr.write("conveyor-ingest token: signed with CONVEYOR_INGEST_JWT_SECRET\n")
        return settings.jwt_secret.get_secret_value()
    path = find_key_file(settings)
    created = not path.exists()
    secret = ensure_dev_key(path)
    done = f"created the key file {path} and signed with it" if created else f"signed with {path}"
    sys.stderr.write(f"conveyor-ingest token: {done}\n")
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
        _token_secret(settings),
        args.sub,
        args.scope.replace(",", " ").split(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_s=args.ttl,
    )
    sys.stdout.write(token + "\n")
    return 0
