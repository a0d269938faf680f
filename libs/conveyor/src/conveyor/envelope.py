"""The versioned wire format of a task: flat string fields on a stream entry.

Names follow CloudEvents 1.0 where they overlap (``id``, ``type``, ``source``,
``time``, ``datacontenttype``, ``data``). ``docs/wire-format.md`` is the
producer's reference; this module is its one implementation. A raw stream
entry becomes a frozen :class:`TaskEnvelope` here, at the boundary, or a
:class:`~conveyor.errors.EnvelopeDecodeError` that keeps the entry id, the raw
fields and the reason.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from conveyor import jsoncodec
from conveyor.errors import EnvelopeDecodeError, EnvelopeEncodeError
from conveyor.ids import new_task_id
from conveyor.priority import wire_priority

WIRE_VERSION = "1"
JSON_CONTENT_TYPE = "application/json"
TASK_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
MAX_ID_LENGTH = 128

RawFields = Mapping[bytes, bytes] | Mapping[str, str] | Mapping[bytes | str, bytes | str]

# The codec's encoder (compact, non-ASCII kept, no NaN/Infinity).
_PAYLOAD_ENCODER = jsoncodec.ENCODER
# Its C encoder, built once (JSONEncoder.encode builds one per call, half of its cost).
# No circular-reference markers (a shared dict would not be thread-safe): a cycle ends
# in RecursionError instead, refused like any payload that cannot be encoded.
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_PAYLOAD = (
    None
    if _C_ENCODER is None
    else _C_ENCODER(None, _PAYLOAD_ENCODER.default, json.encoder.encode_basestring, None, ":",
                    ",", False, False, False)
)  # fmt: skip


def _encode_payload(payload: Any) -> str:
    if _C_PAYLOAD is None:
        return jsoncodec.dumps(payload)
    try:
        return "".join(_C_PAYLOAD(payload, 0))
    except ValueError:
        jsoncodec.check_finite(payload)  # the path to a NaN/Infinity, when that is the cause
        raise


_OPTIONAL_TEXT = (
    "source",
    "time",
    "idempotency_key",
    "subject",
    "origin",
    "traceparent",
    "tracestate",
    "partition_key",
    "event_attributes",
    "priority",
    "workflow",
)
OPTIONAL_TEXT_FIELDS = _OPTIONAL_TEXT  # in to_fields() order, after max_attempts and timeout


@dataclass(frozen=True, slots=True)
class TaskEnvelope:
    """One task as it travels on the streams. ``data`` is the payload's JSON text."""

    id: str
    type: str
    queue: str
    data: str = "null"
    source: str = ""
    time: str = ""
    attempt: int = 1
    max_attempts: int | None = None
    timeout: float | None = None
    idempotency_key: str = ""
    subject: str = ""
    origin: str = ""
    traceparent: str = ""
    tracestate: str = ""
    partition_key: str = ""
    # JSON object text: the CloudEvents attributes of the event the task was made from.
    event_attributes: str = ""
    # Bumped by each change (PUT) of a task that has not started; 0 for an unchanged task.
    revision: int = 0
    # JSON object text: the task's place in a workflow (conveyor.workflows); "" for most tasks.
    workflow: str = ""
    payload: Any = field(default=None, compare=False, repr=False)
    # "high" or "low" (conveyor.priority); "" is normal and is not written.
    priority: str = ""

    def to_fields(self) -> dict[str, str]:
        """Encode as XADD fields; empty optional fields are left out."""
        fields = {
            "v": WIRE_VERSION,
            "id": self.id,
            "type": self.type,
            "queue": self.queue,
            "datacontenttype": JSON_CONTENT_TYPE,
            "data": self.data,
            "attempt": str(self.attempt),
        }
        if self.max_attempts is not None:
            fields["max_attempts"] = str(self.max_attempts)
        if self.timeout is not None:
            fields["timeout"] = repr(self.timeout)
        for name in _OPTIONAL_TEXT:
            value = getattr(self, name)
            if value:
                fields[name] = value
        if self.revision:
            fields["revision"] = str(self.revision)
        return fields

    def next_attempt(self) -> TaskEnvelope:
        """The same task, one attempt later."""
        return replace(self, attempt=self.attempt + 1)

    @property
    def effective_idempotency_key(self) -> str:
        """The key effects are deduplicated by: the given one, else the task id."""
        return self.idempotency_key or self.id


