"""CloudEvents 1.0 as POST /api/v1/events reads them: the event model and its rules.

Rules come from the CloudEvents 1.0 texts, cited by section in the comments:
``spec.md`` (context attributes, naming, type system), ``formats/json-format.md``
(structured and batch JSON, ``data`` / ``data_base64``), ``bindings/http-protocol-binding.md``
(content modes, ``ce-`` headers) and ``extensions/distributed-tracing.md``. Everything
here is pure (no HTTP): routes/events.py reads the request and calls it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    RootModel,
    ValidationError,
    field_validator,
)

from conveyor import jsoncodec
from conveyor.envelope import TASK_TYPE
from conveyor.errors import JsonNumberError
from conveyor.settings import QUEUE_NAME
from conveyor_ingest.responses import field_errors

# spec.md "Naming Conventions": attribute names MUST be lower-case ASCII letters or digits
# and SHOULD NOT exceed 20 characters; Conveyor makes that bound a rule.
ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
MAX_EXTENSIONS = 16  # extension attributes carried per event (besides the four below)
MAX_ATTRIBUTE_LENGTH = 1024  # characters of one carried attribute value
# Extensions Conveyor reads itself (routing and trace context): never counted or carried.
CONSUMED_EXTENSIONS = frozenset({"queue", "partitionkey", "priority", "traceparent", "tracestate"})
# spec.md "Type System", Integer: a signed 32-bit range.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# spec.md "Type System", String: no control characters U+0000-U+001F and U+007F-U+009F.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# RFC 3339 section 5.6 date-time (spec.md "Type System", Timestamp); "T" and "Z" may be
# lower-case (its section 5.6 note). Ranges are checked after the match.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$"
)
# W3C Trace Context traceparent, version 00 (extensions/distributed-tracing.md).
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
OCTET_STREAM = "application/octet-stream"


class ContentMode(StrEnum):
    """http-protocol-binding.md section 3: the mode follows from the Content-Type."""

    STRUCTURED = "structured"
    BATCH = "batch"
    BINARY = "binary"


def content_mode(content_type: str) -> ContentMode:
    """Batch for ``application/cloudevents-batch``, structured for ``application/cloudevents``,
    else binary (http-protocol-binding.md section 3: the prefix decides)."""
    media = content_type.lower()
    if media.startswith("application/cloudevents-batch"):
        return ContentMode.BATCH
    if media.startswith("application/cloudevents"):
        return ContentMode.STRUCTURED
    return ContentMode.BINARY


class CloudEvent(BaseModel):
    """One CloudEvent in the JSON event format (POST /api/v1/events, structured mode).

    Any other member is an extension attribute: kept on the task (``event_attributes``),
    at most MAX_EXTENSIONS of them, named by spec.md's naming rules, valued String,
    Boolean or Integer.
    """

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    specversion: Literal["1.0"] = Field(description="CloudEvents version: 1.0.")
    id: str = Field(min_length=1, max_length=200, description="Event id, unique per source.")
    source: str = Field(min_length=1, max_length=500, description="URI-reference.")
    type: str = Field(pattern=TASK_TYPE.pattern, description="Event type = the task type.")
    datacontenttype: str | None = Field(
        default=None, min_length=3, max_length=200, description="RFC 2046 media type of data."
    )
    dataschema: str | None = Field(default=None, min_length=1, max_length=500)
    subject: str | None = Field(default=None, min_length=1, max_length=500)
    time: str | None = Field(default=None, description="RFC 3339 time of the occurrence.")
    data: JsonValue = Field(default=None, description="The payload.")
    data_base64: str | None = Field(default=None, description="Binary data, Base64.")
    queue: str = Field(default="default", pattern=QUEUE_NAME.pattern, description="Extension.")
    partitionkey: str | None = Field(
        default=None, min_length=1, max_length=200, description="Partitioning extension."
    )
    traceparent: str | None = Field(default=None, description="Distributed Tracing extension.")
    tracestate: str | None = Field(default=None, max_length=MAX_ATTRIBUTE_LENGTH)
    priority: Literal["high", "normal", "low"] | None = Field(
        default=None, description="Extension: the task's priority level (default normal)."
    )

    @field_validator("time")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        # spec.md "time": if present, MUST adhere to RFC 3339.
        if value is not None and not is_rfc3339(value):
            msg = "time must be an RFC 3339 date-time, e.g. 2026-01-01T12:00:00Z"
            raise ValueError(msg)
        return value

    @field_validator("traceparent")
    @classmethod
    def _traceparent(cls, value: str | None) -> str | None:
        if value is not None and not _TRACEPARENT.match(value):
            msg = "traceparent must be a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>"
            raise ValueError(msg)
        return value

    @field_validator("id", "source", "subject", "dataschema", "partitionkey", "tracestate")
    @classmethod
    def _string(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            msg = "must not contain control characters (CloudEvents String type)"
            raise ValueError(msg)
        return value

    @field_validator("id", "source")
    @classmethod
    def _key_part(cls, value: str) -> str:
        # (source, id) form the task's effect idempotency key (keys.event_scope), which the
        # wire format keeps free of hash-tag braces (a worker would dead-letter the task).
        if "{" in value or "}" in value:
            msg = "must not contain '{' or '}' (it is part of the task's effect key)"
            raise ValueError(msg)
        return value


class EventBatch(RootModel[list[CloudEvent]]):
    """POST /api/v1/events with ``application/cloudevents-batch+json``: a JSON array of
    events in the JSON format (json-format.md section 4)."""


def is_rfc3339(text: str) -> bool:
    """Whether ``text`` is an RFC 3339 date-time (section 5.6), ranges included."""
    match = _RFC3339.match(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        offset: timezone = UTC
        if match.group(9):
            sign = -1 if match.group(9) == "-" else 1
            hours, minutes = int(match.group(10)), int(match.group(11))
            if minutes > 59:
                return False
            offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
        # Second 60 is a leap second (RFC 3339 section 5.7): valid, checked as 59.
        datetime(year, month, day, hour, minute, min(second, 59), tzinfo=offset)
    except ValueError:
        return False
    return second <= 60


@dataclass(frozen=True, slots=True)
class EventTask:
    """What a task needs from one validated event."""

    event: CloudEvent
    payload: Any
    attributes: dict[str, str] = field(default_factory=dict)


class EventError(ValueError):
    """An event that cannot become a task: field errors ``{"loc", "msg"}``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['loc']}: {e['msg']}" for e in errors))
        self.errors = errors


