"""OpenTelemetry messaging semantic-convention attributes for Redis Streams spans."""

from __future__ import annotations

from enum import StrEnum

from opentelemetry.util.types import AttributeValue

SYSTEM = "redis"


class Operation(StrEnum):
    """messaging.operation.type values."""

    SEND = "send"
    RECEIVE = "receive"
    PROCESS = "process"
    SETTLE = "settle"


def messaging_attributes(
    operation: Operation,
    stream: str,
    *,
    message_id: str | None = None,
    group: str | None = None,
    batch: int | None = None,
) -> dict[str, AttributeValue]:
    """Attributes of a span that sends to or processes from ``stream``."""
    attributes: dict[str, AttributeValue] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": operation.value,
        "messaging.operation.name": operation.value,
        "messaging.destination.name": stream,
    }
    if message_id is not None:
        attributes["messaging.message.id"] = message_id
    if group is not None:
        attributes["messaging.consumer.group.name"] = group
    if batch is not None:
        attributes["messaging.batch.message_count"] = batch
    return attributes
