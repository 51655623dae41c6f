"""lambeam.toml's schedules: `{ schedule = "...", ... }` in a function's `events`.

    [functions.report]
    events = [
      { schedule = "cron(0 8 ? * MON-FRI *)", timezone = "Europe/Paris", input = { kind = "daily" } },
      { schedule = "rate(5 minutes)", name = "report-poll", qualifier = "prod", enabled = false },
    ]

Each entry is a schedule (lambeam.events.schedules) invoking its function, named by `name` or
else `<function>-schedule-<n>` for the function's n-th schedule entry. The expression and time
zone are checked when lambeam.toml is read: a malformed one is an error naming the function and
the entry, and nothing is applied. A schedule of the same name made through the API is taken
over by the entry.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError, LambeamError, ScheduleExpressionError
from lambeam.events.expressions import parse_expression
from lambeam.events.schedules import (
    add_schedule,
    change_schedule,
    check_input,
    check_schedule_name,
    remove_schedule,
)
from lambeam.storage.schema import ScheduleRow

__all__ = ["ScheduleDeclaration", "ScheduleDeclarations"]

_ORIGIN = "toml"
_KEYS = ("schedule", "timezone", "input", "enabled", "name", "qualifier")


@dataclass  # not frozen: Declaration.where is a plain attribute
class ScheduleDeclaration:
    """One checked `{ schedule = ... }` entry: the schedule it declares."""

    where: str
    name: str
    expression: str
    timezone: str
    function: str
    qualifier: str | None
    input: Any
    enabled: bool

    def references(self) -> Sequence[tuple[str, str]]:
        """The function, which must be declared or exist."""
        return [("function", self.function)]

    def apply(self, session: Session) -> str:
        """Create the schedule, or make the one of this name say what the entry says."""
        now = time.time()
        row = session.get(ScheduleRow, self.name)
        try:
            if row is None:
                add_schedule(
                    session,
                    self.name,
                    self.expression,
                    self.function,
                    qualifier=self.qualifier,
                    timezone=self.timezone,
                    input=self.input,
                    enabled=self.enabled,
                    origin=_ORIGIN,
                    now=now,
                )
                return "created"
            changed = change_schedule(
                session,
                row,
                expression=self.expression,
                timezone=self.timezone,
                function=self.function,
                qualifier=self.qualifier,
                input=self.input,
                enabled=self.enabled,
                origin=_ORIGIN,
                now=now,
            )
        except LambeamError as exc:  # a qualifier that is no version or alias of the function
            raise ConfigError(f"{self.where}: {exc}") from None
        return "updated" if changed else "unchanged"


class ScheduleDeclarations:
    """The kind of `{ schedule = ... }` entries (KINDS["schedule"])."""

    name = "schedule"

    def __init__(self) -> None:
        self._per_function: Counter[str] = Counter()
        self._declared: dict[str, str] = {}  # schedule name -> where

    def parse(self, owner: str, table: Mapping[str, Any], where: str) -> ScheduleDeclaration:
        """Check one entry: its keys, expression, time zone and input; the error names the
        function and the entry (`where`)."""
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"{where} has unknown key {unknown[0]!r}; a schedule takes {', '.join(_KEYS)}"
            )
        self._per_function[owner] += 1
        expression, timezone = table["schedule"], table.get("timezone", "UTC")
        if not isinstance(expression, str):
            raise ConfigError(f'{where} schedule must be text, e.g. "rate(5 minutes)"')
        if not isinstance(timezone, str):
            raise ConfigError(f'{where} timezone must be text, e.g. "Europe/Paris"')
        try:
            parse_expression(expression, timezone)
        except ScheduleExpressionError as exc:
            raise ScheduleExpressionError(f"{where}: {exc}", field=exc.field) from None
        name = table.get("name", f"{owner}-schedule-{self._per_function[owner]}")
        qualifier = table.get("qualifier")
        enabled = table.get("enabled", True)
        try:
            check_schedule_name(name)
            check_input(table.get("input"))
        except ConfigError as exc:
            hint = "" if "name" in table else " (give the entry a shorter name = ...)"
            raise ConfigError(f"{where}: {exc}{hint}") from None
        if qualifier is not None and (not isinstance(qualifier, str) or not qualifier):
            raise ConfigError(f"{where} qualifier must be a version number or an alias")
        if not isinstance(enabled, bool):
            raise ConfigError(f"{where} enabled must be true or false")
        if name in self._declared:
            raise ConfigError(f"{where} declares schedule {name!r}, as {self._declared[name]} does")
        self._declared[name] = where
        return ScheduleDeclaration(
            where=where,
            name=name,
            expression=expression.strip(),
            timezone=timezone,
            function=owner,
            qualifier=None if qualifier == "$LATEST" else qualifier,
            input=table.get("input"),
            enabled=enabled,
        )

    def prune(self, session: Session, kept: Sequence[Any]) -> list[str]:
        """Delete the schedules an earlier apply made that lambeam.toml no longer declares."""
        names = {declaration.name for declaration in kept}
        gone: list[str] = []
        rows = session.scalars(
            select(ScheduleRow).where(ScheduleRow.origin == _ORIGIN).order_by(ScheduleRow.name)
        ).all()
        for row in rows:
            if row.name not in names:
                gone.append(f"schedule {row.name} ({row.expression} -> {row.function})")
                remove_schedule(session, row)
        return gone
