"""The six fields of an EventBridge cron expression, checked against AWS's grammar (every error
names its field and its bounds) and written as the terms cronsim reads: AWS's day-of-week 1-7 =
SUN-SAT becomes cron's 0-6, ranges across a field's end (FRI-MON, 20-2) are spelled out, and
`nW` keeps only the months that have day n."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from lambeam.errors import ScheduleExpressionError

__all__ = ["DAYS", "FIELDS", "day_of_week", "months_with_day", "number", "terms", "years"]

DAYS = {name: i + 1 for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
_ITEM = re.compile(r"(\*|\d+|[A-Z]{3})(?:-(\d+|[A-Z]{3}))?(?:/(\d+))?", re.ASCII)
# The longest each month can be (February's 29th in leap years).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: Mapping[str, int]
    example: str


FIELDS = {
    f.name: f
    for f in (
        _Field("minutes", 0, 59, {}, "0, 0/15 or 5,35"),
        _Field("hours", 0, 23, {}, "8, 8-17 or */2"),
        _Field("day-of-month", 1, 31, {}, "1, 1-15, L, LW, 3W or ?"),
        _Field("month", 1, 12, _MONTHS, "1, JAN-MAR or *"),
        _Field("day-of-week", 1, 7, DAYS, "MON-FRI, 2#1, 6L, L or ?"),
        _Field("year", 1970, 2199, {}, "*, 2030 or 2030-2035"),
    )
}


def number(field: _Field, token: str, text: str) -> int:
    """`token` (a number or a name: MON, JAN) as the field's value, or an error naming the
    field's bounds by value (1-7 or SUN-SAT)."""
    value = field.names.get(token)
    if value is None and token.isascii() and token.isdigit() and len(token) <= 4:
        value = int(token)
    if value is None or not field.low <= value <= field.high:
        # by value: SUN-SAT, JAN-DEC
        names = f" or {min(field.names, key=field.names.__getitem__)}-" if field.names else ""
        names += max(field.names, key=field.names.__getitem__) if field.names else ""
        raise ScheduleExpressionError(
            f"{text}: {field.name} {token!r} is not {field.low}-{field.high}{names}"
            f" (e.g. {field.example})",
            field=field.name,
        )
    return value


def _items(
    field: _Field, value: str, text: str
) -> Iterator[tuple[int | None, int | None, int | None]]:
    """Each comma-separated item as (start, end, step); start None for `*`, step None when the
    item has no `/` (`5/1` is every minute from 5 on, `5` the fifth alone)."""
    for item in value.split(","):
        found = _ITEM.fullmatch(item)
        if found is None or (found[1] == "*" and found[2] is not None):
            raise ScheduleExpressionError(
                f"{text}: {field.name} {item!r} is not understood (e.g. {field.example})",
                field=field.name,
            )
        start = None if found[1] == "*" else number(field, found[1], text)
        end = number(field, found[2], text) if found[2] else None
        if start is not None and end is not None and end < start and field.name == "year":
            raise ScheduleExpressionError(
                f"{text}: {field.name} range {item!r} ends before it starts", field=field.name
            )
        # As AWS's (Quartz's) increments: at most 59 minutes, 23 hours, 31 days, 12 months.
        most = field.high - field.low if field.name == "year" else field.high
        step = (
            int(found[3]) if found[3] and len(found[3]) <= 4 else (most + 1 if found[3] else None)
        )
        if step is not None and not 1 <= step <= most:
            raise ScheduleExpressionError(
                f"{text}: {field.name} step in {item[:20]!r} must be 1 or more, at most {most}",
                field=field.name,
            )
        yield start, end, step


def terms(field: _Field, value: str, text: str, shift: int = 0) -> str:
    """The cron terms of an AWS list field, numbers moved by `shift` (day-of-week: -1)."""
    terms = []
    for start, end, step in _items(field, value, text):
        if start is not None and end is not None and end < start:
            # A range across the field's end (hours 20-2, FRI-MON), as AWS's examples use.
            around = [*range(start, field.high + 1), *range(field.low, end + 1)][:: step or 1]
            terms += [str(v + shift) for v in around]
            continue
        term = "*" if start is None else str(start + shift)
        if end is not None:
            term += f"-{end + shift}"
        if step is not None:
            term += f"/{step}"
        terms.append(term)
    return ",".join(terms)


def day_of_week(value: str, text: str) -> str:
    """AWS's day-of-week (1-7 = SUN-SAT, `L`, `nL`, `n#k`) as cron's (0-6 = SUN-SAT)."""
    field = FIELDS["day-of-week"]
    if value == "L":  # the last day of the week
        return str(DAYS["SAT"] - 1)
    if value.endswith("L"):
        return f"{number(field, value[:-1], text) - 1}L"
    if "#" in value:
        day, _, nth = value.partition("#")
        if "," in value or nth not in ("1", "2", "3", "4", "5"):
            raise ScheduleExpressionError(
                f"{text}: day-of-week {value!r}: # takes one day and its week 1-5, e.g. 2#1"
                " (the first Monday); only one # expression is allowed",
                field=field.name,
            )
        return f"{number(field, day, text) - 1}#{nth}"
    if "/" in value:
        raise ScheduleExpressionError(
            f"{text}: day-of-week takes no / increments (its wildcards are , - * ? L #)",
            field=field.name,
        )
    return terms(field, value, text, shift=-1)


def months_with_day(day: int, value: str, text: str) -> str:
    """The month field of `dayW` for cronsim: the expression's months that have that day, or
    ScheduleExpressionError (the nearest weekday to the 30th of February never comes)."""
    field = FIELDS["month"]
    months: set[int] = set()
    for start, end, step in _items(field, value, text):
        first = field.low if start is None else start
        if end is not None and end < first:  # across the year's end (NOV-FEB)
            around = [*range(first, field.high + 1), *range(field.low, end + 1)]
            months.update(around[:: step or 1])
            continue
        last = end if end is not None else (field.high if start is None or step else first)
        months.update(range(first, last + 1, step or 1))
    having = sorted(m for m in months if _MONTH_DAYS[m - 1] >= day)
    if not having:
        names = [name for name, value in _MONTHS.items() if value in months]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        has = "has" if len(names) == 1 else "have"
        raise ScheduleExpressionError(
            f"{text}: day-of-month {day}W never fires: {listed} {has} no day {day}",
            field="day-of-month",
        )
    return ",".join(str(m) for m in having)


def years(value: str, text: str) -> frozenset[int]:
    """The years the year field allows (1970-2199)."""
    field = FIELDS["year"]
    years: set[int] = set()
    for start, end, step in _items(field, value, text):
        first = field.low if start is None else start
        last = end if end is not None else (field.high if start is None or step else first)
        years.update(range(first, last + 1, step or 1))
    return frozenset(years)
