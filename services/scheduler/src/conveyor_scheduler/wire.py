"""Fire script calls encoded ahead of their instant and sent as one write when it comes.

At a busy instant (1,000 schedules firing the same second) the last fire waits for
everything sent before it, so the work done after the instant must be Redis work
only. ``PackedCall`` holds a fire script call (EVALSHA) already encoded in the
Redis protocol, except for ``now``, which is known only when it is sent;
``send_packed`` writes every call on one pooled connection in one go (Redis
starts on the first while the rest are still arriving) and reads the replies.

Clients where one connection cannot take every call (Redis Cluster) get no raw
path: ``send_packed`` answers None and the caller sends through the registered
script instead. So does a server that lost the script (NOSCRIPT), after the
connection that saw the error is dropped; the registered script loads it again.
Re-sending a call is harmless: the fire script is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from conveyor.connection import is_cluster


def _bulks(tokens: Iterable[str | int]) -> bytes:
    """Bulk strings of ``tokens``, UTF-8 (built as one str: 1,000 fires are ~40,000 tokens)."""
    parts = []
    for token in tokens:
        text = token if isinstance(token, str) else str(token)
        size = len(text) if text.isascii() else len(text.encode())
        parts.append(f"${size}\r\n{text}\r\n")
    return "".join(parts).encode()


@dataclass(frozen=True, slots=True)
class PackedCall:
    """One EVALSHA in the Redis protocol, with a hole for ``now``."""

    head: bytes
    tail: bytes

    @classmethod
    def encode(
        cls,
        sha: str,
        keys: Sequence[str],
        before: Sequence[str | int],
        after: Sequence[str | int],
    ) -> PackedCall:
        """EVALSHA ``sha`` with ``keys`` and arguments ``before`` + now + ``after``."""
        count = 3 + len(keys) + len(before) + 1 + len(after)
        head = b"*%d\r\n" % count + _bulks(["EVALSHA", sha, len(keys), *keys, *before])
        return cls(head, _bulks(after))

    def at(self, now_ms: int) -> bytes:
        """The command with ``now_ms`` filled in."""
        return self.head + _bulks([now_ms]) + self.tail


async def send_packed(
    client: Redis, script: AsyncScript, calls: Sequence[PackedCall], now_ms: int
) -> list[list[bytes]] | None:
    """Replies of ``calls`` sent at ``now_ms``; None when the raw path cannot be used."""
    pool = getattr(client, "connection_pool", None)
    if pool is None or is_cluster(client) or not calls:
        return None
    connection = await pool.get_connection()
    try:
        await connection.send_packed_command([call.at(now_ms) for call in calls])
        replies = [await connection.read_response() for _ in calls]
    except redis_errors.NoScriptError:
        # Later replies are still unread on this connection: it cannot be reused.
        await connection.disconnect()
        return None
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
    return replies
