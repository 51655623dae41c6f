"""Event source mappings: a queue polled for a function, with Lambda's rules.

    mapping = create_event_source_mapping(db, "score", "orders", batch_size=100,
                                          maximum_batching_window_s=5)
    update_event_source_mapping(db, mapping.uuid, enabled=False)
    delete_event_source_mapping(db, mapping.uuid)

Each is checked as CreateEventSourceMapping checks it (lambeam.events.mapping_rules), and a queue
is mapped to a function (at a qualifier) at most once. The consumer (lambeam.events.consumer)
reads the enabled ones at each poll.
"""

from __future__ import annotations

import uuid as uuids
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import EventSourceMappingNotFoundError, FunctionConflictError
from lambeam.events.mapping_rules import (
    DEFAULT_BATCH_SIZE,
    REPORT_BATCH_ITEM_FAILURES,
    check_settings,
    check_target,
)
from lambeam.functions import LATEST
from lambeam.storage import Database, as_utc, utcnow
from lambeam.storage.audit import record
from lambeam.storage.schema import EventSourceMappingRow

__all__ = [
    "UNSET",
    "EventSourceMapping",
    "add_mapping",
    "change_mapping",
    "create_event_source_mapping",
    "delete_event_source_mapping",
    "get_event_source_mapping",
    "list_event_source_mappings",
    "remove_mapping",
    "update_event_source_mapping",
]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final[Any] = _Unset()  # an update's "leave as it is", where None means "remove"


@dataclass(frozen=True)
class EventSourceMapping:
    """One mapping: `queue` polled for `function` (at `qualifier`), and how."""

    uuid: str
    function: str
    qualifier: str | None
    queue: str
    batch_size: int
    maximum_batching_window_s: int
    maximum_concurrency: int | None
    enabled: bool
    function_response_types: tuple[str, ...]
    origin: str
    last_modified: datetime

    @property
    def reports_batch_item_failures(self) -> bool:
        """Whether the function answers which records failed (ReportBatchItemFailures)."""
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types

    @property
    def state(self) -> str:
        """Lambda's State once a change has settled: Enabled or Disabled."""
        return "Enabled" if self.enabled else "Disabled"

    def to_dict(self) -> dict[str, Any]:
        """lambeam's own spelling (the REST API, `--json`)."""
        return {
            "uuid": self.uuid,
            "function": self.function,
            "qualifier": self.qualifier,
            "queue": self.queue,
            "batch_size": self.batch_size,
            "maximum_batching_window": self.maximum_batching_window_s,
            "maximum_concurrency": self.maximum_concurrency,
            "report_batch_item_failures": self.reports_batch_item_failures,
            "enabled": self.enabled,
            "state": self.state,
            "origin": self.origin,
            "last_modified": self.last_modified.isoformat(),
        }


def create_event_source_mapping(
    db: Database,
    function: str,
    queue: str,
    *,
    qualifier: str | None = None,
    batch_size: int | None = None,
    maximum_batching_window_s: int | None = None,
    maximum_concurrency: int | None = None,
    enabled: bool = True,
    function_response_types: Sequence[str] = (),
    origin: str = "api",
) -> EventSourceMapping:
    """Map `queue` to `function` (Lambda's CreateEventSourceMapping; see the module's
    docstring for its rules). Raises FunctionNotFoundError, ConfigError for a value out of
    range or a queue that does not exist or hides messages for less than the function may
    run, FunctionConflictError when the queue is already mapped to the function."""
    with db.session() as session:
        row = add_mapping(
            session,
            function,
            queue,
            qualifier=qualifier,
            batch_size=batch_size,
            maximum_batching_window_s=maximum_batching_window_s,
            maximum_concurrency=maximum_concurrency,
            enabled=enabled,
            function_response_types=function_response_types,
            origin=origin,
        )
        return _record(row)


def add_mapping(
    session: Session,
    function: str,
    queue: str,
    *,
    qualifier: str | None,
    batch_size: int | None,
    maximum_batching_window_s: int | None,
    maximum_concurrency: int | None,
    enabled: bool,
    function_response_types: Sequence[str],
    origin: str,
) -> EventSourceMappingRow:
    """`create_event_source_mapping` inside `session`'s transaction (lambeam.toml's apply)."""
    qualifier = None if qualifier in (None, "", LATEST) else qualifier
    size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    window = 0 if maximum_batching_window_s is None else maximum_batching_window_s
    settings = check_settings(size, window, maximum_concurrency, function_response_types, enabled)
    check_target(session, function, qualifier, queue)
    existing = session.scalars(
        select(EventSourceMappingRow).where(
            EventSourceMappingRow.function == function,
            EventSourceMappingRow.queue == queue,
        )
    ).all()
    for other in existing:
        if other.qualifier == qualifier:
            raise FunctionConflictError(
                f"The event source arn (queue {queue!r}) and function ({_qualified(function, qualifier)!r})"
                " provided mapping already exists. Please update or delete the existing mapping"
                f" with UUID {other.uuid}"
            )
    now = utcnow()
    row = EventSourceMappingRow(
        uuid=str(uuids.uuid4()),
        function=function,
        qualifier=qualifier,
        queue=queue,
        origin=origin,
        created_at=now,
        updated_at=now,
        **settings,
    )
    session.add(row)
    session.flush()
    record(
        session,
        "lambda:CreateEventSourceMapping",
        f"event-source-mapping:{row.uuid}",
        _details(row),
    )
    return row


