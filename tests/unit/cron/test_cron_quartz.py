"""Differential tests: next-fire chains agree with Quartz 2.3's CronExpression.

Quartz (Debian's libquartz2-java) reads the whole syntax of `conveyor.cron`
except bare weekday numbers, so random expressions here use `L`, `L-n`, `LW`,
`nW`, `nL`, `n#k`, names, `?` and years. tests/quartz/QuartzNext.java is
compiled at test time and answers every query in one JVM run; without java,
javac or the jar the tests skip.

Translation: Quartz numbers weekdays 1 = Sunday .. 7 = Saturday (here 0/7 =
Sunday, 1 = Monday), and 5-field expressions get a `0` seconds field. Exactly
one day field is `?` (Quartz's rule), so OR/AND of day fields never matters.
Quartz cannot put `W` or `L` in a list or use several `#` in one field; the
generator avoids those.

Masked, as documented differences (cron/__init__.py "Time zones and DST",
"Bounds"):
* spring-forward gap: this package fires a gap wall time once, at the
  transition; Quartz skips it. A fire of ours exactly at a transition that
  Quartz lacks is dropped, but only if Quartz itself (in the fixed pre-gap
  offset) finds a matching wall time inside the gap;
* repeated hour: both fire each wall time once, this package at its first
  occurrence, Quartz at its second. Quartz fires in the second pass are moved
  to the first, and dropped when that falls at or before the start;
* Quartz fires after 2099 (this package's search bound) are dropped.
Every other difference fails with the expression, zone and start printed.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conveyor.cron import CronError, parse_cron

HELPER = Path(__file__).resolve().parents[2] / "quartz" / "QuartzNext.java"
# Debian's libquartz2-java; CONVEYOR_QUARTZ_JAR points elsewhere (other distros, Maven cache).
JAR_CANDIDATES = (os.environ.get("CONVEYOR_QUARTZ_JAR", ""), "/usr/share/java/quartz2.jar")
ZONES_WITH_DST = ("America/New_York", "Europe/Berlin")
DST_DATES = {
    "America/New_York": ("2026-03-08", "2026-11-01"),
    "Europe/Berlin": ("2026-03-29", "2026-10-25"),
}
START = datetime(2020, 1, 1, tzinfo=UTC)
SPAN_SECONDS = int(timedelta(days=15 * 366).total_seconds())
LAST_YEAR = 2099  # conveyor.cron's search bound
ONE_SECOND = timedelta(seconds=1)
NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

Quartz = Callable[[list[str]], list[list[int] | str]]


@dataclass(frozen=True, slots=True)
class Case:
    """One generated expression in both dialects, with where and when to evaluate it."""

    ours: str
    quartz: str
    zone: str
    start: datetime
    chain: int


@pytest.fixture(scope="module")
def quartz(tmp_path_factory: pytest.TempPathFactory) -> Quartz:
    """Compile the helper; return a function answering queries in one JVM run."""
    java, javac = shutil.which("java"), shutil.which("javac")
    jar = next((path for path in JAR_CANDIDATES if path and Path(path).is_file()), None)
    if java is None or javac is None:
        pytest.skip("Quartz differential test needs java and javac (Debian: default-jdk-headless)")
    if jar is None:
        pytest.skip("Quartz jar not found (Debian: apt-get install libquartz2-java)")
    classes = tmp_path_factory.mktemp("quartz")
    compile_cmd = [javac, "-nowarn", "-d", str(classes), "-cp", jar, str(HELPER)]
    subprocess.run(compile_cmd, check=True, capture_output=True, timeout=120)  # noqa: S603 -- fixed argv, no shell

    def run(queries: list[str]) -> list[list[int] | str]:
        result = subprocess.run(  # noqa: S603 -- fixed argv, no shell
            [java, "-cp", f"{classes}{os.pathsep}{jar}", "QuartzNext"],
            input="".join(f"{query}\n" for query in queries),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        lines = result.stdout.splitlines()
        assert len(lines) == len(queries), result.stderr
        return [
            [int(ms) for ms in line.split()[1:]] if line.startswith("OK") else line
            for line in lines
        ]

    return run


def _plain(rng: random.Random, low: int, high: int, star_ok: bool = True) -> str:
    """A random `*`, value, range, step or list over [low, high], never wrapping."""
    roll = rng.random()
    if roll < 0.2 and star_ok:
        return "*"
    if roll < 0.4:
        return str(rng.randint(low, high))
    start = rng.randint(low, high - 1)
    end = rng.randint(start + 1, high)
    step = rng.randint(1, max(1, (high - low) // 3))
    if roll < 0.55:
        return f"{start}-{end}"
    if roll < 0.65 and star_ok:
        return f"*/{step}"
    if roll < 0.75:
        return f"{start}-{end}/{step}"
    if roll < 0.85:
        return f"{start}/{step}"
    return ",".join(str(value) for value in sorted(rng.sample(range(low, high + 1), 3)))


def _dom(rng: random.Random) -> str:
    """A restricting day-of-month in the syntax Quartz takes (no `L`/`W` inside lists)."""
    roll = rng.random()
    if roll < 0.1:
        return "L"
    if roll < 0.2:
        return f"L-{rng.randint(1, 30)}"
    if roll < 0.27:
        return "LW"
    if roll < 0.4:
        # Up to 28: Quartz's lenient Calendar moves a missing 29W-31W into the month
        # (test_quartz_fires_31w_in_some_30_day_months); here it is skipped.
        return f"{rng.randint(1, 28)}W"
    return _plain(rng, 1, 31, star_ok=False)


def _quartz_weekday(ours: int) -> int:
    return ours % 7 + 1


def _dow_special(rng: random.Random) -> tuple[str, str]:
    """`n#k` or `nL`, by number or name."""
    day = rng.randint(0, 7)
    suffix = f"#{rng.randint(1, 5)}" if rng.random() < 0.5 else "L"
    if rng.random() < 0.3:
        text = NAMES[day % 7] + suffix
        return text, text
    return f"{day}{suffix}", f"{_quartz_weekday(day)}{suffix}"


def _dow_names(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(NAMES)
    if roll < 0.7:
        first, last = sorted(rng.sample(range(7), 2))
        return f"{NAMES[first]}-{NAMES[last]}"
    return ",".join(NAMES[day] for day in sorted(rng.sample(range(7), 3)))


def _dow_numbers(rng: random.Random) -> tuple[str, str]:
    """Weekday numbers in our 0-7 numbering, and the same days in Quartz's 1-7."""
    text = _plain(rng, 0, 7, star_ok=False)
    if "," in text:
        days = [int(value) for value in text.split(",")]
    elif "-" in text:
        span, _, step_text = text.partition("/")
        first, last = (int(value) for value in span.split("-"))
        if last <= 6:  # no Sunday-as-7: the range shifts by one into Quartz numbers
            shifted = f"{first + 1}-{last + 1}"
            return text, f"{shifted}/{step_text}" if step_text else shifted
        days = list(range(first, last + 1, int(step_text or 1)))
    elif "/" in text:
        first, step = (int(value) for value in text.split("/"))
        days = list(range(first, 8, step))  # here `n/s` runs to 7 = Sunday, Quartz's to Saturday
    else:
        days = [int(text)]
    return text, ",".join(str(day) for day in sorted({_quartz_weekday(day) for day in days}))


