"""lambeam.toml's queue triggers: `{ queue = "NAME", ... }` in a function's `events`.

    [functions.score]
    events = [{ queue = "orders", batch_size = 100, maximum_batching_window = 5,
                maximum_concurrency = 4, report_batch_item_failures = true, enabled = true }]

Each entry is an event source mapping (lambeam.events.mappings) with Lambda's rules, checked
when lambeam.toml is read; `qualifier = "prod"` maps a version or alias instead of `$LATEST`.
A mapping of the same queue and function made through the API is taken over by the entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError
from lambeam.events.mapping_rules import (
    DEFAULT_BATCH_SIZE,
    REPORT_BATCH_ITEM_FAILURES,
    check_settings,
)
from lambeam.events.mappings import add_mapping, change_mapping, remove_mapping
from lambeam.storage.schema import EventSourceMappingRow

__all__ = ["QueueTrigger", "QueueTriggers"]

_ORIGIN = "toml"
_KEYS = (
    "queue",
    "qualifier",
    "batch_size",
    "maximum_batching_window",
    "maximum_concurrency",
    "report_batch_item_failures",
    "enabled",
)


@dataclass
class QueueTrigger:
    """One checked `{ queue = ... }` entry: the mapping it declares."""

    where: str
    function: str
    qualifier: str | None
    queue: str
    settings: Mapping[str, Any]  # check_settings' result

    @property
    def key(self) -> tuple[str, str | None, str]:
        return self.function, self.qualifier, self.queue

    def references(self) -> Sequence[tuple[str, str]]:
        """The function and the queue, which must be declared or exist."""
        return [("function", self.function), ("queue", self.queue)]

    def apply(self, session: Session) -> str:
        """Create the mapping, or make the one of this queue and function match."""
        row = _find(session, self.key)
        settings = self.settings
        try:
            if row is None:
                add_mapping(
                    session,
                    self.function,
                    self.queue,
                    qualifier=self.qualifier,
                    batch_size=settings["batch_size"],
                    maximum_batching_window_s=settings["batching_window_s"],
                    maximum_concurrency=settings["maximum_concurrency"],
                    enabled=settings["enabled"],
                    function_response_types=settings["function_response_types"],
                    origin=_ORIGIN,
                )
                return "created"
            before = row.updated_at
            change_mapping(
                session,
                row,
                batch_size=settings["batch_size"],
                maximum_batching_window_s=settings["batching_window_s"],
                maximum_concurrency=settings["maximum_concurrency"],
                enabled=settings["enabled"],
                function_response_types=settings["function_response_types"],
                origin=_ORIGIN,
            )
        except ConfigError as exc:  # the queue's visibility timeout against the function's
            raise ConfigError(f"{self.where}: {exc}") from None
        return "unchanged" if row.updated_at == before else "updated"


class QueueTriggers:
    """The kind of `{ queue = ... }` entries (KINDS["queue"])."""

    name = "queue"

    def parse(self, owner: str, table: Mapping[str, Any], where: str) -> QueueTrigger:
        """Check one entry's keys and Lambda's limits; ConfigError names the key at fault."""
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"{where} has unknown key {unknown[0]!r}; a queue trigger takes {', '.join(_KEYS)}"
            )
        queue = table["queue"]
        if not isinstance(queue, str) or not queue:
            raise ConfigError(f"{where} queue must be a queue's name")
        qualifier = table.get("qualifier")
        if qualifier is not None and (not isinstance(qualifier, str) or not qualifier):
            raise ConfigError(f"{where} qualifier must be a version number or an alias")
        if qualifier == "$LATEST":
            qualifier = None
        report = table.get("report_batch_item_failures", False)
        if not isinstance(report, bool):
            raise ConfigError(f"{where} report_batch_item_failures must be true or false")
        try:
            settings = check_settings(
                table.get("batch_size", DEFAULT_BATCH_SIZE),
                table.get("maximum_batching_window", 0),
                table.get("maximum_concurrency"),
                [REPORT_BATCH_ITEM_FAILURES] if report else [],
                table.get("enabled", True),
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return QueueTrigger(where, owner, qualifier, queue, settings)

    def prune(self, session: Session, kept: Sequence[Any]) -> list[str]:
        """Delete the mappings an earlier apply made that lambeam.toml no longer declares."""
        keys = {trigger.key for trigger in kept}
        gone: list[str] = []
        rows = session.scalars(
            select(EventSourceMappingRow).where(EventSourceMappingRow.origin == _ORIGIN)
        ).all()
        for row in rows:
            if (row.function, row.qualifier, row.queue) not in keys:
                function = f"{row.function}:{row.qualifier}" if row.qualifier else row.function
                gone.append(f"queue {row.queue} -> {function} ({row.uuid})")
                remove_mapping(session, row)
        return gone


def _find(session: Session, key: tuple[str, str | None, str]) -> EventSourceMappingRow | None:
    function, qualifier, queue = key
    rows = session.scalars(
        select(EventSourceMappingRow).where(
            EventSourceMappingRow.function == function, EventSourceMappingRow.queue == queue
        )
    ).all()
    return next((row for row in rows if row.qualifier == qualifier), None)
