"""Mapping between local wall-clock times and UTC instants across DST changes.

Cron fields describe wall-clock times; the scheduler needs instants. Policy:

* a wall time that does not exist (spring-forward gap) fires at the first
  instant after the gap, i.e. at the transition itself; several wall times in
  the same gap therefore collapse into one fire;
* a wall time that occurs twice (fall-back overlap) fires once, at its first
  occurrence (fold=0). Each wall time is matched once, so a schedule firing
  every 15 minutes does not fire again during the repeated hour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from conveyor.cron._errors import CronError

_ONE_SECOND = timedelta(seconds=1)


def load_zone(name: str) -> ZoneInfo:
    """Load an IANA time zone, turning lookup failures into a CronError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError("timezone", f"{name!r} is not a known IANA zone") from exc


def wall_to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the naive local `wall` time fires."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    first_offset, second_offset = first.utcoffset(), second.utcoffset()
    if first_offset is None or second_offset is None or first_offset >= second_offset:
        # Ordinary time, or a repeated time whose fold=0 reading is its first occurrence.
        return first.astimezone(UTC)
    # In a gap, fold=0 reads the wall time with the old offset (an instant after
    # the transition) and fold=1 with the new one (an instant before it).
    transition = _transition(zone, int(second.timestamp()), int(first.timestamp()))
    return datetime.fromtimestamp(transition, UTC)


def search_start(after: datetime, zone: ZoneInfo) -> datetime:
    """The earliest naive wall time whose fire instant can be later than `after`."""
    local = after.astimezone(zone)
    start = local.replace(tzinfo=None, microsecond=0) + _ONE_SECOND
    earlier = local.replace(fold=0).utcoffset()
    later = local.utcoffset()
    if local.fold == 1 and earlier is not None and later is not None and earlier != later:
        # `after` lies in the second pass of a repeated hour: its wall times all
        # fired during the first pass, so resume at the end of the overlap.
        now = int(after.timestamp())
        transition = _transition(zone, now - int((earlier - later).total_seconds()), now)
        overlap_end = datetime.fromtimestamp(transition, UTC).replace(tzinfo=None) + earlier
        start = max(start, overlap_end)
    return start


def _transition(zone: ZoneInfo, before: int, after: int) -> int:
    """The first whole-second timestamp in (before, after] carrying after's offset.

    The caller guarantees that exactly one offset change lies in the interval;
    tz database transitions fall on whole seconds.
    """
    target = datetime.fromtimestamp(after, zone).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == target:
            after = middle
        else:
            before = middle
    return after