def _dow(rng: random.Random) -> tuple[str, str]:
    """A restricting day-of-week: ours and Quartz's spelling."""
    roll = rng.random()
    if roll < 0.3:
        return _dow_special(rng)
    if roll < 0.5:
        names = _dow_names(rng)
        return names, names
    if roll < 0.6:
        # `*/s` picks the same days in both numberings (0,s,.. vs 1,1+s,..).
        step = f"*/{rng.randint(1, 7)}"
        return step, step
    return _dow_numbers(rng)


def _days(rng: random.Random) -> tuple[str, str, str]:
    """Day-of-month, and day-of-week ours and Quartz's; exactly one field is `?`."""
    roll = rng.random()
    if roll < 0.45:
        return _dom(rng), "?", "?"
    if roll < 0.9:
        return ("?", *_dow(rng))
    return ("*", "?", "?") if roll < 0.95 else ("?", "*", "*")


def _month(rng: random.Random) -> str:
    if rng.random() < 0.15:
        first, last = sorted(rng.sample(["JAN", "MAR", "JUN", "AUG", "NOV", "DEC"], 2))
        return rng.choice([first, f"{first},{last}"])
    return _plain(rng, 1, 12)


def _year(rng: random.Random) -> str:
    first = rng.randint(2020, 2040)
    return rng.choice(["*", str(first), f"{first}-{LAST_YEAR}", f"{first}-2060/3", "*/2", "2021/3"])


