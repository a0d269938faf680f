"""Cron schedule definitions and the schedule-change messages about them.

One model serves all three places a schedule comes from or goes to: the ingest
API (validation), the declarative schedules file, and the scheduler's store.

Change messages (``Keys.schedule_changes``: ingest -> scheduler, and
``Keys.schedule_applied``: scheduler -> ingest) are flat fields:

| field | value |
|---|---|
| ``v`` | ``1`` |
| ``op`` | ``upsert`` or ``delete`` |
| ``id`` | the schedule id |
| ``definition`` | the ScheduleDefinition as JSON (upsert only) |
| ``at_ms`` | when the change was made (Unix ms) |
| ``source`` | ``api`` or ``file`` |
| ``seq`` | API changes: ingest's number for the change (increasing), so its listing can
  tell an applied change older than the one it accepted last (optional) |
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from conveyor import jsoncodec
from conveyor.cron import CronError, parse_cron
from conveyor.envelope import TASK_TYPE, as_text, format_time
from conveyor.priority import Priority
from conveyor.settings import QUEUE_NAME

CHANGE_VERSION = "1"
SCHEDULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
# The start of every "this schedule cannot fire" message (conveyor.cron says the same
# of 30 February), so a client sees one message for both.
NEVER_FIRES = "expression can never fire"


class MisfirePolicy(StrEnum):
    """What to do with fires missed while no scheduler replica ran."""

    SKIP = "skip"  # drop them; continue from now
    FIRE_ONCE = "fire_once"  # fire once for all of them, then continue
    CATCH_UP = "catch_up"  # fire each of them, up to catch_up_max


class ChangeOp(StrEnum):
    """A schedule change."""

    UPSERT = "upsert"
    DELETE = "delete"


# JSON has no NaN or Infinity: refused here (API, schedules file, store), never stored as null.
FiniteJson = Annotated[JsonValue, AfterValidator(jsoncodec.check_finite)]
_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TaskTemplate(BaseModel):
    """The task each fire enqueues."""

    model_config = _CONFIG

    type: str = Field(pattern=TASK_TYPE.pattern, description="Task type (handler name).")
    payload: FiniteJson = Field(default=None, description="Payload of every fired task.")
    queue: str = Field(default="default", pattern=QUEUE_NAME.pattern)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    timeout: float | None = Field(default=None, gt=0, le=86_400)
    partition_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Partition key of the fired tasks (default: the schedule id).",
    )
    priority: Priority = Field(
        default=Priority.NORMAL, description="Priority level of the fired tasks."
    )


class ScheduleDefinition(BaseModel):
    """A cron schedule: when it fires and what it enqueues."""

    model_config = _CONFIG

    id: str = Field(pattern=SCHEDULE_ID, description="Schedule id, unique.")
    cron: str = Field(min_length=1, max_length=200, description="Cron expression or descriptor.")
    timezone: str = Field(default="UTC", description="IANA time zone of the expression.")
    task: TaskTemplate
    enabled: bool = True
    misfire: MisfirePolicy = MisfirePolicy.FIRE_ONCE
    catch_up_max: int = Field(default=10, ge=1, le=1000, description="Most fires catch_up makes.")
    start_at: datetime | None = Field(default=None, description="No fire before this instant.")
    end_at: datetime | None = Field(default=None, description="No fire after this instant.")
    jitter: float = Field(default=0.0, ge=0, le=3600, description="Random delay up to N s.")
    created_at_ms: int = Field(
        default_factory=lambda: int(datetime.now(UTC).timestamp() * 1000),
        description="Creation instant; `@every` schedules count from it.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"{value!r} is not a known IANA time zone, e.g. UTC or Europe/Paris"
            raise ValueError(msg) from exc
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        # Errors name their field (``cron``, ``timezone``, ``end_at``...), not the whole body.
        for name in ("start_at", "end_at"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                message = f"{name} needs a time zone offset, e.g. 2026-01-01T00:00:00Z"
                raise _field_error(name, message, moment)
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise _field_error("end_at", "end_at must be after start_at", self.end_at)
        try:
            parse_cron(self.cron, timezone=self.timezone, anchor=self.anchor)
        except CronError as exc:
            zone_prefixed = self.cron.lstrip().startswith(("CRON_TZ=", "TZ="))
            if exc.subject == "timezone" and not zone_prefixed:
                raise _field_error("timezone", str(exc), self.timezone) from exc
            raise _field_error("cron", str(exc), self.cron) from exc
        return self

    @property
    def anchor(self) -> datetime:
        """The creation instant as an aware UTC datetime."""
        return datetime.fromtimestamp(self.created_at_ms / 1000, tz=UTC)


def _field_error(name: str, message: str, value: object) -> ValidationError:
    """A validation error that says ``message`` at field ``name`` (not at the whole body)."""
    error = PydanticCustomError("schedule", "{message}", {"message": message})
    details = InitErrorDetails(type=error, loc=(name,), input=value)
    return ValidationError.from_exception_data("ScheduleDefinition", [details])


def never_fires(definition: ScheduleDefinition, now: datetime) -> tuple[str, str] | None:
    """Why ``definition`` can never fire again after ``now``: (field, message), or None.

    The API refuses such a schedule when it is created or replaced, with the same
    message as an expression that can never fire at all (30 February): e.g. a 7-field
    expression whose years are all past. Stored schedules are not re-checked (one that
    ran out simply stops firing).
    """
    after = max(now, definition.start_at or now)
    schedule = parse_cron(definition.cron, timezone=definition.timezone, anchor=definition.anchor)
    following = schedule.next_after(after)
    if following is None:
        return "cron", f"{NEVER_FIRES}: no instant of it is after {format_time(after)}"
    if definition.end_at is not None and following > definition.end_at:
        message = f"{NEVER_FIRES}: its next instant, {format_time(following)}, is after end_at"
        return "end_at", message
    return None


def change_fields(
    op: ChangeOp, schedule_id: str, at_ms: int, source: str, definition: ScheduleDefinition | None
) -> dict[str, str]:
    """XADD fields of a schedule change."""
    fields = {
        "v": CHANGE_VERSION,
        "op": op.value,
        "id": schedule_id,
        "at_ms": str(at_ms),
        "source": source,
    }
    if definition is not None:
        fields["definition"] = definition.model_dump_json()
    return fields


def decode_change(
    raw: Mapping[bytes, bytes] | Mapping[str, str],
) -> tuple[ChangeOp, str, ScheduleDefinition | None, dict[str, Any]]:
    """Read a change: (op, id, definition or None, the other fields). Raises ValueError."""
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    if fields.get("v") != CHANGE_VERSION:
        msg = f"unsupported schedule change version {fields.get('v')!r}"
        raise ValueError(msg)
    op = ChangeOp(fields["op"])
    definition = None
    if op is ChangeOp.UPSERT:
        definition = ScheduleDefinition.model_validate_json(fields["definition"])
    meta = {
        "at_ms": int(fields.get("at_ms", "0")),
        "source": fields.get("source", ""),
        "seq": fields.get("seq", ""),
    }
    return op, fields["id"], definition, meta


def upcoming(definition: ScheduleDefinition, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` instants ``definition`` fires at after ``now`` (at most; none
    when it is disabled), within its ``start_at`` / ``end_at``."""
    if not definition.enabled:
        return []
    schedule = parse_cron(definition.cron, timezone=definition.timezone, anchor=definition.anchor)
    after = max(now, definition.start_at or now)
    return [
        moment
        for moment in schedule.next_n(after, count)
        if definition.end_at is None or moment <= definition.end_at
    ]
