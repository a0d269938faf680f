"""Time-ordered task ids (UUIDv7, RFC 9562)."""

from __future__ import annotations

import os
import time
import uuid

_VERSION = 0x7
_VARIANT = 0b10


def new_task_id(now_ms: int | None = None) -> str:
    """Return a new UUIDv7 string: 48 bits of Unix milliseconds, then 74 random bits.

    Ids sort by creation time at millisecond granularity, which keeps stream
    listings and read-model indexes in arrival order.
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | _VERSION << 76 | rand_a << 64 | _VARIANT << 62 | rand_b
    # Formatted directly: building a uuid.UUID first costs more than the rest together.
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def task_id_time_ms(task_id: str) -> int:
    """Return the creation time in Unix milliseconds encoded in a UUIDv7 task id."""
    return uuid.UUID(task_id).int >> 80
