"""JWT bearer authentication: verification with an allow-list of algorithms, and scopes.

HS* tokens are checked with the shared secret; RS256/ES256 tokens with the public
key named by their ``kid`` header (``<kid>.pem`` in the keys directory), so keys
rotate by adding a file. ``exp``, ``iss`` and ``aud`` are required. A verified
token is cached until its ``exp`` (the benchmark's auth cost is one verify per
distinct token).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt

from conveyor_ingest.responses import ApiError
from conveyor_ingest.settings import IngestSettings

CACHE_LIMIT = 10_000


class Scope(StrEnum):
    """What a token allows, checked per route."""

    TASKS_WRITE = "tasks:write"
    TASKS_READ = "tasks:read"
    SCHEDULES_WRITE = "schedules:write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated client."""

    subject: str
    scopes: frozenset[str]
    tier: str = ""  # the token's `tier` claim: picks the client's rate limit (docs/api.md)

    @property
    def is_admin(self) -> bool:
        """Admins see every client's tasks and manage dead letters and queues."""
        return Scope.ADMIN in self.scopes

    def require(self, scope: Scope) -> None:
        """403 unless the token carries ``scope`` (or admin)."""
        if scope not in self.scopes and not self.is_admin:
            raise ApiError(403, f"this token lacks the {scope.value!r} scope")


ANONYMOUS = Principal(subject="anonymous", scopes=frozenset({Scope.ADMIN.value}))


class TokenVerifier:
    """Verifies bearer tokens against the configured keys; caches results until exp."""

    def __init__(self, settings: IngestSettings, secret: str | None) -> None:
        self._settings = settings
        self._secret = secret
        self._keys_dir = (
            Path(settings.jwt_public_keys_dir) if settings.jwt_public_keys_dir else None
        )
        self._cache: dict[str, tuple[Principal, float]] = {}

    def verify(self, header: str | None) -> Principal:
        """The principal of an ``Authorization`` header value, or a 401 ApiError."""
        if not header:
            msg = "missing bearer token"
            raise _unauthorized(msg)
        # Cached by the header value itself: a client sends the same one on every request.
        cached = self._cache.get(header)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            msg = "use 'Authorization: Bearer <token>'"
            raise _unauthorized(msg)
        principal, exp = self._decode(token.strip())
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()  # bounded memory; a refill costs one verify per token
        self._cache[header] = (principal, exp)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
            algorithm = str(header.get("alg", ""))
            if algorithm not in self._settings.jwt_algorithms:
                msg = f"token algorithm {algorithm!r} is not accepted"
                raise _unauthorized(msg)
            claims = jwt.decode(
                token,
                key=self._key(algorithm, header.get("kid")),
                algorithms=[algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            msg = "token expired"
            raise _unauthorized(msg) from exc
        except jwt.InvalidKeyError as exc:  # e.g. an ES256 token naming an RSA key's kid
            msg = f"token algorithm {algorithm!r} does not match the key of its 'kid'"
            raise _unauthorized(msg) from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthorized(_token_problem(exc)) from exc
        _check_subject(str(claims["sub"]))
        return _principal(claims), float(claims["exp"])

    def _key(self, algorithm: str, kid: Any) -> Any:
        if algorithm.startswith("HS"):
            if not self._secret:
                msg = "HS tokens are not accepted: no secret configured"
                raise _unauthorized(msg)
            return self._secret
        if self._keys_dir is None or not isinstance(kid, str) or not kid.isidentifier():
            msg = "token needs a known 'kid' header"
            raise _unauthorized(msg)
        path = self._keys_dir / f"{kid}.pem"
        if not path.is_file():
            msg = f"unknown key id {kid!r}"
            raise _unauthorized(msg)
        return path.read_bytes()


def _check_subject(subject: str) -> None:
    # An empty subject would read as "no subject", which only admins may see.
    if not subject.strip():
        msg = "token subject ('sub') is empty; the token must name its client"
        raise _unauthorized(msg)
    if "{" in subject or "}" in subject:
        msg = "token subject must not contain '{' or '}'"
        raise _unauthorized(msg)


def _principal(claims: dict[str, Any]) -> Principal:
    scope = claims.get("scope", "")
    scopes = scope.split() if isinstance(scope, str) else [str(s) for s in scope]
    tier = claims.get("tier")
    return Principal(
        subject=str(claims["sub"]),
        scopes=frozenset(scopes),
        tier=tier if isinstance(tier, str) else "",
    )


def _token_problem(exc: jwt.InvalidTokenError) -> str:
    """What is wrong with a token, in words a client can act on."""
    if isinstance(exc, jwt.DecodeError) and not isinstance(exc, jwt.InvalidSignatureError):
        # PyJWT's text here is a codec's or base64's ("'utf-8' codec can't decode...").
        return "malformed token: a JWT is three base64url parts, header.payload.signature"
    return f"invalid token: {exc}"


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="conveyor"'})