def get_event_source_mapping(db: Database, uuid: str) -> EventSourceMapping:
    """The mapping `uuid` (EventSourceMappingNotFoundError if there is none)."""
    with db.session() as session:
        return _record(_row(session, uuid))


def list_event_source_mappings(
    db: Database,
    *,
    function: str | None = None,
    qualifier: str | None = None,
    queue: str | None = None,
    enabled_only: bool = False,
) -> list[EventSourceMapping]:
    """Every mapping (of `function` at `qualifier`, of `queue`), oldest first (Lambda's order)."""
    query = select(EventSourceMappingRow).order_by(
        EventSourceMappingRow.created_at, EventSourceMappingRow.uuid
    )
    if function is not None:
        query = query.where(EventSourceMappingRow.function == function)
        if qualifier not in (None, LATEST):
            query = query.where(EventSourceMappingRow.qualifier == qualifier)
    if queue is not None:
        query = query.where(EventSourceMappingRow.queue == queue)
    if enabled_only:
        query = query.where(EventSourceMappingRow.enabled.is_(True))
    with db.session() as session:
        return [_record(row) for row in session.scalars(query)]


def update_event_source_mapping(
    db: Database,
    uuid: str,
    *,
    function: str | None = None,
    qualifier: Any = UNSET,
    batch_size: int | None = None,
    maximum_batching_window_s: int | None = None,
    maximum_concurrency: Any = UNSET,
    enabled: bool | None = None,
    function_response_types: Sequence[str] | None = None,
) -> EventSourceMapping:
    """Change what is given (Lambda's UpdateEventSourceMapping): None and UNSET leave a field
    as it is; `maximum_concurrency=None` removes the limit (an empty ScalingConfig). The
    result is checked by create's rules."""
    with db.session() as session:
        row = change_mapping(
            session,
            _row(session, uuid, lock=True),
            function=function,
            qualifier=qualifier,
            batch_size=batch_size,
            maximum_batching_window_s=maximum_batching_window_s,
            maximum_concurrency=maximum_concurrency,
            enabled=enabled,
            function_response_types=function_response_types,
        )
        return _record(row)


def change_mapping(
    session: Session,
    row: EventSourceMappingRow,
    *,
    function: str | None = None,
    qualifier: Any = UNSET,
    batch_size: int | None = None,
    maximum_batching_window_s: int | None = None,
    maximum_concurrency: Any = UNSET,
    enabled: bool | None = None,
    function_response_types: Sequence[str] | None = None,
    origin: str | None = None,
) -> EventSourceMappingRow:
    """`update_event_source_mapping` of `row` inside `session`'s transaction; the row."""
    target_function = row.function if function is None else function
    if qualifier is UNSET:
        qualifier = row.qualifier if function is None else None
    qualifier = None if qualifier in (None, "", LATEST) else qualifier
    settings = check_settings(
        row.batch_size if batch_size is None else batch_size,
        row.batching_window_s if maximum_batching_window_s is None else maximum_batching_window_s,
        row.maximum_concurrency if maximum_concurrency is UNSET else maximum_concurrency,
        row.function_response_types if function_response_types is None else function_response_types,
        row.enabled if enabled is None else enabled,
    )
    check_target(session, target_function, qualifier, row.queue)
    values = {"function": target_function, "qualifier": qualifier, **settings}
    if origin is not None:
        values["origin"] = origin
    if all(getattr(row, key) == value for key, value in values.items()):
        return row
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    session.flush()
    record(
        session,
        "lambda:UpdateEventSourceMapping",
        f"event-source-mapping:{row.uuid}",
        _details(row),
    )
    return row


def delete_event_source_mapping(db: Database, uuid: str) -> EventSourceMapping:
    """Delete the mapping `uuid`; what it was. Batches running finish; nothing more is polled."""
    with db.session() as session:
        row = _row(session, uuid, lock=True)
        gone = _record(row)
        remove_mapping(session, row)
        return gone


def remove_mapping(session: Session, row: EventSourceMappingRow) -> None:
    """Delete `row` inside `session`'s transaction, audited."""
    session.delete(row)
    session.flush()
    record(
        session,
        "lambda:DeleteEventSourceMapping",
        f"event-source-mapping:{row.uuid}",
        _details(row),
    )


def _row(session: Session, uuid: str, *, lock: bool = False) -> EventSourceMappingRow:
    query = select(EventSourceMappingRow).where(EventSourceMappingRow.uuid == uuid)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise EventSourceMappingNotFoundError(
            f"The resource you requested does not exist. (Service: Lambda; event source mapping"
            f" {uuid!r})"
        )
    return row


def _record(row: EventSourceMappingRow) -> EventSourceMapping:
    return EventSourceMapping(
        uuid=row.uuid,
        function=row.function,
        qualifier=row.qualifier,
        queue=row.queue,
        batch_size=row.batch_size,
        maximum_batching_window_s=row.batching_window_s,
        maximum_concurrency=row.maximum_concurrency,
        enabled=row.enabled,
        function_response_types=tuple(row.function_response_types),
        origin=row.origin,
        last_modified=as_utc(row.updated_at),
    )


def _details(row: EventSourceMappingRow) -> dict[str, Any]:
    return {
        "function": _qualified(row.function, row.qualifier),
        "queue": row.queue,
        "batch_size": row.batch_size,
        "enabled": row.enabled,
    }


def _qualified(function: str, qualifier: str | None) -> str:
    return f"{function}:{qualifier}" if qualifier else function
