"""EventBridge Scheduler's schedule expressions: when a schedule's ticks fall.

    cron(0 8 ? * MON-FRI *)    minutes hours day-of-month month day-of-week year
    rate(5 minutes)            rate(1 minute|hour|day), rate(N minutes|hours|days) for N > 1
    at(2030-01-31T09:00:00)    once, at that wall-clock time

each evaluated in an IANA time zone (zoneinfo). A cron expression is checked against AWS's
grammar (lambeam.events.cron_fields), every error naming its field, then handed to cronsim (a
maintained cron evaluator that knows `L`, `LW`, `nL` and `#`) as a five-field expression: AWS's day-of-week 1-7 = SUN-SAT
becomes cron's 0-6, and `?` becomes `*` (AWS wants `?` in exactly one of the day fields, so
cron's "either day field" rule never applies). What cronsim lacks is done around it: the year
field (1970-2199) and `nW` (the weekday nearest day n, never across the month) filter its
candidates. Never six fields to cronsim: a sixth would be read as seconds.

An expression that can never fire (`30W` of February, the 29th of February in no leap year of
its year field) is refused when parsed, naming why; and no search for a tick examines more
than MAX_CANDIDATES of cronsim's candidates (filters skip a day, a month or a year at a time,
so a tick that exists is found long before), so every next() and previous() is bounded work.
A parsed cron remembers the ticks around the last time asked about: between two ticks its
answers cost nothing (the scheduler asks every poll). parse_expression keeps the latest
expressions it parsed, so a schedule's expression is parsed (and checked) once.

Daylight saving follows EventBridge Scheduler: a cron time the clocks skip in spring does not
fire, one they repeat in autumn fires once (at its first occurrence), because cron matches wall
clock times, one each. A rate counts real time from its anchor (the schedule's creation): its
first tick is the anchor itself, as Scheduler starts a rate schedule without a start date at
once, and `rate(1 day)` is 24 hours across a change of offset.
"""

from __future__ import annotations

import functools
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from lambeam.errors import ScheduleExpressionError
from lambeam.events.cron_fields import FIELDS, day_of_week, months_with_day, number, terms, years

__all__ = [
    "MAX_CANDIDATES",
    "MAX_RATE_VALUE",
    "At",
    "Cron",
    "Expression",
    "Rate",
    "parse_expression",
    "zone",
]

