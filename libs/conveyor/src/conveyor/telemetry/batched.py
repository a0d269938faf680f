"""Prometheus observations added in bulk: hot paths record values, a flush adds them."""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import Histogram


class BatchedHistogram:
    """Observations of one labelled histogram child, added to it in bulk by ``flush``.

    ``Histogram.observe`` locks and scans the buckets per value (over a microsecond);
    the worker observes two values per task and ingest one per request, so they keep
    them in a list and add them per batch (or per loop iteration): one increment per
    touched bucket. This uses the child's bucket values directly (``_upper_bounds``,
    ``_buckets``, ``_sum``: prometheus_client internals, checked once here), and falls
    back to ``observe`` without them.
    """

    __slots__ = ("_child", "_direct", "values")

    def __init__(self, child: Histogram) -> None:
        self._child = child
        self._direct = all(hasattr(child, a) for a in ("_upper_bounds", "_buckets", "_sum"))
        self.values: list[float] = []

    def flush(self) -> None:
        """Add the recorded values to the histogram."""
        values = self.values
        if not values:
            return
        self.values = []
        child = self._child
        if not self._direct:
            for value in values:
                child.observe(value)
            return
        bounds = child._upper_bounds
        counts = [0] * len(bounds)
        for value in values:
            # observe() counts a value in the first bucket whose bound is >= it.
            counts[bisect_left(bounds, value)] += 1
        child._sum.inc(sum(values))
        for index, count in enumerate(counts):
            if count:
                child._buckets[index].inc(count)