def _random_case(rng: random.Random) -> Case:
    """Any syntax, 5, 6 or 7 fields, mostly UTC, starts spread over 2020-2035."""
    seconds = "0" if rng.random() < 0.6 else _plain(rng, 0, 59)
    minutes, hours, month = _plain(rng, 0, 59), _plain(rng, 0, 23), _month(rng)
    dom, dow, quartz_dow = _days(rng)
    middle, quartz_middle = f"{minutes} {hours} {dom} {month}", f"{minutes} {hours} {dom} {month}"
    shape = rng.random()
    if shape < 0.15:
        ours, quartz = f"{middle} {dow}", f"0 {quartz_middle} {quartz_dow}"
    elif shape < 0.55:
        ours, quartz = f"{seconds} {middle} {dow}", f"{seconds} {quartz_middle} {quartz_dow}"
    else:
        year = _year(rng)
        ours = f"{seconds} {middle} {dow} {year}"
        quartz = f"{seconds} {quartz_middle} {quartz_dow} {year}"
    if rng.random() < 0.1:
        ours, quartz = ours.lower(), quartz.lower()
    zone = rng.choice(("UTC", "UTC", "UTC", *ZONES_WITH_DST))
    start = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
    return Case(ours, quartz, zone, start, chain=5)


def _dst_case(rng: random.Random) -> Case:
    """Dense night-time schedules started near a DST change in New York or Berlin."""
    zone = rng.choice(ZONES_WITH_DST)
    seconds = rng.choice(["0", "0", "0", "0/30", "*/20"])
    minutes = rng.choice(["*/15", "0", "30", "0/20", "5-50/15", "*/7", "10,40", _plain(rng, 0, 59)])
    hours = rng.choice(["*", "1-3", "2", "1", "2,3", "0-4", "*/2", "1/2", _plain(rng, 0, 23)])
    dom, dow, quartz_dow = ("*", "?", "?") if rng.random() < 0.7 else _days(rng)
    ours = f"{seconds} {minutes} {hours} {dom} * {dow}"
    quartz = f"{seconds} {minutes} {hours} {dom} * {quartz_dow}"
    day = datetime.fromisoformat(rng.choice(DST_DATES[zone])).replace(tzinfo=ZoneInfo(zone))
    start = day - timedelta(hours=12) + timedelta(seconds=rng.randrange(36 * 3600))
    return Case(ours, quartz, zone, start.astimezone(UTC), chain=8)


def _rare_case(rng: random.Random) -> Case:
    """Late days in short months, 5th weekdays, single years: rare or impossible dates."""
    month = ",".join(str(m) for m in sorted(rng.sample([2, 4, 6, 9, 11], rng.randint(1, 2))))
    year = rng.choice(["*", str(rng.randint(2021, 2040)), f"{rng.randint(2021, 2040)}-2050/4"])
    if rng.random() < 0.6:
        dom = rng.choice(["29", "30", "31", "30,31", "29-31", "L-28", "L-29", "L-30"])
        dow = quartz_dow = "?"
    else:
        day = rng.randint(0, 7)
        dom, dow, quartz_dow = "?", f"{day}#5", f"{_quartz_weekday(day)}#5"
    start = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
    return Case(
        f"0 0 12 {dom} {month} {dow} {year}",
        f"0 0 12 {dom} {month} {quartz_dow} {year}",
        "UTC",
        start,
        chain=3,
    )


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _query(zone: str, start: datetime, count: int, expression: str) -> str:
    return f"{zone}\t{_ms(start)}\t{count}\t{expression}"


def _ours(case: Case) -> list[datetime] | None:
    try:
        return parse_cron(case.ours, timezone=case.zone).next_n(case.start, case.chain)
    except CronError:
        return None


def _gap_after(instant: datetime, zone: ZoneInfo) -> timedelta | None:
    """The gap length if `instant` is a spring-forward transition in `zone`, else None."""
    before = (instant - ONE_SECOND).astimezone(zone).utcoffset()
    after = instant.astimezone(zone).utcoffset()
    assert before is not None
    assert after is not None
    return after - before if after > before else None


