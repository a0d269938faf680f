"""Limits changed at run time: one JSON document in Redis that every replica applies.

The document holds the clients' rate limits by tier (a token's ``tier`` claim) and by
subject, and per task type a rate limit, a concurrency cap and breaker settings. A field
left out keeps the static default (settings, handler options). It lives as the last
entry of the limits stream (``Keys.limits``): each change appends the whole new
document with its version, who made it and the one before, in one script
(``limits_write.lua``), so the stream is also the audit trail, bounded to
HISTORY_ENTRIES. Replicas poll the stream's last entry id every POLL_S (one cheap
XREVRANGE) and apply a new document as soon as it appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from redis.asyncio import Redis

from conveyor import jsoncodec
from conveyor.connection import TRANSIENT_ERRORS
from conveyor.envelope import TASK_TYPE, as_text
from conveyor.errors import ConflictError
from conveyor.keys import Keys
from conveyor.lua import register
from conveyor.rates import Rate

log = structlog.get_logger(__name__)

POLL_S = 0.5
HISTORY_ENTRIES = 1000
ERROR_PAUSE_S = 1.0

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^{}]+$")]
TaskType = Annotated[str, StringConstraints(pattern=TASK_TYPE.pattern)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ClientRate(_Spec):
    """A client's rate limit: ``rate`` requests/s on average, ``burst`` at once."""

    rate: float = Field(gt=0, le=1_000_000, description="Requests per second.")
    burst: int = Field(ge=1, le=10_000_000, description="Requests allowed at once.")

    def as_rate(self) -> Rate:
        """The GCRA parameters."""
        return Rate(self.rate, self.burst)


class BreakerSpec(_Spec):
    """Breaker settings of one task type (left out: CONVEYOR_WORKER_BREAKER_*)."""

    enabled: bool | None = None
    failure_ratio: float | None = Field(default=None, gt=0, le=1)
    min_volume: int | None = Field(default=None, ge=1)
    window: float | None = Field(default=None, gt=0, description="Seconds.")
    open: float | None = Field(default=None, gt=0, description="Seconds.")


class TaskTypeLimits(_Spec):
    """Limits of one task type (left out: the handler's options)."""

    rate: float | None = Field(default=None, gt=0, description="Tasks per second, all workers.")
    burst: int | None = Field(default=None, ge=1, description="Tasks at once (default 1).")
    concurrency: int | None = Field(default=None, ge=1, description="Running at once per process.")
    breaker: BreakerSpec | None = None

    def as_rate(self) -> Rate | None:
        """The type's rate, or None when this document does not set one."""
        return None if self.rate is None else Rate(self.rate, self.burst or 1)


class LimitsDocument(_Spec):
    """The run-time limits (PUT /api/v1/limits); what is left out keeps its default."""

    tiers: dict[Name, ClientRate] = Field(
        default_factory=dict, description="Client rate limits by the token's `tier` claim."
    )
    subjects: dict[Name, ClientRate] = Field(
        default_factory=dict, description="Client rate limits by token subject (win over tiers)."
    )
    task_types: dict[TaskType, TaskTypeLimits] = Field(
        default_factory=dict, description="Rate limit, concurrency and breaker per task type."
    )

    def client_rate(self, subject: str, tier: str, default: Rate) -> Rate:
        """The rate limit of a client: its subject's, else its tier's, else ``default``."""
        if self.subjects:
            found = self.subjects.get(subject)
            if found is not None:
                return found.as_rate()
        if tier and self.tiers:
            found = self.tiers.get(tier)
            if found is not None:
                return found.as_rate()
        return default


@dataclass(frozen=True, slots=True)
class LimitsVersion:
    """One version of the document, as the stream's entry holds it."""

    version: int
    document: LimitsDocument
    by: str = ""
    at_ms: int = 0
    before: str = "{}"  # the previous document's JSON (the audit's "before")
    entry_id: str = ""


EMPTY = LimitsVersion(0, LimitsDocument())


Entry = tuple[bytes, dict[bytes, bytes]]


async def _newest(client: Redis, keys: Keys, count: int) -> list[Entry]:
    """The last ``count`` entries of the limits stream, newest first."""
    reply = await client.execute_command("XREVRANGE", keys.limits, "+", "-", "COUNT", count)
    return [(entry_id, dict(fields)) for entry_id, fields in reply or []]


def _decode(entry_id: bytes | str, raw: dict[bytes, bytes]) -> LimitsVersion:
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    return LimitsVersion(
        version=int(fields["version"]),
        document=LimitsDocument.model_validate_json(fields["document"]),
        by=fields.get("by", ""),
        at_ms=int(fields.get("at_ms", "0")),
        before=fields.get("before", "{}"),
        entry_id=as_text(entry_id),
    )


async def read_limits(client: Redis, keys: Keys) -> LimitsVersion:
    """The document in force (version 0, empty, before any change)."""
    last = await _newest(client, keys, 1)
    return _decode(*last[0]) if last else EMPTY


async def limits_history(client: Redis, keys: Keys, count: int) -> list[LimitsVersion]:
    """The last ``count`` changes, newest first (the audit trail)."""
    return [_decode(i, f) for i, f in await _newest(client, keys, count)]


async def write_limits(
    client: Redis,
    keys: Keys,
    document: LimitsDocument,
    by: str,
    expected_version: int | None = None,
) -> LimitsVersion:
    """Make ``document`` the one in force; ConflictError when ``expected_version`` is stale."""
    script = register(client, "limits_write")
    at_ms = time.time_ns() // 1_000_000
    args: list[str | int] = [
        jsoncodec.dumps(document.model_dump(mode="json", exclude_none=True)),
        by,
        at_ms,
        "" if expected_version is None else expected_version,
        HISTORY_ENTRIES,
    ]
    reply = await script(keys=[keys.limits], args=args)
    if as_text(reply[0]) == "conflict":
        msg = f"the limits are at version {int(reply[1])}, not {expected_version}: read them again"
        raise ConflictError(msg)
    return LimitsVersion(int(reply[1]), document, by, at_ms, as_text(reply[2]))


class LimitsWatcher:
    """Applies every new version of the document within POLL_S (plus one round trip)."""

    def __init__(self, client: Redis, keys: Keys, apply: Callable[[LimitsVersion], None]) -> None:
        self._client = client
        self._keys = keys
        self._apply = apply
        self._seen = ""
        self.current = EMPTY

    async def poll(self) -> bool:
        """Read the last entry id; apply its document when it is new. True: applied."""
        last = await _newest(self._client, self._keys, 1)
        if not last or as_text(last[0][0]) == self._seen:
            return False
        entry_id = as_text(last[0][0])
        try:
            version = _decode(*last[0])
        except (ValueError, KeyError) as exc:
            # Written by hand past the API: keep the limits in force, say so once.
            log.error("limits_undecodable", entry_id=entry_id, error=str(exc))  # noqa: TRY400 - no traceback needed
            self._seen = entry_id
            return False
        self._seen = version.entry_id
        self.current = version
        self._apply(version)
        log.info("limits_applied", version=version.version, by=version.by)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop``; Redis errors are logged and retried."""
        while not stop.is_set():
            try:
                await self.poll()
                pause = POLL_S
            except TRANSIENT_ERRORS as exc:
                log.warning("limits_poll_failed", error=str(exc))
                pause = ERROR_PAUSE_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
