"""Finding dead letters for the CLI: every partition of a queue, filtered by type and reason.

The API lists one partition at a time, newest first, without type or reason filters
(the filter replay has them); bulk replay and filtered purge act letter by letter so
that they can show progress, so they first collect what matches here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from conveyor.client import Client
from conveyor.errors import NotFoundError

PAGE = 500  # the API's largest page


@dataclass(frozen=True, slots=True)
class LetterFilter:
    """Which dead letters: a queue (or every queue), a partition, a type, a reason."""

    queue: str | None
    partition: int | None = None
    type: str | None = None
    reason: str | None = None

    def matches(self, letter: dict[str, Any]) -> bool:
        """Whether ``letter`` has the wanted type and reason."""
        if self.type is not None and letter.get("type") != self.type:
            return False
        return self.reason is None or letter.get("reason") == self.reason

    @property
    def narrowed(self) -> bool:
        """Whether the filter picks letters inside a queue (type or reason)."""
        return self.type is not None or self.reason is not None


def shards(client: Client, wanted: LetterFilter) -> list[tuple[str, int | None, int]]:
    """(queue, partition or None, dead letters) of each dead-letter stream ``wanted`` covers."""
    found = []
    for figures in client.queues.list():
        if wanted.queue is not None and figures["queue"] != wanted.queue:
            continue
        for part in figures.get("partitions") or [figures]:
            number = part.get("partition")
            if wanted.partition is None or number == wanted.partition:
                found.append((figures["queue"], number, int(part["dead_letters"])))
    if not found and wanted.queue is not None:
        msg = f"queue {wanted.queue!r} (partition {wanted.partition}) is not configured"
        raise NotFoundError(msg, status=404)
    return found


def _stream(client: Client, queue: str, partition: int | None) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        page = client.dead_letters.page(queue, partition=partition, limit=PAGE, cursor=cursor)
        yield from page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return


def collect(client: Client, wanted: LetterFilter, limit: int | None) -> list[dict[str, Any]]:
    """Matching dead letters, newest first in each stream, at most ``limit`` of them."""
    found: list[dict[str, Any]] = []
    for queue, partition, _ in shards(client, wanted):
        for letter in _stream(client, queue, partition):
            if wanted.matches(letter):
                found.append(letter)
                if limit is not None and len(found) >= limit:
                    return found
    return found


def entry_order(letter: dict[str, Any]) -> tuple[int, int]:
    """Sort key of a letter by its stream entry id (time, then sequence): oldest first."""
    millis, _, seq = str(letter["entry_id"]).partition("-")
    return int(millis), int(seq or 0)
