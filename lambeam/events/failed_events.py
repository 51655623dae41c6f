"""A function's failed asynchronous events: the messages in its dead-letter queue and in its
failure destination's queue, read and replayed (`lambeam dlq ls | show | replay`).

    list_failed_events(db, "score")                    # oldest first, from every such queue
    replay_failed_events(queue, "score", [message_id])  # each one a new asynchronous event

Two shapes arrive there (lambeam.events.destinations): a dead-letter queue gets the original
event as the body, with Lambda's `RequestID`, `ErrorCode` and `ErrorMessage` attributes; a
failure destination gets Lambda's invocation record, whose `requestPayload` is the event. A
replay sends that event to the function again (at the qualifier it was first invoked with) and
removes the message, in one transaction.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, delete, select

from lambeam.errors import ConfigError, NotFoundError
from lambeam.events.asynchronous import enqueue_invocations
from lambeam.events.invoke_config import dead_letter_destination, list_event_invoke_configs
from lambeam.events.queue import MessageQueue
from lambeam.functions import get_function
from lambeam.invoke.request import InvocationRequest
from lambeam.runtime.spec import split_function_name
from lambeam.storage import Database
from lambeam.storage.schema import InvocationRow, QueueMessageRow

__all__ = [
    "FailedEvent",
    "failed_event_queues",
    "get_failed_event",
    "list_failed_events",
    "replay_failed_events",
]

_MESSAGES: Table = QueueMessageRow.__table__  # type: ignore[assignment]
_SCANNED = 10_000  # messages read per queue when listing


@dataclass(frozen=True)
class FailedEvent:
    """One message about a failed event of a function, in `queue`."""

    queue: str
    message_id: str
    sent_at: float
    shape: str  # "dead-letter" (the event itself) or "record" (Lambda's invocation record)
    request_id: str | None
    function: str | None
    qualifier: str | None  # what it was invoked with (None: $LATEST)
    condition: str | None  # RetriesExhausted, EventAgeExceeded (records only)
    error: str | None  # the error's type and message, as one line
    payload: bytes  # the original event

    def to_dict(self) -> dict[str, Any]:
        try:
            event: Any = json.loads(self.payload)
        except ValueError:
            event = self.payload.decode(errors="replace")
        return {
            "queue": self.queue,
            "message_id": self.message_id,
            "sent_at": self.sent_at,
            "shape": self.shape,
            "request_id": self.request_id,
            "function": self.function,
            "qualifier": self.qualifier,
            "condition": self.condition,
            "error": self.error,
            "event": event,
        }


def failed_event_queues(db: Database, function: str) -> list[str]:
    """The queues `function`'s failed events go to: its dead-letter queue and every
    qualifier's failure destination that is a queue."""
    found = []
    target = dead_letter_destination(get_function(db, function).config.dead_letter_target)
    if target is not None and target.kind == "queue":
        found.append(target.name)
    for config in list_event_invoke_configs(db, function):
        if config.on_failure is not None and config.on_failure.kind == "queue":
            found.append(config.on_failure.name)
    return list(dict.fromkeys(found))


def list_failed_events(db: Database, function: str, limit: int = 100) -> list[FailedEvent]:
    """`function`'s failed events waiting in its queues, oldest first (at most `limit`)."""
    events: list[FailedEvent] = []
    for queue in failed_event_queues(db, function):
        events += _read(db, queue, function, None)
    return sorted(events, key=lambda e: (e.sent_at, e.message_id))[:limit]


def get_failed_event(db: Database, function: str, message_id: str) -> FailedEvent:
    """One failed event of `function` by its message id, or NotFoundError."""
    for queue in failed_event_queues(db, function):
        found = _read(db, queue, function, [message_id])
        if found:
            return found[0]
    raise NotFoundError(
        f"no failed event {message_id!r} of function {function!r} in"
        f" {', '.join(failed_event_queues(db, function)) or 'its queues (it has none)'}"
    )