def new_envelope(
    task_type: str,
    payload: Any,
    queue: str,
    *,
    source: str = "",
    max_attempts: int | None = None,
    timeout: float | None = None,
    idempotency_key: str = "",
    subject: str = "",
    origin: str = "",
    traceparent: str = "",
    tracestate: str = "",
    task_id: str | None = None,
    partition_key: str = "",
    event_attributes: str = "",
    priority: str = "",
) -> TaskEnvelope:
    """Build a new task envelope with a fresh time-ordered id and the current time."""
    if not TASK_TYPE.match(task_type):
        msg = f"invalid task type {task_type!r}"
        raise EnvelopeEncodeError(msg)
    try:
        data = _encode_payload(payload)
    except (TypeError, ValueError, RecursionError) as exc:
        msg = f"payload is not JSON-serialisable: {exc}"
        raise EnvelopeEncodeError(msg) from exc
    ms = time.time_ns() // 1_000_000
    return TaskEnvelope(
        id=task_id or new_task_id(ms),
        type=task_type,
        queue=queue,
        data=data,
        source=source,
        time=_now_text(ms),
        max_attempts=max_attempts,
        timeout=timeout,
        idempotency_key=idempotency_key,
        subject=subject,
        origin=origin,
        traceparent=traceparent,
        tracestate=tracestate,
        partition_key=partition_key,
        event_attributes=event_attributes,
        payload=payload,
        priority=_new_priority(priority) if priority else "",
    )


def _new_priority(text: str) -> str:
    try:
        return wire_priority(text)
    except ValueError as exc:
        raise EnvelopeEncodeError(str(exc)) from exc


@functools.lru_cache(maxsize=4)
def _now_text(ms: int) -> str:
    # Cached: a busy producer stamps many envelopes within one millisecond.
    moment = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
    return format_time(moment)


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds, as CloudEvents ``time`` is written."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode_envelope(entry_id: str, raw: RawFields, queue: str) -> TaskEnvelope:
    """Read a stream entry into a TaskEnvelope, or raise EnvelopeDecodeError.

    ``queue`` is the queue whose stream the entry came from; an entry naming
    another queue is rejected.
    """
    try:
        # Inline decode (no call per field): this runs once per task on the worker's hot path.
        # redis-py gives bytes; text fields (tests, other producers) take the second way.
        try:
            fields = {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]
        except AttributeError:
            fields = {as_text(k): as_text(v) for k, v in raw.items()}
    except UnicodeDecodeError as exc:
        raise EnvelopeDecodeError(entry_id, raw, "fields are not valid UTF-8") from exc
    try:
        return _build(fields, queue)
    except _InvalidFieldError as exc:
        raise EnvelopeDecodeError(entry_id, raw, str(exc)) from exc


class _InvalidFieldError(ValueError):
    pass


def as_text(value: bytes | str) -> str:
    """A stream field as text (redis-py gives bytes; tests and producers may give str)."""
    return value.decode() if isinstance(value, bytes) else value


def _build(fields: dict[str, str], queue: str) -> TaskEnvelope:
    version = fields.get("v")
    if version != WIRE_VERSION:
        msg = f"unsupported envelope version {version!r} (expected {WIRE_VERSION!r})"
        raise _InvalidFieldError(msg)
    task_id = _required(fields, "id")
    if "{" in task_id or "}" in task_id:
        msg = "field 'id' must not contain '{' or '}'"
        raise _InvalidFieldError(msg)
    if len(task_id) > MAX_ID_LENGTH:
        msg = f"field 'id' is longer than {MAX_ID_LENGTH} characters"
        raise _InvalidFieldError(msg)
    task_type = _required(fields, "type")
    if not _valid_type(task_type):
        msg = f"field 'type' {task_type!r} is not a valid task type"
        raise _InvalidFieldError(msg)
    entry_queue = fields.get("queue", queue)
    if entry_queue != queue:
        msg = f"field 'queue' is {entry_queue!r} but the entry is on queue {queue!r}"
        raise _InvalidFieldError(msg)
    content_type = fields.get("datacontenttype", JSON_CONTENT_TYPE)
    if content_type != JSON_CONTENT_TYPE:
        msg = f"field 'datacontenttype' must be {JSON_CONTENT_TYPE!r}"
        raise _InvalidFieldError(msg)
    data = _required(fields, "data")
    payload = _payload(data)
    idempotency_key = fields.get("idempotency_key", "")
    if "{" in idempotency_key or "}" in idempotency_key:
        msg = "field 'idempotency_key' must not contain '{' or '}'"
        raise _InvalidFieldError(msg)
    get = fields.get
    revision = get("revision")
    attributes = get("event_attributes")
    return TaskEnvelope(
        id=task_id,
        type=task_type,
        queue=queue,
        data=data,
        source=get("source", ""),
        time=get("time", ""),
        attempt=_integer(fields, "attempt", default=1),
        max_attempts=_optional_integer(fields, "max_attempts"),
        timeout=_optional_seconds(fields, "timeout"),
        idempotency_key=idempotency_key,
        subject=get("subject", ""),
        origin=get("origin", ""),
        traceparent=get("traceparent", ""),
        tracestate=get("tracestate", ""),
        partition_key=get("partition_key", ""),
        event_attributes=_event_attributes(attributes) if attributes else "",
        revision=_revision(revision) if revision else 0,  # no call for unchanged tasks
        workflow=_workflow(workflow) if (workflow := get("workflow")) else "",
        payload=payload,
        priority=_priority(level) if (level := get("priority")) else "",
    )