def _gap_probe(instant: datetime, zone: ZoneInfo) -> str:
    """Zone id of the fixed offset in force just before the transition at `instant`."""
    offset = (instant - ONE_SECOND).astimezone(zone).utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"GMT{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _gap_queries(case: Case, ours: list[datetime]) -> Iterator[tuple[datetime, str]]:
    """For each fire of ours at a spring-forward transition: a Quartz query over the gap."""
    zone = ZoneInfo(case.zone)
    for instant in ours:
        if _gap_after(instant, zone) is not None:
            probe = _gap_probe(instant, zone)
            yield instant, _query(probe, instant - ONE_SECOND, 1, case.quartz)


@dataclass(slots=True)
class Tally:
    """What one differential run compared and masked."""

    cases: int = 0
    compared_cases: int = 0
    compared_fires: int = 0
    never_fire: int = 0
    gap_masked: int = 0
    overlap_moved: int = 0
    problems: list[str] | None = None

    def problem(self, case: Case, text: str) -> None:
        """Record a mismatch with everything needed to reproduce it."""
        if self.problems is None:
            self.problems = []
        where = f"zone {case.zone}, after {case.start.isoformat()}"
        self.problems.append(f"{case.ours!r} (Quartz {case.quartz!r}), {where}: {text}")


def _first_pass(theirs: list[datetime], zone: ZoneInfo, tally: Tally) -> list[datetime]:
    """Quartz fires in the second pass of a repeated hour, moved to the first pass."""
    moved = []
    for instant in theirs:
        local = instant.astimezone(zone)
        if local.fold:
            tally.overlap_moved += 1
            instant = local.replace(fold=0).astimezone(UTC)
        moved.append(instant)
    return moved


def _show(instants: list[datetime], zone: ZoneInfo) -> str:
    return "[" + ", ".join(instant.astimezone(zone).isoformat() for instant in instants) + "]"


def _compare(
    case: Case, ours: list[datetime], answer: list[int], gap_hits: set[datetime], tally: Tally
) -> None:
    """Compare both chains up to the earlier of their last fires, after the masks."""
    zone = ZoneInfo(case.zone)
    theirs = _first_pass([_instant(ms) for ms in answer], zone, tally)
    # A full chain is known up to its last fire; a short one (the schedule ended) to the end.
    ends = [chain[-1] for chain in (ours, theirs) if len(chain) == case.chain]
    horizon = min(ends, default=datetime.max.replace(tzinfo=UTC))
    theirs = [
        instant
        for instant in theirs
        if case.start < instant <= horizon and instant.astimezone(zone).year <= LAST_YEAR
    ]
    kept = []
    for instant in ours:
        if instant in gap_hits and instant not in theirs:
            tally.gap_masked += 1
        elif instant <= horizon:
            kept.append(instant)
    if kept != theirs:
        tally.problem(case, f"ours {_show(kept, zone)} != Quartz {_show(theirs, zone)}")
    elif kept:
        tally.compared_cases += 1
        tally.compared_fires += len(kept)


def _judge(case: Case, ours: list[datetime] | None, answer: list[int] | str, tally: Tally) -> bool:
    """Handle rejections; return True when both sides produced chains to compare."""
    if ours is not None and isinstance(answer, list):
        return True
    if ours is not None:
        tally.problem(case, f"Quartz rejects it: {answer}")
    elif isinstance(answer, list) and any(
        _instant(ms).astimezone(ZoneInfo(case.zone)).year <= LAST_YEAR for ms in answer
    ):
        tally.problem(case, f"rejected here, Quartz fires at {answer} (epoch ms)")
    else:
        tally.never_fire += 1  # rejected here; Quartz finds no fire (or rejects it too)
    return False


def _differential(quartz: Quartz, cases: list[Case]) -> Tally:
    """Evaluate every case here and in one Quartz run, then compare."""
    ours_chains = [_ours(case) for case in cases]
    queries = [_query(case.zone, case.start, case.chain, case.quartz) for case in cases]
    probes: list[tuple[int, datetime, int]] = []  # case index, our gap fire, its query
    for index, (case, ours) in enumerate(zip(cases, ours_chains, strict=True)):
        for instant, query in _gap_queries(case, ours or []):
            probes.append((index, instant, len(queries)))
            queries.append(query)
    answers = quartz(queries)
    gap_hits: dict[int, set[datetime]] = {}
    for index, instant, query_index in probes:
        probe = answers[query_index]
        gap = _gap_after(instant, ZoneInfo(cases[index].zone))
        assert gap is not None
        if isinstance(probe, list) and probe and _instant(probe[0]) < instant + gap:
            gap_hits.setdefault(index, set()).add(instant)
    tally = Tally(cases=len(cases))
    for index, case in enumerate(cases):
        ours, answer = ours_chains[index], answers[index]
        if _judge(case, ours, answer, tally):
            assert ours is not None
            assert isinstance(answer, list)
            _compare(case, ours, answer, gap_hits.get(index, set()), tally)
    return tally


