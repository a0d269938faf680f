"""Rates as GCRA parameters: ``"100/s"`` -> a ``Rate``, shared by ingest's client limits,
the worker's per-type limits and the run-time limits document (``conveyor.limits``).

The algorithm itself is one Lua library script (``lua/gcra.lua``) that ingest's and the
worker's rate scripts both require.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conveyor.errors import ConfigurationError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_UNIT_SECONDS |= {"h": 3600, "hour": 3600}


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` on average, ``burst`` at once (GCRA)."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not self.per_second > 0 or self.burst < 1:
            got = f"{self.per_second}, {self.burst}"
            msg = f"a rate needs per_second > 0 and burst >= 1 (got {got})"
            raise ConfigurationError(msg)

    @property
    def interval_us(self) -> int:
        """Microseconds between two requests at the average rate (the emission interval)."""
        return max(1, int(1_000_000 / self.per_second))

    @property
    def tolerance_us(self) -> int:
        """GCRA's burst tolerance: ``burst`` intervals."""
        return self.interval_us * self.burst


def parse_rate(text: str) -> float:
    """``"100/s"``, ``"6000/m"`` or ``"10/h"`` -> requests per second."""
    found = _RATE.match(text)
    if found is None:
        msg = f"rate {text!r} must look like '100/s', '6000/m' or '10/h'"
        raise ConfigurationError(msg)
    per_second = float(found.group(1)) / _UNIT_SECONDS[found.group(2)]
    if per_second <= 0:
        msg = f"rate {text!r} must be above 0"
        raise ConfigurationError(msg)
    return per_second
