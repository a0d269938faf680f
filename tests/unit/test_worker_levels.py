"""How a partition's slots are shared among priority levels: a table of grants."""

from __future__ import annotations

import pytest

from conveyor.priority import Priority
from conveyor_worker.levels import grant

H, N, L = Priority.HIGH, Priority.NORMAL, Priority.LOW


@pytest.mark.parametrize(
    ("level", "held", "found", "expected"),
    [
        # One level alone has every free slot: the common case reads as before.
        (N, (0, 0, 0), (0, 0, 0), 20),
        (N, (0, 12, 0), (0, 1, 0), 8),
        (N, (0, 20, 0), (0, 1, 0), 0),
        # An idle level probes for one entry even when the slots are all taken.
        (H, (0, 20, 0), (0, 1, 0), 1),
        (L, (0, 20, 0), (0, 1, 0), 1),
        # Busy high and low: 6 : 1 of 20 slots is 17 and 2.
        (H, (0, 0, 0), (1, 0, 1), 17),
        (L, (0, 0, 0), (1, 0, 1), 2),
        (L, (17, 0, 2), (1, 0, 1), 0),
        (H, (10, 0, 2), (1, 0, 1), 7),
        # Every level busy: 6 : 3 : 1 is 12, 6 and 2 of 20.
        (H, (0, 0, 0), (1, 1, 1), 12),
        (N, (12, 0, 0), (1, 1, 1), 6),
        (L, (12, 6, 0), (1, 1, 1), 2),
        # A level over its share reads nothing until it is back under it.
        (L, (1, 0, 19), (1, 0, 1), 0),
        (H, (1, 0, 19), (1, 0, 1), 0),
        (H, (1, 0, 10), (1, 0, 1), 9),
        # The lowest level never gets less than one slot.
        (L, (0, 0, 0), (1, 1, 1), 2),
    ],
)
def test_grant_shares_the_slots_by_weight(
    level: Priority,
    held: tuple[int, int, int],
    found: tuple[int, int, int],
    expected: int,
) -> None:
    in_flight = dict(zip((H, N, L), held, strict=True))
    last_read_found = {name: bool(flag) for name, flag in zip((H, N, L), found, strict=True)}
    assert grant(level, 20, in_flight, last_read_found) == expected


def test_a_single_slot_still_serves_the_lowest_level_when_it_is_free() -> None:
    held, found = {H: 0, N: 0, L: 0}, {H: True, N: False, L: True}
    assert grant(L, 1, held, found) == 1
    assert grant(L, 1, {H: 1, N: 0, L: 0}, found) == 0
