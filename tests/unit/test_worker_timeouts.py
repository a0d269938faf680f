"""Attempt deadlines: attempts that start together share one timer; finished ones never expire."""

from __future__ import annotations

import asyncio

from conveyor_worker.timeouts import Deadlines


class Attempt:
    def __init__(self) -> None:
        self.expired = asyncio.Event()

    def expire(self) -> None:
        self.expired.set()


async def test_only_attempts_still_running_at_the_deadline_expire() -> None:
    deadlines = Deadlines()
    finished, running = Attempt(), Attempt()
    first = deadlines.start(finished, 0.05)
    shared = deadlines.start(running, 0.05)
    assert shared is first  # started in the same moment: one timer handle
    deadlines.finish(finished, first, 0.05)
    await asyncio.wait_for(running.expired.wait(), 10)
    assert not finished.expired.is_set()


async def test_a_deadline_nobody_waits_for_any_more_drops_its_timer() -> None:
    deadlines = Deadlines()
    early = Attempt()
    deadline = deadlines.start(early, 0.01)
    await asyncio.sleep(0.002)  # a later start moment: past SLACK, so a new deadline opens
    later = Attempt()
    assert deadlines.start(later, 0.01) is not deadline
    deadlines.finish(early, deadline, 0.01)
    assert deadline._handle.cancelled()  # no attempt left and none may join
    await asyncio.wait_for(later.expired.wait(), 10)
    assert not early.expired.is_set()