def validate_event(raw: Any, loc: str = "", header_names: bool = False) -> CloudEvent:
    """``raw`` (a decoded JSON object) as a CloudEvent, or EventError with field paths.

    ``loc`` prefixes every path (a batch item's index); ``header_names`` names the
    binary mode's ``ce-`` headers instead of the attributes.
    """
    if not isinstance(raw, dict):
        raise EventError([{"loc": loc or "body", "msg": "an event must be a JSON object"}])
    # json-format.md section 2.2: an attribute whose value is null is unset.
    present = {k: v for k, v in raw.items() if v is not None or k == "data"}
    try:
        return CloudEvent.model_validate(present)
    except ValidationError as exc:
        errors = field_errors(exc)
        for error in errors:
            name = "ce-" + error["loc"] if header_names else error["loc"]
            error["loc"] = f"{loc}.{name}" if loc else name
        raise EventError(errors) from exc


def event_task(event: CloudEvent, loc: str = "") -> EventTask:
    """The payload and carried attributes of a validated structured-mode event."""
    attributes = carried_attributes(event, loc)
    if event.data_base64 is not None:
        if "data" in event.model_fields_set:
            # json-format.md 3.1.1: data and data_base64 are mutually exclusive.
            message = "give data or data_base64, not both"
            raise EventError([{"loc": _at(loc, "data_base64"), "msg": message}])
        raw = _base64(event.data_base64, _at(loc, "data_base64"))
        return _bytes_task(event, raw, attributes, _at(loc, "data_base64"))
    if event.datacontenttype is not None and not is_json_type(event.datacontenttype):
        # json-format.md 3.1.2: data of a non-JSON type is an encoded content string.
        if not isinstance(event.data, str):
            message = "data of a non-JSON datacontenttype must be a string (bytes: data_base64)"
            raise EventError([{"loc": _at(loc, "data"), "msg": message}])
        return EventTask(event, _b64text(event.data.encode()), attributes)
    return EventTask(event, event.data, attributes)


def binary_task(event: CloudEvent, content_type: str | None, body: bytes) -> EventTask:
    """The task of a binary-mode event whose body is ``body`` (http-protocol-binding.md 3.1)."""
    attributes = carried_attributes(event, "", "ce-")
    if content_type is not None:
        # 3.1.1: the Content-Type header is the datacontenttype attribute.
        attributes["datacontenttype"] = content_type
    if not body and content_type is None:
        return EventTask(event, None, attributes)
    return _bytes_task(event, body, attributes, "body", content_type)


def _bytes_task(
    event: CloudEvent,
    raw: bytes,
    attributes: dict[str, str],
    loc: str,
    content_type: str | None = None,
) -> EventTask:
    """Bytes as a payload: JSON types decoded, anything else carried as Base64 text."""
    media = content_type or event.datacontenttype
    if media is not None and is_json_type(media):
        # json-format.md 3.1.2: the deserializer MAY interpret the bytes by datacontenttype.
        try:
            return EventTask(event, jsoncodec.loads(raw) if raw else None, attributes)
        except JsonNumberError as exc:
            raise EventError([{"loc": exc.loc(loc), "msg": str(exc)}]) from exc
        except ValueError as exc:
            message = f"data is declared {media} but is not valid UTF-8 JSON"
            raise EventError([{"loc": loc, "msg": message}]) from exc
    attributes.setdefault("datacontenttype", media or OCTET_STREAM)
    return EventTask(event, _b64text(raw), attributes)