def _assert_agree(tally: Tally) -> None:
    problems = tally.problems or []
    shown = "\n".join(problems[:20])
    assert not problems, f"{len(problems)} of {tally.cases} cases differ from Quartz:\n{shown}"


def test_random_expressions_agree_with_quartz(quartz: Quartz) -> None:
    rng = random.Random(5)  # noqa: S311 -- seeded for reproducible test cases, not security
    tally = _differential(quartz, [_random_case(rng) for _ in range(3000)])
    _assert_agree(tally)
    assert tally.compared_cases > 2500, tally


def test_rare_and_impossible_dates_agree_with_quartz(quartz: Quartz) -> None:
    """What is rejected here as never firing, Quartz never fires (up to 2099) either."""
    rng = random.Random(13)  # noqa: S311 -- seeded for reproducible test cases, not security
    tally = _differential(quartz, [_rare_case(rng) for _ in range(600)])
    _assert_agree(tally)
    assert tally.never_fire > 50, tally
    assert tally.compared_cases > 200, tally


def test_dst_changes_agree_with_quartz(quartz: Quartz) -> None:
    rng = random.Random(8)  # noqa: S311 -- seeded for reproducible test cases, not security
    tally = _differential(quartz, [_dst_case(rng) for _ in range(1500)])
    _assert_agree(tally)
    assert tally.compared_cases > 1300, tally
    # Both masks were needed, so both DST rules were really exercised.
    assert tally.gap_masked > 50, tally
    assert tally.overlap_moved > 50, tally


@pytest.mark.parametrize(
    ("expression", "zone", "after", "ours_utc", "quartz_utc"),
    [
        # 02:30 does not exist on 2026-03-08 in New York: here 03:00 EDT, Quartz skips the day.
        ("0 30 2 * * ?", "America/New_York", "2026-03-08T00:00:00-05:00", "07:00", "06:30"),
        # 01:30 happens twice on 2026-11-01: here the first (EDT), Quartz the second (EST).
        ("0 30 1 * * ?", "America/New_York", "2026-11-01T00:00:00-04:00", "05:30", "06:30"),
        ("0 30 2 * * ?", "Europe/Berlin", "2026-03-29T00:00:00+01:00", "01:00", "00:30"),
        ("0 30 2 * * ?", "Europe/Berlin", "2026-10-25T00:00:00+02:00", "00:30", "01:30"),
    ],
)
def test_documented_dst_differences_are_real(
    quartz: Quartz, expression: str, zone: str, after: str, ours_utc: str, quartz_utc: str
) -> None:
    """The masks above hide these differences; check that Quartz really behaves so."""
    start = datetime.fromisoformat(after)
    ours = parse_cron(expression, timezone=zone).next_after(start)
    [answer] = quartz([_query(zone, start, 1, expression)])
    assert isinstance(answer, list)
    assert len(answer) == 1
    assert ours is not None
    assert ours.strftime("%H:%M") == ours_utc
    theirs = _instant(answer[0])
    # Quartz's skipped day fires a day later; the repeated hour fires the same day.
    assert theirs.strftime("%H:%M") == quartz_utc
    assert theirs.date() > ours.date() if "-03-" in after else theirs.date() == ours.date()


def test_quartz_fires_31w_in_some_30_day_months(quartz: Quartz) -> None:
    """`31W` here skips months without a 31st (LIBRARIES.md); Quartz's lenient Calendar
    reads April 31 as May 1 and, when that is a Saturday (2027), fires Friday April 30."""
    start = datetime(2027, 4, 1, tzinfo=UTC)
    ours = parse_cron("0 0 0 31W * ?").next_after(start)
    [answer] = quartz([_query("UTC", start, 1, "0 0 0 31W * ?")])
    assert ours == datetime(2027, 5, 31, tzinfo=UTC)
    assert answer == [_ms(datetime(2027, 4, 30, tzinfo=UTC))]
