"""Priority levels in the worker: one partition's slots shared among its levels by weight.

Each priority level of a partition has its own task stream, read by its own
QueueConsumer (dispatcher, committer and leases of that stream), so every ack,
renewal, reclaim and dead letter stays on the stream the entry came from. The
levels share one ``concurrency`` through a LevelGate:

- A level is *active* when it has tasks in flight or its last read found entries.
- An active level may hold up to ``concurrency * weight / (sum of active weights)``
  slots (at least one), and never more than the free ones: with high, normal and low
  all busy they hold 6 : 3 : 1 of the slots, so tasks start in that ratio and the
  lowest level always keeps at least one slot (no starvation). A level alone has
  every slot, so a queue that uses one level runs exactly as before.
- An idle level keeps a one-entry probe read open even when the other levels hold
  every slot, so its first task is seen at once; the process then runs up to one
  task per idle level above ``concurrency`` for as long as that task runs.

As slots free up, a level over its share reads nothing until it is back under it,
so the shares converge within one task's run time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from conveyor.priority import LEVELS, WEIGHTS, Priority
from conveyor_worker.dispatcher import Dispatcher


def grant(
    level: Priority, concurrency: int, held: Mapping[Priority, int], found: Mapping[Priority, bool]
) -> int:
    """Entries ``level`` may read now, given each level's tasks in flight (``held``) and
    whether its last read found entries (``found``)."""
    own = held[level]
    free = concurrency - sum(held.values())
    active = [name for name in held if name == level or held[name] or found[name]]
    if len(active) == 1:
        return max(free, 0)  # alone: every free slot, as a queue of one level has
    share = max(concurrency * WEIGHTS[level] // sum(WEIGHTS[n] for n in active), 1)
    if not own and not found[level]:
        return max(min(share, free), 1)  # the probe of an idle level
    return max(min(share - own, free), 0)


class LevelGate:
    """How many entries each level of one partition may read now."""

    def __init__(self, concurrency: int) -> None:
        self._concurrency = concurrency
        self._dispatchers: dict[Priority, Dispatcher] = {}
        self._found: dict[Priority, bool] = dict.fromkeys(LEVELS, False)
        # Shared by the levels' dispatchers: a slot freed by any level may be another's.
        self.slot_freed = asyncio.Event()

    def add(self, level: Priority, dispatcher: Dispatcher) -> None:
        """Let ``dispatcher`` run ``level``'s tasks under this gate."""
        dispatcher.slot_freed = self.slot_freed
        self._dispatchers[level] = dispatcher

    def grant(self, level: Priority) -> int:
        """Entries ``level`` may read now (see the module's rules)."""
        held = {name: len(d.in_flight) for name, d in self._dispatchers.items()}
        return grant(level, self._concurrency, held, self._found)

    def found(self, level: Priority, count: int) -> None:
        """Record what ``level``'s last read found (``count`` entries)."""
        self._found[level] = count > 0