def carried_attributes(event: CloudEvent, loc: str = "", header_prefix: str = "") -> dict[str, str]:
    """The event's attributes a task keeps in ``event_attributes``: the core ones without a
    task field of their own, and every extension (spec.md "Extension Context Attributes":
    a receiver accepts any, named by the naming rules, typed by the type system)."""
    carried = {
        name: value
        for name in ("id", "time", "subject", "dataschema", "datacontenttype")
        if (value := getattr(event, name)) is not None
    }
    extensions = event.model_extra or {}
    errors = []
    for name, value in extensions.items():
        where = _at(loc, header_prefix + name)
        text, problem = _extension_text(name, value)
        if problem:
            errors.append({"loc": where, "msg": problem})
        elif text is not None:
            carried[name] = text
    if len(extensions) > MAX_EXTENSIONS:
        message = f"at most {MAX_EXTENSIONS} extension attributes, got {len(extensions)}"
        errors.append({"loc": loc or "body", "msg": message})
    if errors:
        raise EventError(errors)
    return carried


def _extension_text(name: str, value: Any) -> tuple[str | None, str]:
    """An extension's canonical string (spec.md "Type System"), or a problem to report."""
    if not ATTRIBUTE_NAME.match(name):
        return None, (
            "attribute names are 1-20 lower-case letters a-z or digits 0-9 "
            "(CloudEvents spec.md, Naming Conventions)"
        )
    if name == "data":  # spec.md: the name data is reserved
        return None, "data is reserved"
    if isinstance(value, bool):
        return ("true" if value else "false"), ""
    if isinstance(value, int):
        if not INT32_MIN <= value <= INT32_MAX:
            return None, "integer attributes are 32-bit signed (CloudEvents Integer type)"
        return str(value), ""
    if not isinstance(value, str):
        return None, "extension attribute values are strings, booleans or integers"
    if len(value) > MAX_ATTRIBUTE_LENGTH:
        return None, f"at most {MAX_ATTRIBUTE_LENGTH} characters"
    if _CONTROL.search(value):
        return None, "must not contain control characters (CloudEvents String type)"
    return value, ""


def is_json_type(media_type: str) -> bool:
    """Whether a media type declares JSON: ``*/json`` or ``*/*+json`` once parameters are
    stripped (json-format.md section 3.1.1)."""
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence.endswith(("/json", "+json"))


def _base64(text: str, loc: str) -> bytes:
    """Base64 (RFC 4648 section 4, padded), as the Binary type's string encoding."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        message = "data_base64 must be Base64 (RFC 4648 section 4, with padding)"
        raise EventError([{"loc": loc, "msg": message}]) from exc


def _b64text(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _at(loc: str, name: str) -> str:
    return f"{loc}.{name}" if loc else name


def trace_parent(event: CloudEvent) -> tuple[str, str] | None:
    """The event's Distributed Tracing extension, (traceparent, tracestate), if it has one."""
    if event.traceparent is None:
        return None
    return event.traceparent, event.tracestate or ""


def header_attributes(headers: Mapping[str, str]) -> dict[str, str]:
    """Binary mode: the ``ce-`` headers as attributes (http-protocol-binding.md 3.1.3).

    Names lose the prefix and are lower-cased (header names are case-insensitive);
    values are unquoted and percent-decoded once (3.1.3.2); invalid UTF-8 is an error.
    """
    attributes: dict[str, str] = {}
    errors = []
    for name, value in headers.items():
        lowered = name.lower()
        if not lowered.startswith("ce-"):
            continue
        try:
            attributes[lowered[3:]] = decode_header_value(value)
        except ValueError as exc:
            errors.append({"loc": lowered, "msg": str(exc)})
    if errors:
        raise EventError(errors)
    return attributes


def decode_header_value(value: str) -> str:
    """A ``ce-`` header value as the attribute's string (http-protocol-binding.md 3.1.3.2)."""
    text = value.strip()
    if len(text) > 1 and text[0] == text[-1] == '"':
        text = re.sub(r"\\(.)", r"\1", text[1:-1])  # RFC 7230 3.2.6 quoted-string
    raw = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char == "%" and re.fullmatch(r"[0-9A-Fa-f]{2}", text[index + 1 : index + 3]):
            raw.append(int(text[index + 1 : index + 3], 16))
            index += 3
            continue
        raw += char.encode("utf-8", "surrogateescape")
        index += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = "percent-encoded bytes are not valid UTF-8"
        raise ValueError(msg) from exc
