"""The records of asynchronous invocations: what happened to each accepted event.

    list_invocations(db, "score", status="failed")   # newest first
    get_invocation(db, request_id).attempts_made     # every attempt: error, duration, log lines

The `invocations` table holds one row per accepted event (lambeam.events.asynchronous writes it
"queued"; the dispatcher, lambeam.events.dispatcher, adds each attempt to its `history` and
writes its final status, result and the destination its record went to). This module reads them
as typed records for the CLI and the APIs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from lambeam.errors import ConfigError, InvocationNotFoundError
from lambeam.storage import Database
from lambeam.storage.schema import InvocationRow

__all__ = [
    "STATUSES",
    "Attempt",
    "InvocationRecord",
    "get_invocation",
    "list_invocations",
]

# "queued" until a first attempt ends, "retrying" between attempts, then "succeeded" or "failed".
STATUSES = ("queued", "retrying", "succeeded", "failed")
MAX_LISTED = 1000


@dataclass(frozen=True)
class Attempt:
    """One entry of an invocation's history: an attempt that ran ("ok" or "error"), or a
    delivery that did not run it ("throttled", or "dropped" when its function had gone)."""

    number: int | None  # None for a throttle: Lambda does not count it as an attempt
    status: str
    started_at: float | None
    duration_ms: float | None = None
    executed_version: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    log_tail: str = ""

    @property
    def log_lines(self) -> list[str]:
        """The attempt's last log lines (START, the handler's output, END, REPORT)."""
        return self.log_tail.splitlines()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        """An entry as the dispatcher writes it (unknown keys ignored)."""
        return cls(
            number=data.get("attempt"),
            status=str(data.get("status", "")),
            started_at=data.get("started_at"),
            duration_ms=data.get("duration_ms"),
            executed_version=data.get("executed_version"),
            error_type=data.get("error_type"),
            error_message=data.get("error_message"),
            log_tail=data.get("log_tail") or "",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.number,
            "status": self.status,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "executed_version": self.executed_version,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "log_lines": self.log_lines,
        }


@dataclass(frozen=True)
class InvocationRecord:
    """An accepted asynchronous invocation: where it stands, every attempt, its result and
    where its record went (a destination's or dead-letter queue's ARN)."""

    request_id: str
    function: str
    qualifier: str | None
    source: str  # "lambda", "rest", "sns", "schedule", "s3", …
    status: str
    attempts: int  # attempts that ran the function
    enqueued_at: float
    updated_at: float
    executed_version: str | None
    error_type: str | None
    result: bytes | None  # the last attempt's response (Lambda's error object on failure)
    history: tuple[Attempt, ...]
    destination: str | None

    @property
    def result_text(self) -> str | None:
        return None if self.result is None else self.result.decode(errors="replace")

    def to_dict(self, *, history: bool = True) -> dict[str, Any]:
        """JSON: the result as JSON when it is, else as text."""
        data: dict[str, Any] = {
            "request_id": self.request_id,
            "function": self.function,
            "qualifier": self.qualifier,
            "source": self.source,
            "status": self.status,
            "attempts": self.attempts,
            "enqueued_at": self.enqueued_at,
            "updated_at": self.updated_at,
            "executed_version": self.executed_version,
            "error_type": self.error_type,
            "result": _json_or_text(self.result),
            "destination": self.destination,
        }
        if history:
            data["history"] = [attempt.to_dict() for attempt in self.history]
        return data


def _json_or_text(result: bytes | None) -> Any:
    if result is None:
        return None
    try:
        return json.loads(result)
    except ValueError:
        return result.decode(errors="replace")


def _record(row: InvocationRow) -> InvocationRecord:
    return InvocationRecord(
        request_id=row.request_id,
        function=row.function,
        qualifier=row.qualifier,
        source=row.source,
        status=row.status,
        attempts=row.attempts,
        enqueued_at=row.enqueued_at,
        updated_at=row.updated_at,
        executed_version=row.executed_version,
        error_type=row.error_type,
        result=None if row.result is None else bytes(row.result),
        history=tuple(Attempt.from_dict(e) for e in row.history or [] if isinstance(e, dict)),
        destination=row.destination,
    )


def get_invocation(db: Database, request_id: str) -> InvocationRecord:
    """The record of the asynchronous invocation `request_id`, or InvocationNotFoundError."""
    with db.session() as session:
        row = session.get(InvocationRow, request_id)
        if row is None:
            raise InvocationNotFoundError(
                f"no asynchronous invocation has request id {request_id!r}"
            )
        return _record(row)


def list_invocations(
    db: Database,
    function: str,
    *,
    status: str | None = None,
    limit: int = 50,
    before: float | None = None,
) -> list[InvocationRecord]:
    """`function`'s asynchronous invocations, newest first: at most `limit`, only `status` if
    given, only those accepted before `before` (epoch seconds: the next page)."""
    if status is not None and status not in STATUSES:
        raise ConfigError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if not 1 <= limit <= MAX_LISTED:
        raise ConfigError(f"limit must be from 1 to {MAX_LISTED}, not {limit}")
    query = select(InvocationRow).where(InvocationRow.function == function)
    if status is not None:
        query = query.where(InvocationRow.status == status)
    if before is not None:
        query = query.where(InvocationRow.enqueued_at < before)
    query = query.order_by(InvocationRow.enqueued_at.desc(), InvocationRow.request_id).limit(limit)
    with db.session() as session:
        return [_record(row) for row in session.scalars(query)]
