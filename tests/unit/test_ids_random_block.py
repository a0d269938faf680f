"""Task ids drawn from a block of random bytes stay unique across threads and forks."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from conveyor.ids import new_task_id, random_hex


def _ids(count: int) -> list[str]:
    return [new_task_id(now_ms=5) for _ in range(count)]


def test_ids_made_on_many_threads_are_unique() -> None:
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(_ids, [5_000] * 8))
    every = [task_id for batch in batches for task_id in batch]
    assert len(set(every)) == len(every) == 40_000


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_task_id()  # the parent holds a partly used block
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its next ids and leave at once
        os.close(read_end)
        os.write(write_end, "\n".join(_ids(50)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = pipe.read().decode().split("\n")
    os.waitpid(pid, 0)
    parent = _ids(50)
    assert len(child) == 50
    assert not set(child) & set(parent)


def test_random_hex_has_the_asked_length_and_does_not_repeat() -> None:
    values = {random_hex(16) for _ in range(2_000)}
    assert len(values) == 2_000
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in values)