def replay_failed_events(
    queue: MessageQueue, function: str, message_ids: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """Send the named failed events (all when None) to `function` again as new asynchronous
    events, removing their messages in the same transaction; (message id, new request id)
    pairs. A message someone else removed meanwhile fails the whole replay (nothing sent)."""
    if message_ids is not None:
        events = [get_failed_event(queue.db, function, m) for m in dict.fromkeys(message_ids)]
    else:
        events = list_failed_events(queue.db, function, limit=1000)
    if not events:
        return []
    requests = [
        InvocationRequest(
            function, event.payload, event.qualifier, invocation_type="Event", source="async"
        )
        for event in events
    ]

    def take(connection: Connection) -> None:
        for name in {event.queue for event in events}:
            ids = [event.message_id for event in events if event.queue == name]
            removed = connection.execute(
                delete(_MESSAGES).where(_MESSAGES.c.queue == name, _MESSAGES.c.id.in_(ids))
            ).rowcount
            if removed != len(ids):
                raise ConfigError(
                    f"a failed event of queue {name!r} was removed while it was being replayed;"
                    " nothing was replayed"
                )

    request_ids = enqueue_invocations(queue, requests, also=take)
    return [(event.message_id, rid) for event, rid in zip(events, request_ids, strict=True)]


def _read(
    db: Database, queue: str, function: str, message_ids: Sequence[str] | None
) -> list[FailedEvent]:
    query = select(_MESSAGES).where(_MESSAGES.c.queue == queue)
    if message_ids is not None:
        query = query.where(_MESSAGES.c.id.in_(list(message_ids)))
    query = query.order_by(_MESSAGES.c.sent_at, _MESSAGES.c.id).limit(_SCANNED)
    with db.engine.connect() as connection:
        rows = list(connection.execute(query).mappings())
        events = [_event(queue, row) for row in rows]
        # A dead-letter message names its request id only: its invocation says whose it was.
        ids = [e.request_id for e in events if e.request_id]
        invoked: dict[str, tuple[str, str | None]] = {}
        for chunk in range(0, len(ids), 500):
            found = connection.execute(
                select(
                    InvocationRow.request_id, InvocationRow.function, InvocationRow.qualifier
                ).where(InvocationRow.request_id.in_(ids[chunk : chunk + 500]))
            )
            invoked.update({r: (f, q) for r, f, q in found})
    kept = []
    for event in events:
        # unknown: a record names its function; a dead-letter message is its queue's owner's
        owner = event.function if event.shape == "record" else function
        function_of, qualifier = invoked.get(event.request_id or "", (owner, None))
        if function_of != function:
            continue  # another function's (a queue may be shared)
        kept.append(_with(event, function_of, qualifier or event.qualifier))
    return kept


def _with(event: FailedEvent, function: str | None, qualifier: str | None) -> FailedEvent:
    return FailedEvent(
        event.queue,
        event.message_id,
        event.sent_at,
        event.shape,
        event.request_id,
        function,
        qualifier,
        event.condition,
        event.error,
        event.payload,
    )


def _event(queue: str, row: Any) -> FailedEvent:
    body = bytes(row["body"])
    record = _record(body)
    if record is not None:
        context = record["requestContext"]
        function, qualifier = None, None
        arn = context.get("functionArn")
        if isinstance(arn, str):
            with contextlib.suppress(ConfigError):  # not a function's ARN: named by no one
                function, qualifier = split_function_name(arn)
        response = record.get("responsePayload")
        error = None
        if isinstance(response, dict) and ("errorType" in response or "errorMessage" in response):
            error = f"{response.get('errorType', '')}: {response.get('errorMessage', '')}"
        payload = record.get("requestPayload")
        return FailedEvent(
            queue,
            row["id"],
            row["sent_at"],
            "record",
            context.get("requestId"),
            function,
            None if qualifier == "$LATEST" else qualifier,
            context.get("condition"),
            error,
            payload.encode() if isinstance(payload, str) else json.dumps(payload).encode(),
        )
    attributes = (row["attributes"] or {}).get("MessageAttributes") or {}

    def attribute(name: str) -> str | None:
        value = attributes.get(name)
        return value.get("StringValue") if isinstance(value, dict) else None

    return FailedEvent(
        queue,
        row["id"],
        row["sent_at"],
        "dead-letter",
        attribute("RequestID"),
        None,
        None,
        None,
        attribute("ErrorMessage"),
        body,
    )


def _record(body: bytes) -> dict[str, Any] | None:
    """Lambda's invocation record, if `body` is one."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if (
        isinstance(value, dict)
        and value.get("version") == "1.0"
        and isinstance(value.get("requestContext"), dict)
        and "requestPayload" in value
    ):
        return value
    return None
