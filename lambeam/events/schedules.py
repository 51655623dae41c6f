"""Schedules (EventBridge Scheduler's): a function invoked at each tick of an expression.

    create_schedule(db, "nightly", "cron(0 2 * * ? *)", "report", timezone="Europe/Paris")
    disable_schedule(db, "nightly"); enable_schedule(db, "nightly")
    update_schedule(db, "nightly", input={"full": True})

The target is a function (a name, `name:qualifier` or a function ARN, with an optional version
or alias), invoked asynchronously at each tick with EventBridge's Scheduled Event, or with the
schedule's `input` (any JSON value) as the event when it has one; lambeam.events.scheduler
fires the ticks. A rate counts from the schedule's creation; no tick from before the schedule's
last change fires (a schedule enabled again does not catch up on what it skipped).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lambeam.errors import ScheduleConflictError, ScheduleExpressionError, ScheduleNotFoundError
from lambeam.events.expressions import Expression, parse_expression
from lambeam.events.schedule_rules import (
    check_enabled,
    check_input,
    check_schedule_name,
    resolve_target,
)
from lambeam.runtime import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from lambeam.storage import Database, as_utc
from lambeam.storage.audit import record
from lambeam.storage.schema import ScheduleRow, ScheduleTickRow

__all__ = [
    "KEEP",
    "ScheduleInfo",
    "add_schedule",
    "change_schedule",
    "check_input",
    "check_schedule_name",
    "create_schedule",
    "delete_schedule",
    "disable_schedule",
    "enable_schedule",
    "get_schedule",
    "list_schedules",
    "remove_schedule",
    "rule_arn",
    "schedule_arn",
    "update_schedule",
]


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # update_schedule: leave this field as it is (None clears a qualifier or input)


def schedule_arn(
    name: str, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID
) -> str:
    """arn:aws:scheduler:<region>:<account>:schedule/default/<name>, as Scheduler writes it
    (lambeam has one schedule group, `default`)."""
    return f"arn:aws:scheduler:{region}:{account_id}:schedule/default/{name}"


def rule_arn(name: str, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID) -> str:
    """arn:aws:events:<region>:<account>:rule/<name>: what a Scheduled Event's `resources`
    names (EventBridge's scheduled rule, as in AWS's example event from source aws.events)."""
    return f"arn:aws:events:{region}:{account_id}:rule/{name}"


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule as stored: its expression, time zone, target function and input."""

    name: str
    expression: str
    timezone: str
    function: str
    qualifier: str | None
    input: Any
    enabled: bool
    origin: str
    created_at: datetime
    updated_at: datetime
    last_tick: float | None = None  # the latest tick fired, when asked for

    @property
    def since(self) -> float:
        """Epoch seconds of the last change: no earlier tick fires."""
        return self.updated_at.timestamp()

    def timing(self) -> Expression:
        """The expression, evaluated in the schedule's time zone (a rate from its creation)."""
        return parse_expression(self.expression, self.timezone, anchor=self.created_at.timestamp())

    def next_ticks(self, now: float, count: int = 3) -> list[float]:
        """The next `count` ticks after `now` that will fire (none while disabled, none for an
        expression stored before it was refused, e.g. one that never fires)."""
        if not self.enabled:
            return []
        try:
            timing = self.timing()
        except ScheduleExpressionError:
            return []
        return timing.upcoming(max(now, self.since - 1e-6), count)

    def arn(self, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID) -> str:
        """The schedule's ARN."""
        return schedule_arn(self.name, region, account_id)

    def to_dict(
        self,
        now: float | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> dict[str, Any]:
        """The schedule as JSON; with `now`, its next fire times too."""
        answer: dict[str, Any] = {
            "name": self.name,
            "arn": self.arn(region, account_id),
            "expression": self.expression,
            "timezone": self.timezone,
            "function": self.function,
            "qualifier": self.qualifier,
            "input": self.input,
            "enabled": self.enabled,
            "state": "ENABLED" if self.enabled else "DISABLED",
            "origin": self.origin,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_fired": _iso(self.last_tick) if self.last_tick is not None else None,
        }
        if now is not None:
            # a tick past year 9999 (rate(2147483647 days)) has no date to show
            shown = (_iso(tick) for tick in self.next_ticks(now))
            answer["next"] = [tick for tick in shown if tick is not None]
        return answer


def create_schedule(
    db: Database,
    name: str,
    expression: str,
    function: str,
    *,
    qualifier: str | None = None,
    timezone: str = "UTC",
    input: Any = None,
    enabled: bool = True,
    clock: Callable[[], float] = time.time,
) -> ScheduleInfo:
    """Create schedule `name` invoking `function` (a name, `name:qualifier` or ARN) at each tick
    of `expression` in `timezone`; ScheduleConflictError if the name is taken."""
    with db.session() as session:
        return _info(
            add_schedule(
                session,
                name,
                expression,
                function,
                qualifier=qualifier,
                timezone=timezone,
                input=input,
                enabled=enabled,
                origin="api",
                now=clock(),
            )
        )


def add_schedule(
    session: Session,
    name: str,
    expression: str,
    function: str,
    *,
    qualifier: str | None,
    timezone: str,
    input: Any,
    enabled: bool,
    origin: str,
    now: float,
) -> ScheduleRow:
    """Insert a checked schedule row in `session` (create_schedule's and apply's core)."""
    check_schedule_name(name)
    parse_expression(expression, timezone)
    function, qualifier = resolve_target(session, function, qualifier)
    check_input(input)
    check_enabled(enabled)
    if session.get(ScheduleRow, name) is not None:
        raise ScheduleConflictError(f"schedule {name!r} already exists")
    moment = datetime.fromtimestamp(now, UTC)
    row = ScheduleRow(
        name=name,
        expression=expression.strip(),
        timezone=timezone,
        function=function,
        qualifier=qualifier,
        input=input,
        enabled=enabled,
        origin=origin,
        created_at=moment,
        updated_at=moment,
    )
    session.add(row)
    session.flush()
    record(session, "scheduler:CreateSchedule", f"schedule:{name}", _details(row))
    return row


def get_schedule(db: Database, name: str) -> ScheduleInfo:
    """Schedule `name` (with the latest tick it fired), or ScheduleNotFoundError."""
    with db.session() as session:
        row = _row(session, name)
        return _info(row, _last_ticks(session, [name]).get(name))


def list_schedules(
    db: Database, *, function: str | None = None, enabled_only: bool = False
) -> list[ScheduleInfo]:
    """Every schedule by name (those of `function`, those enabled), each with its last tick."""
    query = select(ScheduleRow).order_by(ScheduleRow.name)
    if function is not None:
        query = query.where(ScheduleRow.function == function)
    if enabled_only:
        query = query.where(ScheduleRow.enabled.is_(True))
    with db.session() as session:
        rows = session.scalars(query).all()
        last = _last_ticks(session, [row.name for row in rows])
        return [_info(row, last.get(row.name)) for row in rows]


def update_schedule(
    db: Database,
    name: str,
    *,
    expression: str = KEEP,
    timezone: str = KEEP,
    function: str = KEEP,
    qualifier: str | None = KEEP,
    input: Any = KEEP,
    enabled: bool = KEEP,
    clock: Callable[[], float] = time.time,
) -> ScheduleInfo:
    """Change what is given (KEEP leaves a field); a change restarts the schedule's ticks from
    now (no tick from before it fires)."""
    with db.session() as session:
        row = _row(session, name)
        change_schedule(
            session,
            row,
            expression=expression,
            timezone=timezone,
            function=function,
            qualifier=qualifier,
            input=input,
            enabled=enabled,
            now=clock(),
        )
        return _info(row, _last_ticks(session, [name]).get(name))


def change_schedule(
    session: Session,
    row: ScheduleRow,
    *,
    expression: str = KEEP,
    timezone: str = KEEP,
    function: str = KEEP,
    qualifier: str | None = KEEP,
    input: Any = KEEP,
    enabled: bool = KEEP,
    origin: str = KEEP,
    now: float,
) -> bool:
    """Make `row` say what is given (update_schedule's and apply's core); whether it changed."""
    if expression is not KEEP:
        parse_expression(expression, row.timezone if timezone is KEEP else timezone)
    after: dict[str, Any] = {
        "expression": row.expression if expression is KEEP else expression.strip(),
        "timezone": row.timezone if timezone is KEEP else timezone,
        "input": row.input if input is KEEP else input,
        "enabled": row.enabled if enabled is KEEP else enabled,
        "origin": row.origin if origin is KEEP else origin,
    }
    parse_expression(after["expression"], after["timezone"])
    check_input(after["input"])
    check_enabled(after["enabled"])
    if function is KEEP and qualifier is KEEP:
        after["function"], after["qualifier"] = row.function, row.qualifier
    else:
        given = row.function if function is KEEP else function
        keep_qualifier = row.qualifier if function is KEEP else None
        after["function"], after["qualifier"] = resolve_target(
            session, given, keep_qualifier if qualifier is KEEP else qualifier
        )
    before = {key: getattr(row, key) for key in after}
    changed = {key: [before[key], value] for key, value in after.items() if before[key] != value}
    if not changed:
        return False
    for key, value in after.items():
        setattr(row, key, value)
    row.updated_at = datetime.fromtimestamp(now, UTC)
    session.flush()
    record(session, "scheduler:UpdateSchedule", f"schedule:{row.name}", changed)
    return True


def enable_schedule(
    db: Database, name: str, *, clock: Callable[[], float] = time.time
) -> ScheduleInfo:
    """Let the schedule fire again, from its next tick on."""
    return update_schedule(db, name, enabled=True, clock=clock)


def disable_schedule(
    db: Database, name: str, *, clock: Callable[[], float] = time.time
) -> ScheduleInfo:
    """Stop the schedule firing (it is kept)."""
    return update_schedule(db, name, enabled=False, clock=clock)


def delete_schedule(db: Database, name: str) -> None:
    """Delete schedule `name` (and the record of its ticks)."""
    with db.session() as session:
        remove_schedule(session, _row(session, name))


def remove_schedule(session: Session, row: ScheduleRow) -> None:
    """Delete `row` and its ticks in `session` (delete_schedule's and apply's core)."""
    session.execute(delete(ScheduleTickRow).where(ScheduleTickRow.schedule == row.name))
    session.delete(row)
    session.flush()
    record(session, "scheduler:DeleteSchedule", f"schedule:{row.name}", _details(row))


def _row(session: Session, name: str) -> ScheduleRow:
    row = session.get(ScheduleRow, name) if isinstance(name, str) else None
    if row is None:
        raise ScheduleNotFoundError(f"Schedule not found: {name}")
    return row


def _last_ticks(session: Session, names: list[str]) -> dict[str, float]:
    if not names:
        return {}
    rows = session.execute(
        select(ScheduleTickRow.schedule, func.max(ScheduleTickRow.tick))
        .where(ScheduleTickRow.schedule.in_(names))
        .group_by(ScheduleTickRow.schedule)
    ).all()
    return {name: float(tick) for name, tick in rows}


def _info(row: ScheduleRow, last_tick: float | None = None) -> ScheduleInfo:
    return ScheduleInfo(
        name=row.name,
        expression=row.expression,
        timezone=row.timezone,
        function=row.function,
        qualifier=row.qualifier,
        input=row.input,
        enabled=row.enabled,
        origin=row.origin,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        last_tick=last_tick,
    )


def _details(row: ScheduleRow) -> dict[str, Any]:
    return {
        "expression": row.expression,
        "timezone": row.timezone,
        "function": row.function,
        "qualifier": row.qualifier,
        "enabled": row.enabled,
    }


def _iso(tick: float) -> str | None:
    """`tick` as 2030-01-31T09:00:00Z, or None past the dates Python has (year 1 to 9999)."""
    try:
        return datetime.fromtimestamp(tick, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):
        return None
