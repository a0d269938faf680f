"""Keys of a batch's read-model records, built with one prefix."""

from __future__ import annotations

import pytest

from conveyor.keys import Keys


def test_ingest_task_statuses_match_task_status_per_id() -> None:
    qk = Keys(prefix="p", queues=("default",)).queue("default")
    ids = ["0190aaaa-0000-7000-8000-000000000000", "replayed-1", "x"]
    assert qk.task_statuses(ids) == [qk.task_status(task_id) for task_id in ids]


@pytest.mark.parametrize("task_id", ["a{b", "a}b"])
def test_ingest_task_statuses_refuse_hash_tag_braces(task_id: str) -> None:
    qk = Keys(prefix="p", queues=("default",)).queue("default")
    with pytest.raises(ValueError, match="must not contain"):
        qk.task_statuses(["fine", task_id])