def _priority(text: str) -> str:
    try:
        return wire_priority(text)
    except ValueError as exc:
        msg = f"field {exc}"
        raise _InvalidFieldError(msg) from exc


def encode_event_attributes(attributes: Mapping[str, str]) -> str:
    """The ``event_attributes`` field of ``attributes`` ("" for none): compact JSON text."""
    if not attributes:
        return ""
    return jsoncodec.dumps(dict(attributes))


def decode_event_attributes(text: str) -> dict[str, str]:
    """The ``event_attributes`` field as a dict (empty for ""); ValueError when malformed."""
    if not text:
        return {}
    value = jsoncodec.loads(text)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        msg = "field 'event_attributes' must be a JSON object of strings"
        raise ValueError(msg)
    return value


def _event_attributes(text: str) -> str:
    try:
        decode_event_attributes(text)
    except ValueError as exc:
        msg = f"field 'event_attributes' is invalid: {exc}"
        raise _InvalidFieldError(msg) from exc
    return text


def _workflow(text: str) -> str:
    try:
        value = jsoncodec.loads(text)
    except ValueError as exc:
        msg = "field 'workflow' is not JSON"
        raise _InvalidFieldError(msg) from exc
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        msg = "field 'workflow' must be a JSON object with a string 'id'"
        raise _InvalidFieldError(msg)
    return text


def _revision(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit():
        msg = f"field 'revision' must be a non-negative integer, got {raw!r}"
        raise _InvalidFieldError(msg)
    return int(raw)


@functools.lru_cache(maxsize=1024)
def _valid_type(task_type: str) -> bool:
    # Cached: a queue carries few distinct types, and the regex costs more than the lookup.
    return TASK_TYPE.match(task_type) is not None


def _payload(data: str) -> Any:
    if data == "null":
        return None  # no-payload tasks are common; json.loads costs more than this test
    try:
        return jsoncodec.loads(data)
    except ValueError as exc:
        msg = f"field 'data' is not valid JSON: {exc}"
        raise _InvalidFieldError(msg) from exc


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name)
    if not value:
        msg = f"field {name!r} is missing"
        raise _InvalidFieldError(msg)
    return value


def _integer(fields: dict[str, str], name: str, default: int) -> int:
    value = _optional_integer(fields, name)
    return default if value is None else value


def _optional_integer(fields: dict[str, str], name: str) -> int | None:
    raw = fields.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        msg = f"field {name!r} must be an integer, got {raw!r}"
        raise _InvalidFieldError(msg) from None
    if value < 1:
        msg = f"field {name!r} must be at least 1, got {value}"
        raise _InvalidFieldError(msg)
    return value


def _optional_seconds(fields: dict[str, str], name: str) -> float | None:
    raw = fields.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        msg = f"field {name!r} must be a number of seconds, got {raw!r}"
        raise _InvalidFieldError(msg) from None
    if not math.isfinite(value) or value <= 0:
        msg = f"field {name!r} must be a positive number of seconds, got {raw!r}"
        raise _InvalidFieldError(msg)
    return value
