"""EventBridge's cron, rate and at expressions: AWS's documented examples and their fire times."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from lambeam.errors import ScheduleExpressionError
from lambeam.events.expressions import MAX_CANDIDATES, Cron, parse_expression


def _epoch(moment: str, tz: str = "UTC") -> float:
    return datetime.fromisoformat(moment).replace(tzinfo=ZoneInfo(tz)).timestamp()


def _ticks(expression: str, start: str, count: int = 4, tz: str = "UTC") -> list[str]:
    """The next `count` fire times after `start` (wall time in `tz`), as local ISO strings."""
    parsed = parse_expression(expression, tz)
    found = parsed.upcoming(_epoch(start, tz), count)
    local = [datetime.fromtimestamp(t, ZoneInfo(tz)).isoformat(timespec="minutes") for t in found]
    return [t.removesuffix("+00:00") if tz == "UTC" else t for t in local]


# AWS's example table (EventBridge's cron expressions reference) and the wildcards it documents.
@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        # 10:00 every day
        (
            "cron(0 10 * * ? *)",
            "2024-06-01T12:00",
            ["2024-06-02T10:00", "2024-06-03T10:00"],
        ),
        # 12:15 every day
        ("cron(15 12 * * ? *)", "2024-06-01T00:00", ["2024-06-01T12:15", "2024-06-02T12:15"]),
        # 18:00 Monday to Friday (from a Friday evening: the next Monday)
        (
            "cron(0 18 ? * MON-FRI *)",
            "2024-06-07T19:00",
            ["2024-06-10T18:00", "2024-06-11T18:00"],
        ),
        # 08:00 on the first day of every month
        ("cron(0 8 1 * ? *)", "2024-01-15T00:00", ["2024-02-01T08:00", "2024-03-01T08:00"]),
        # every 15 minutes
        (
            "cron(0/15 * * * ? *)",
            "2024-06-01T00:07",
            ["2024-06-01T00:15", "2024-06-01T00:30", "2024-06-01T00:45", "2024-06-01T01:00"],
        ),
        # every 10 minutes Monday to Friday
        (
            "cron(0/10 * ? * MON-FRI *)",
            "2024-06-07T23:55",
            ["2024-06-10T00:00", "2024-06-10T00:10"],
        ),
        # every 5 minutes between 08:00 and 17:55 Monday to Friday
        (
            "cron(0/5 8-17 ? * MON-FRI *)",
            "2024-06-10T17:50",
            ["2024-06-10T17:55", "2024-06-11T08:00"],
        ),
        # every 30 minutes from 20:00 to 02:00 Monday to Friday (a range across midnight)
        (
            "cron(0/30 20-2 ? * MON-FRI *)",
            "2024-06-07T23:45",
            [
                "2024-06-10T00:00",
                "2024-06-10T00:30",
                "2024-06-10T01:00",
                "2024-06-10T01:30",
                "2024-06-10T02:00",
                "2024-06-10T02:30",
                "2024-06-10T20:00",
            ],
        ),
        # 1/10: every tenth minute from minute 1
        ("cron(1/10 * * * ? *)", "2024-06-01T00:00", ["2024-06-01T00:01", "2024-06-01T00:11"]),
        # 2#1 is the first Monday (2 = MON: AWS counts SUN as 1)
        (
            "cron(0 10 ? * 2#1 *)",
            "2024-06-01T00:00",
            ["2024-06-03T10:00", "2024-07-01T10:00", "2024-08-05T10:00", "2024-09-02T10:00"],
        ),
        # 3#2 is the second Tuesday
        ("cron(0 10 ? * 3#2 *)", "2024-06-01T00:00", ["2024-06-11T10:00", "2024-07-09T10:00"]),
        # 6L is the last Friday
        (
            "cron(15 10 ? * 6L *)",
            "2024-01-01T00:00",
            ["2024-01-26T10:15", "2024-02-23T10:15", "2024-03-29T10:15", "2024-04-26T10:15"],
        ),
        # FRIL likewise, by name
        ("cron(15 10 ? * FRIL *)", "2024-01-01T00:00", ["2024-01-26T10:15"]),
        # L in day-of-month: the last day, leap years included
        (
            "cron(0 0 L * ? *)",
            "2024-01-01T00:00",
            ["2024-01-31T00:00", "2024-02-29T00:00", "2024-03-31T00:00", "2024-04-30T00:00"],
        ),
        # LW: the last weekday of the month (31 Mar 2024 is a Sunday, 30 Jun a Sunday)
        (
            "cron(0 0 LW * ? *)",
            "2024-03-01T00:00",
            ["2024-03-29T00:00", "2024-04-30T00:00", "2024-05-31T00:00", "2024-06-28T00:00"],
        ),
        # 15W: the weekday nearest the 15th (Sat 15 Jun -> Fri 14, Sun 15 Sep -> Mon 16)
        (
            "cron(0 9 15W * ? *)",
            "2024-06-01T00:00",
            ["2024-06-14T09:00", "2024-07-15T09:00", "2024-08-15T09:00", "2024-09-16T09:00"],
        ),
        # 1W never crosses into the month before (Sat 1 Jun -> Mon 3, Sun 1 Sep -> Mon 2)
        (
            "cron(0 9 1W * ? *)",
            "2024-05-31T00:00",
            ["2024-06-03T09:00", "2024-07-01T09:00", "2024-08-01T09:00", "2024-09-02T09:00"],
        ),
        # 30W nor after it (Sun 30 Jun, the last day -> Fri 28)
        (
            "cron(0 9 30W * ? *)",
            "2024-06-01T00:00",
            ["2024-06-28T09:00", "2024-07-30T09:00", "2024-08-30T09:00", "2024-09-30T09:00"],
        ),
        # 31W fires only in months with a 31st (Sat 31 Aug -> Fri 30)
        (
            "cron(0 9 31W * ? *)",
            "2024-06-01T00:00",
            ["2024-07-31T09:00", "2024-08-30T09:00", "2024-10-31T09:00", "2024-12-31T09:00"],
        ),
        # L in day-of-week alone: the last day of the week, Saturday
        ("cron(0 12 ? * L *)", "2024-06-01T13:00", ["2024-06-08T12:00", "2024-06-15T12:00"]),
        # 1 is Sunday and 7 Saturday
        ("cron(0 0 ? * 1 *)", "2024-06-03T00:00", ["2024-06-09T00:00"]),
        ("cron(0 0 ? * 7 *)", "2024-06-03T00:00", ["2024-06-08T00:00"]),
        # a range of days across the week's end (FRI-MON)
        (
            "cron(0 0 ? * FRI-MON *)",
            "2024-06-04T00:00",
            ["2024-06-07T00:00", "2024-06-08T00:00", "2024-06-09T00:00", "2024-06-10T00:00"],
        ),
        # month names, and a list
        ("cron(0 0 1 JAN,JUL ? *)", "2024-02-01T00:00", ["2024-07-01T00:00", "2025-01-01T00:00"]),
        # the year field is honoured, far beyond cron's 50-year horizon, and never read as seconds
        (
            "cron(0 0 1 1 ? 2030,2150)",
            "2024-01-01T00:00",
            ["2030-01-01T00:00", "2150-01-01T00:00"],
        ),
        (
            "cron(0 0 1 1 ? 2024/2)",
            "2023-06-01T00:00",
            ["2024-01-01T00:00", "2026-01-01T00:00", "2028-01-01T00:00"],
        ),
        ("cron(5 8 * * ? 2030)", "2024-01-01T00:00", ["2030-01-01T08:05", "2030-01-02T08:05"]),
        ("cron(0 0 31 12 ? 2199)", "2198-06-01T00:00", ["2199-12-31T00:00"]),
    ],
)
def test_cron_fires_when_aws_says(expression: str, start: str, expected: list[str]) -> None:
    assert _ticks(expression, start, len(expected) + 1)[: len(expected)] == expected


def test_the_year_field_ends_a_schedule() -> None:
    assert _ticks("cron(0 0 1 1 ? 2030,2150)", "2024-01-01T00:00", 5) == [
        "2030-01-01T00:00",
        "2150-01-01T00:00",
    ]
    assert _ticks("cron(0 8 * * ? 2020)", "2024-01-01T00:00") == []


def test_cron_runs_on_the_wall_clock_of_its_time_zone() -> None:
    paris = parse_expression("cron(0 8 ? * MON-FRI *)", "Europe/Paris")
    (summer,) = paris.upcoming(_epoch("2024-06-03T00:00", "Europe/Paris"), 1)
    assert datetime.fromtimestamp(summer, UTC).isoformat() == "2024-06-03T06:00:00+00:00"
    (winter,) = paris.upcoming(_epoch("2024-12-02T00:00", "Europe/Paris"), 1)
    assert datetime.fromtimestamp(winter, UTC).isoformat() == "2024-12-02T07:00:00+00:00"


def test_daylight_saving_skips_a_missing_time_and_fires_a_repeated_one_once() -> None:
    # Paris: 31 Mar 2024 02:00 -> 03:00 (no 02:30 that day); 27 Oct 03:00 -> 02:00 (two 02:30s).
    assert _ticks("cron(30 2 * * ? *)", "2024-03-30T03:00", 2, "Europe/Paris") == [
        "2024-04-01T02:30+02:00",
        "2024-04-02T02:30+02:00",
    ]
    assert _ticks("cron(30 2 * * ? *)", "2024-10-27T00:00", 2, "Europe/Paris") == [
        "2024-10-27T02:30+02:00",
        "2024-10-28T02:30+01:00",
    ]
    # every 15 minutes through the repeated hour: each wall time once
    fall = _ticks("cron(0/15 2 * * ? *)", "2024-10-27T01:59", 5, "Europe/Paris")
    assert fall == [
        "2024-10-27T02:00+02:00",
        "2024-10-27T02:15+02:00",
        "2024-10-27T02:30+02:00",
        "2024-10-27T02:45+02:00",
        "2024-10-28T02:00+01:00",
    ]


def test_previous_is_the_latest_tick_at_or_before() -> None:
    daily = parse_expression("cron(0 10 * * ? *)")
    assert daily.previous(_epoch("2024-06-02T09:00")) == _epoch("2024-06-01T10:00")
    assert daily.previous(_epoch("2024-06-02T10:00")) == _epoch("2024-06-02T10:00")
    first_monday = parse_expression("cron(0 10 ? * 2#1 *)")
    assert first_monday.previous(_epoch("2024-07-20T00:00")) == _epoch("2024-07-01T10:00")
    yearly = parse_expression("cron(0 0 1 1 ? 2030,2150)")
    assert yearly.previous(_epoch("2100-01-01T00:00")) == _epoch("2030-01-01T00:00")
    assert yearly.previous(_epoch("2029-01-01T00:00")) is None
    # Paris's repeated hour: 02:50 CEST is 00:50 UTC, 02:50 CET 01:50 UTC. In its second pass
    # the latest tick is still the first pass's 02:45 (00:45 UTC): the wall times fired once.
    repeated = parse_expression("cron(0/15 2 * * ? *)", "Europe/Paris")
    assert repeated.previous(_epoch("2024-10-27T00:50")) == _epoch("2024-10-27T00:45")
    assert repeated.previous(_epoch("2024-10-27T01:50")) == _epoch("2024-10-27T00:45")


def test_rate_counts_real_time_from_its_anchor() -> None:
    anchor = _epoch("2024-03-30T12:00:30", "Europe/Paris")
    every5 = parse_expression("rate(5 minutes)", "Europe/Paris", anchor=anchor)
    assert every5.previous(anchor - 1) is None
    assert every5.next(anchor - 1) == anchor  # the first tick is the anchor: Scheduler starts now
    assert every5.previous(anchor + 601) == anchor + 600
    assert every5.next(anchor + 600) == anchor + 900
    daily = parse_expression("rate(1 day)", "Europe/Paris", anchor=anchor)
    # 24 hours across the change to summer time (31 Mar): 13:00:30 local on 1 Apr
    after_dst = daily.upcoming(anchor, 2)[1]
    assert datetime.fromtimestamp(after_dst, ZoneInfo("Europe/Paris")).hour == 13
    assert parse_expression("rate(1 hour)").next(0.0) == 3600.0
    assert parse_expression("rate(2 hours)").next(0.0) == 7200.0


def test_at_fires_once_in_its_time_zone() -> None:
    once = parse_expression("at(2030-01-31T09:00:00)", "Europe/Paris")
    tick = _epoch("2030-01-31T08:00")
    assert once.next(0) == tick and once.next(tick) is None
    assert once.previous(tick) == tick and once.previous(tick - 1) is None
    assert once.upcoming(0, 3) == [tick]


@pytest.mark.parametrize(
    ("expression", "timezone", "field", "says"),
    [
        ("cron(0 8 * * MON-FRI *)", "UTC", "day-of-month", "exactly one of"),
        ("cron(0 8 ? * ? *)", "UTC", "day-of-week", "exactly one of"),
        ("cron(0 8 * * ?)", "UTC", "expression", "6 fields"),
        ("cron(0 0 8 * * ? *)", "UTC", "expression", "6 fields"),  # no seconds field
        ("cron(60 8 * * ? *)", "UTC", "minutes", "0-59"),
        ("cron(*/0 8 * * ? *)", "UTC", "minutes", "step"),
        ("cron(0 24 * * ? *)", "UTC", "hours", "0-23"),
        ("cron(0 8 32 * ? *)", "UTC", "day-of-month", "1-31"),
        ("cron(0 8 0 * ? *)", "UTC", "day-of-month", "1-31"),
        ("cron(0 8 30 FEB ? *)", "UTC", "day-of-month", "never matches"),
        ("cron(0 8 L-3 * ? *)", "UTC", "day-of-month", "not understood"),
        ("cron(0 8 ? 13 MON *)", "UTC", "month", "1-12"),
        ("cron(0 8 ? FOO MON *)", "UTC", "month", "1-12"),
        ("cron(0 8 ? * 0 *)", "UTC", "day-of-week", "1-7"),  # cron's Sunday 0 is not AWS's
        ("cron(0 8 ? * 8 *)", "UTC", "day-of-week", "1-7"),
        ("cron(0 8 ? * FOO *)", "UTC", "day-of-week", "1-7"),
        ("cron(0 8 ? * 2#6 *)", "UTC", "day-of-week", "#"),
        ("cron(0 8 ? * 3#1,6#3 *)", "UTC", "day-of-week", "only one #"),
        ("cron(0 8 ? * MON/2 *)", "UTC", "day-of-week", "no / increments"),
        ("cron(0 8 * * ? 1969)", "UTC", "year", "1970-2199"),
        ("cron(0 8 * * ? 2200)", "UTC", "year", "1970-2199"),
        ("cron(0 8 * * ? 2031-2030)", "UTC", "year", "ends before"),
        ("rate(1 minutes)", "UTC", "rate", "rate(1 minute)"),
        ("rate(5 minute)", "UTC", "rate", "rate(5 minutes)"),
        ("rate(0 minutes)", "UTC", "rate", "1 or more"),
        ("rate(30 seconds)", "UTC", "rate", "minute(s), hour(s) or day(s)"),
        ("rate(five minutes)", "UTC", "rate", "rate(VALUE UNIT)"),
        ("at(2030-13-01T00:00:00)", "UTC", "at", "month"),
        ("at(2030-01-01 00:00:00)", "UTC", "at", "yyyy-mm-ddThh:mm:ss"),
        ("at(2024-03-31T02:30:00)", "Europe/Paris", "at", "does not exist"),
        ("every day at noon", "UTC", "expression", "cron(0 8 ? * MON-FRI *)"),
        ("rate(5 minutes)", "Mars/Olympus_Mons", "timezone", "IANA"),
        ("rate(5 minutes)", "../../etc/passwd", "timezone", "IANA"),
    ],
)
def test_a_malformed_expression_names_its_field(
    expression: str, timezone: str, field: str, says: str
) -> None:
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_expression(expression, timezone)
    assert caught.value.field == field
    assert says in str(caught.value)
    assert caught.value.http_status == 400


# Review 13, finding 5: an expression that can never fire is refused when it is parsed, and no
# search walks more than a bounded number of candidates (each counted by Cron.scan).
@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("cron(* * 30W 2 ? *)", "FEB has no day 30"),
        ("cron(* * 31W 2,4,6,9,11 ? *)", "FEB, APR, JUN, SEP and NOV have no day 31"),
        ("cron(0 0 29W 2 ? 2025/4)", "never fires"),  # February 29th in no year of the field
        ("cron(0 0 29 2 ? 2101-2103)", "never fires"),
        ("cron(0 0 ? 2 2#5 2045-2060)", "never fires"),  # no fifth Monday of February then
    ],
)
def test_an_expression_that_never_fires_is_refused(expression: str, says: str) -> None:
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_expression(expression)
    assert says in str(caught.value)
    assert caught.value.http_status == 400


def test_a_search_examines_a_bounded_number_of_candidates() -> None:
    # 02:xx on the last Sunday of March is skipped by Paris's clocks every year since 1976
    # (it fired before, so it parses): a search from 2024 gives up, it does not walk 200,000.
    skipped = parse_expression("cron(* 2 ? 3 1L *)", "Europe/Paris")
    assert isinstance(skipped, Cron)
    tick, tried = skipped.scan(_epoch("2024-01-01T00:00"))
    assert tick is None and tried <= MAX_CANDIDATES
    assert skipped.next(_epoch("2024-01-01T00:00")) is None
    # nW skips the days around n a day (or a month) at a time, not a minute at a time
    nearest = parse_expression("cron(* * 15W * ? *)")
    assert isinstance(nearest, Cron)
    tick, tried = nearest.scan(_epoch("2024-06-01T00:00"))  # Sat 15 Jun: Fri 14th
    assert tick == _epoch("2024-06-14T00:00") and tried <= 3
    tick, tried = nearest.scan(_epoch("2024-06-14T23:59"))  # the next is July's 15th
    assert tick == _epoch("2024-07-15T00:00") and tried <= 3
    tick, tried = nearest.scan(_epoch("2024-07-15T00:00"), reverse=True)
    assert tick == _epoch("2024-07-15T00:00") and tried == 1
    tick, tried = nearest.scan(_epoch("2024-07-14T00:00"), reverse=True)
    assert tick == _epoch("2024-06-14T23:59") and tried <= 3
    # February 29th's nearest weekday: only leap years, found a year at a time
    leap = parse_expression("cron(0 9 29W 2 ? *)")
    assert isinstance(leap, Cron)
    tick, tried = leap.scan(_epoch("2025-01-01T00:00"))
    assert tick == _epoch("2028-02-29T09:00") and tried <= 6
    tick, tried = leap.scan(_epoch("2027-12-31T00:00"), reverse=True)
    assert tick == _epoch("2024-02-29T09:00") and tried <= 6


def test_next_and_previous_answer_from_memory_between_ticks() -> None:
    daily = parse_expression("cron(0 10 * * ? *)")
    assert parse_expression("cron(0 10 * * ? *)") is daily  # parsed once per expression
    assert daily.previous(_epoch("2024-06-02T09:00")) == _epoch("2024-06-01T10:00")
    assert daily.next(_epoch("2024-06-02T09:00")) == _epoch("2024-06-02T10:00")
    assert daily.next(_epoch("2024-06-02T09:59")) == _epoch("2024-06-02T10:00")
    assert daily.previous(_epoch("2024-06-01T10:00")) == _epoch("2024-06-01T10:00")
    assert daily.previous(_epoch("2024-06-02T10:00")) == _epoch("2024-06-02T10:00")
    assert daily.next(_epoch("2024-06-02T10:00")) == _epoch("2024-06-03T10:00")
    assert daily.previous(_epoch("2024-05-01T00:00")) == _epoch("2024-04-30T10:00")


# Review 13, finding 6: a rate's value is a positive 32-bit integer (Scheduler's API types it
# so); beyond, a clear error, not an overflow.
@pytest.mark.parametrize(
    "expression",
    ["rate(99999999999999999999 minutes)", "rate(2147483648 days)", f"rate({'9' * 5000} days)"],
)
def test_a_rate_beyond_scheduler_limit_is_refused(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_expression(expression)
    assert caught.value.field == "rate" and "at most 2147483647" in str(caught.value)


def test_the_largest_rate_and_far_dates_do_not_overflow() -> None:
    largest = parse_expression("rate(2147483647 days)", anchor=0.0)
    assert largest.next(0.0) == 2147483647 * 86400.0
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_expression("at(9999-12-31T23:00:00)", "America/New_York")  # after year 9999 in UTC
    assert caught.value.field == "at"


# Review 13, S9 and other malformed input: the bounds named by value, never a 500.
@pytest.mark.parametrize(
    ("expression", "field", "says"),
    [
        ("cron(0 8 ? * FOO *)", "day-of-week", "1-7 or SUN-SAT"),
        ("cron(0 8 ? FOO MON *)", "month", "1-12 or JAN-DEC"),
        (f"cron(0 8 * * ? {'9' * 5000})", "year", "1970-2199"),
        (f"cron(0/{'9' * 5000} 8 * * ? *)", "minutes", "step"),
        ("cron(0 8 ²W * ? *)", "day-of-month", "1-31"),
        ("cron(0 8 ? * 2#² *)", "day-of-week", "#"),
    ],
)
def test_a_bad_field_names_its_bounds(expression: str, field: str, says: str) -> None:
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_expression(expression)
    assert caught.value.field == field and says in str(caught.value)


@pytest.mark.parametrize("timezone", [5, None, ["UTC"], {"a": 1}])
def test_a_time_zone_that_is_not_a_string_is_refused(timezone: object) -> None:
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_expression("rate(1 hour)", timezone)  # type: ignore[arg-type]
    assert caught.value.field == "timezone"