_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)", re.ASCII)
_RATE = re.compile(r"rate\((\d+) ([a-z]+)\)", re.ASCII)
_CRON = re.compile(r"cron\((.*)\)", re.DOTALL)
_SECOND = timedelta(seconds=1)
# cronsim candidates one search examines at most. A filter (year, nW) skips a year, a month or
# a day per refused candidate, so a tick that exists is found within a few hundred; what is
# left are wall times the clocks skip (at most 60 a day), e.g. 02:xx on a day of spring.
MAX_CANDIDATES = 1000
# A rate's value: a positive integer, which Scheduler's API types as a 32-bit one.
MAX_RATE_VALUE = 2**31 - 1


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` ("UTC", "Europe/Paris"), or ScheduleExpressionError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleExpressionError(
            f"time zone {name!r} is not an IANA time zone name such as UTC or Europe/Paris",
            field="timezone",
        ) from None


class Expression(ABC):
    """When a schedule's ticks fall, as epoch seconds."""

    text: str

    @abstractmethod
    def previous(self, at: float) -> float | None:
        """The latest tick at or before `at`, or None."""

    @abstractmethod
    def next(self, after: float) -> float | None:
        """The earliest tick strictly after `after`, or None (an at() that is past)."""

    def upcoming(self, after: float, count: int) -> list[float]:
        """The next `count` ticks after `after` (fewer if the expression runs out)."""
        ticks: list[float] = []
        while len(ticks) < count:
            found = self.next(after)
            if found is None:
                break
            ticks.append(found)
            after = found
        return ticks


@dataclass(frozen=True)
class Rate(Expression):
    """rate(N unit): a tick every `seconds`, from `anchor` (the schedule's creation) on."""

    text: str
    seconds: int
    anchor: float

    def previous(self, at: float) -> float | None:
        if at < self.anchor:
            return None
        return self.anchor + math.floor((at - self.anchor) / self.seconds) * self.seconds

    def next(self, after: float) -> float | None:
        if after < self.anchor:
            return self.anchor
        return self.anchor + (math.floor((after - self.anchor) / self.seconds) + 1) * self.seconds


@dataclass(frozen=True)
class At(Expression):
    """at(yyyy-mm-ddThh:mm:ss): one tick."""

    text: str
    tick: float

    def previous(self, at: float) -> float | None:
        return self.tick if self.tick <= at else None

    def next(self, after: float) -> float | None:
        return self.tick if self.tick > after else None


@dataclass(frozen=True)
class Cron(Expression):
    """cron(...) in `tz`: `spec` is the five-field expression cronsim evaluates (wall clock,
    minute resolution), `years` the years allowed, `nearest_weekday` the n of `nW` if given."""

    text: str
    tz: ZoneInfo
    spec: str
    years: frozenset[int]
    nearest_weekday: int | None = None
    # The last gap asked about: (p, n), ticks with none between (None: no tick before / after).
    _gap: list[tuple[float | None, float | None]] = field(
        default_factory=list, init=False, compare=False, hash=False, repr=False
    )

    def next(self, after: float) -> float | None:
        return self._around(after)[1]

    def previous(self, at: float) -> float | None:
        return self._around(at)[0]

    def _around(self, at: float) -> tuple[float | None, float | None]:
        """(previous(at), next(at)), from the remembered gap when `at` falls in it."""
        gap = self._gap[0] if self._gap else None
        if gap is not None and _within(gap, at):
            return gap
        gap = (self.scan(at, reverse=True)[0], self.scan(at)[0])
        self._gap[:] = [gap]
        return gap

    def scan(self, at: float, *, reverse: bool = False) -> tuple[float | None, int]:
        """Search without memory: the earliest tick strictly after `at` (with `reverse`, the
        latest at or before it), or None, and how many of cronsim's candidates it examined
        (at most MAX_CANDIDATES: past them the search answers None)."""
        local = datetime.fromtimestamp(at, self.tz)
        cursor = _wall(local)
        if reverse:
            cursor += _SECOND  # cronsim's reverse steps back one second first
            if local.fold:  # the repeated hour's second pass: later wall times already happened
                cursor += timedelta(hours=1)
        tried = 0
        while tried < MAX_CANDIDATES:
            restart: datetime | None = None
            for candidate in CronSim(self.spec, cursor, reverse=reverse):
                tried += 1
                restart = self._skip(candidate, reverse)
                if restart is None:
                    tick = _instant(candidate, self.tz)
                    # In an autumn's repeated hour a wall time's first occurrence may be
                    # behind `at`; a wall time the clocks skip is no tick.
                    if tick is not None and (tick <= at if reverse else tick > at):
                        return tick, tried
                if restart is not None or tried >= MAX_CANDIDATES:
                    break
            else:  # cronsim found nothing within 50 years of `cursor`: look past them
                tried += 1
                restart = _beyond(cursor, self.years, reverse)
            if restart is None or restart is _END:
                break
            cursor = restart
        return None, tried

    def _skip(self, candidate: datetime, reverse: bool) -> datetime | None:
        """None when `candidate` passes the filters (year, nW); else the cursor to search on
        from (past its year, month or day), or _END when no later (earlier) year is allowed."""
        if candidate.year not in self.years:
            year = _next_year(self.years, candidate.year, reverse)
            if year is None:
                return _END
            # cronsim steps one second before matching: land on the year's first (last) second.
            return datetime(year + 1, 1, 1) if reverse else datetime(year, 1, 1) - _SECOND
        n = self.nearest_weekday
        if n is None:
            return None
        wanted = _nearest_weekday(candidate, n)
        if candidate.day == wanted:
            return None
        month = datetime(candidate.year, candidate.month, 1)
        if reverse:
            if wanted is not None and candidate.day > wanted:
                return month.replace(day=wanted) + timedelta(days=1)
            return month
        if wanted is not None and candidate.day < wanted:
            return month.replace(day=wanted) - _SECOND
        return (month + timedelta(days=32)).replace(day=1) - _SECOND


_END = datetime.max  # Cron._skip: no year left to search


def _within(gap: tuple[float | None, float | None], at: float) -> bool:
    earlier, later = gap
    return (earlier is None or earlier <= at) and (later is None or at < later)


def _beyond(cursor: datetime, years: frozenset[int], reverse: bool) -> datetime | None:
    """Where to search on after cronsim gave up 50 years from `cursor`, if years remain."""
    if reverse:
        year = cursor.year - 50
        return datetime(year + 1, 1, 1) if year >= min(years) else None
    year = cursor.year + 50
    return datetime(year, 1, 1) - _SECOND if year <= max(years) else None


def parse_expression(text: str, timezone: str = "UTC", *, anchor: float = 0.0) -> Expression:
    """`text` (cron, rate or at) evaluated in `timezone`; a rate's ticks count from `anchor`
    (epoch seconds). ScheduleExpressionError names the field at fault, and a cron expression
    that can never fire is refused. The same arguments give the same (immutable) expression."""
    if not isinstance(text, str):
        raise ScheduleExpressionError(
            "a schedule expression is a string: cron(...), rate(...) or at(...)", field="expression"
        )
    if not isinstance(timezone, str):
        raise ScheduleExpressionError(
            f"time zone {timezone!r} is not an IANA time zone name such as UTC or Europe/Paris",
            field="timezone",
        )
    return _parse(text, timezone, float(anchor))


@functools.lru_cache(maxsize=1024)
def _parse(text: str, timezone: str, anchor: float) -> Expression:
    tz = zone(timezone)
    text = text.strip()
    if text.startswith("rate("):
        return _rate(text, anchor)
    if text.startswith("at("):
        return _at(text, tz)
    if text.startswith("cron("):
        return _cron(text, tz)
    raise ScheduleExpressionError(
        f"{text!r} is not a schedule expression: write cron(0 8 ? * MON-FRI *),"
        " rate(5 minutes) or at(2030-01-31T09:00:00)",
        field="expression",
    )


def _rate(text: str, anchor: float) -> Rate:
    found = _RATE.fullmatch(text)
    if found is None:
        raise ScheduleExpressionError(
            f"{text}: a rate is rate(VALUE UNIT), e.g. rate(1 hour) or rate(5 minutes)",
            field="rate",
        )
    if len(found[1]) > len(str(MAX_RATE_VALUE)) or int(found[1]) > MAX_RATE_VALUE:
        raise ScheduleExpressionError(
            f"{text[:40]}{'…' if len(text) > 40 else ''}: the value must be at most"
            f" {MAX_RATE_VALUE} (a positive 32-bit integer, as Scheduler's API types it)",
            field="rate",
        )
    value, unit = int(found[1]), found[2]
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        raise ScheduleExpressionError(
            f"{text}: the unit must be minute(s), hour(s) or day(s), not {unit!r}", field="rate"
        )
    if value < 1:
        raise ScheduleExpressionError(f"{text}: the value must be 1 or more", field="rate")
    if value == 1 and unit != singular:
        raise ScheduleExpressionError(
            f"{text}: a value of 1 takes the singular unit, rate(1 {singular})", field="rate"
        )
    if value > 1 and unit == singular:
        raise ScheduleExpressionError(
            f"{text}: a value above 1 takes the plural unit, rate({value} {singular}s)",
            field="rate",
        )
    return Rate(text, value * _RATE_UNITS[singular], anchor)


def _at(text: str, tz: ZoneInfo) -> At:
    found = _AT.fullmatch(text)
    if found is None:
        raise ScheduleExpressionError(
            f"{text}: a one-time schedule is at(yyyy-mm-ddThh:mm:ss), e.g. at(2030-01-31T09:00:00)",
            field="at",
        )
    try:
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ScheduleExpressionError(f"{text}: {exc}", field="at") from None
    try:
        tick = _instant(naive, tz)
    except OverflowError:  # e.g. 9999-12-31T23:00 in New York is in year 10000 in UTC
        raise ScheduleExpressionError(
            f"{text}: {naive:%Y-%m-%d %H:%M:%S} in {tz.key} is past the last date (9999-12-31"
            " in UTC)",
            field="at",
        ) from None
    if tick is None:
        raise ScheduleExpressionError(
            f"{text}: {naive:%Y-%m-%d %H:%M:%S} does not exist in {tz.key} (the clocks skip it)",
            field="at",
        )
    return At(text, tick)


def _cron(text: str, tz: ZoneInfo) -> Cron:
    found = _CRON.fullmatch(text)
    fields = found[1].upper().split() if found else []
    if len(fields) != 6:
        raise ScheduleExpressionError(
            f"{text}: cron takes 6 fields (minutes hours day-of-month month day-of-week year),"
            f" got {len(fields)}",
            field="expression",
        )
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(
            f"{text}: exactly one of day-of-month and day-of-week must be ?"
            " (e.g. cron(0 8 ? * MON-FRI *) or cron(0 8 1 * ? *))",
            field="day-of-month" if dom != "?" else "day-of-week",
        )
    nearest: int | None = None
    month_spec = terms(FIELDS["month"], month, text)
    if dom == "?":
        dom_spec = "*"
    elif dom in ("L", "LW"):
        dom_spec = dom
    elif dom.endswith("W"):
        nearest = number(FIELDS["day-of-month"], dom[:-1], text)
        # cronsim offers the days around n; the filter keeps the weekday nearest to n.
        dom_spec = f"{max(1, nearest - 2)}-{min(31, nearest + 2)}"
        month_spec = months_with_day(nearest, month, text)
    else:
        dom_spec = terms(FIELDS["day-of-month"], dom, text)
    spec = " ".join(
        [
            terms(FIELDS["minutes"], minutes, text),
            terms(FIELDS["hours"], hours, text),
            dom_spec,
            month_spec,
            "*" if dow == "?" else day_of_week(dow, text),
        ]
    )
    try:
        CronSim(spec, datetime(2000, 1, 1))
    except CronSimError as exc:  # a day no month in the expression has, e.g. 30 of FEB
        name = str(exc).removeprefix("Bad ")
        raise ScheduleExpressionError(f"{text}: the {name} never matches", field=name) from None
    parsed = Cron(text, tz, spec, years(year, text), nearest)
    first, last = min(parsed.years), max(parsed.years)
    # From the first second of its first year: a cron that never fires is refused.
    start = datetime(first, 1, 1, tzinfo=tz).timestamp() - 1
    if parsed.scan(start)[0] is None:
        raise ScheduleExpressionError(
            f"{text}: never fires: no minute from {first} to {last} matches its minutes, hours,"
            " day-of-month, month, day-of-week and year fields together (e.g. February 29th"
            " in years none of which is a leap year)",
            field="expression",
        )
    return parsed


def _next_year(years: frozenset[int], year: int, reverse: bool) -> int | None:
    later = [y for y in years if (y < year if reverse else y > year)]
    if not later:
        return None
    return max(later) if reverse else min(later)


def _nearest_weekday(day: datetime, n: int) -> int | None:
    """The day of `day`'s month that `nW` names: n if a weekday, else the nearest weekday
    within the month (Saturday the 1st: Monday the 3rd); None if the month has no day n."""
    last = ((day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
    if n > last:
        return None
    weekday = day.replace(day=n).weekday()  # Monday 0 … Sunday 6
    if weekday == 5:
        return n - 1 if n > 1 else n + 2
    if weekday == 6:
        return n + 1 if n < last else n - 2
    return n


def _wall(local: datetime) -> datetime:
    return local.replace(tzinfo=None, microsecond=0, fold=0)


def _instant(naive: datetime, tz: ZoneInfo) -> float | None:
    """The epoch seconds of wall time `naive` in `tz` (its first occurrence), None if the
    clocks skip it."""
    aware = naive.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        return None
    return aware.timestamp()
