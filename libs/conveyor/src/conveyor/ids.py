"""Time-ordered task ids (UUIDv7, RFC 9562)."""

from __future__ import annotations

import os
import threading
import time
import uuid

# The variant's two bits (0b10) over two random ones, per hex digit of random bits.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 0b11] for digit in "0123456789abcdef"}


class _RandomBytes:
    """os.urandom drawn in blocks: under load one getrandom() call per id was most of its cost.

    Thread-safe (ids are made on several threads), and a forked child starts a
    fresh block so parent and child never hand out the same bytes.
    """

    BLOCK = 10 * 512

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._used = self.BLOCK
        os.register_at_fork(after_in_child=self._forget)

    def take(self, count: int) -> bytes:
        """``count`` random bytes nobody else got."""
        if count > self.BLOCK:
            return os.urandom(count)
        with self._lock:
            used = self._used
            if used + count > self.BLOCK:
                self._block, used = os.urandom(self.BLOCK), 0
            self._used = used + count
            return self._block[used : used + count]

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._block, self._used = b"", self.BLOCK


_RANDOM = _RandomBytes()


def random_hex(count: int) -> str:
    """``count`` random bytes as hex, from the same blocks as task ids."""
    return _RANDOM.take(count).hex()


def new_task_id(now_ms: int | None = None) -> str:
    """Return a new UUIDv7 string: 48 bits of Unix milliseconds, then 74 random bits.

    Ids sort by creation time at millisecond granularity, which keeps stream
    listings and read-model indexes in arrival order.
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    # Hex of ms + 80 random bits; the version digit replaces one random digit and the
    # variant bits two more (74 random bits stay). Formatted directly: building a
    # uuid.UUID, or the same from one big integer, costs more than the rest together.
    h = ((ms & 0xFFFF_FFFF_FFFF).to_bytes(6, "big") + _RANDOM.take(10)).hex()
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:]}"


def task_id_time_ms(task_id: str) -> int:
    """Return the creation time in Unix milliseconds encoded in a UUIDv7 task id."""
    return uuid.UUID(task_id).int >> 80
