"""Asynchronous invocations in the durable queue: how an accepted event is written and read.

An Event invocation is one message of the internal queue ASYNC_QUEUE (its body the payload, its
attributes what the dispatcher needs to run it) and one `invocations` row (status "queued"),
written in one transaction: once committed it is a promise that it will run at least once.
Topics, schedules and object triggers hand their events in the same way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table

from lambeam.events.queue import Message, MessageQueue, Outgoing
from lambeam.functions import Resolver
from lambeam.invoke.errors import InvalidPayloadError
from lambeam.invoke.invoker import check_invoke_size, check_json
from lambeam.invoke.request import InvocationRequest
from lambeam.project import Project
from lambeam.storage.schema import InvocationRow

__all__ = [
    "ASYNC_QUEUE",
    "check_utf8",
    "enqueue_invocations",
    "event_message",
    "queue_event",
    "request_from",
]

# The internal queue of every function's asynchronous invocations (no SQS queue can be named
# so: SQS names are letters, digits, hyphens and underscores).
ASYNC_QUEUE = "lambeam:async"

_INVOCATIONS: Table = InvocationRow.__table__  # type: ignore[assignment]


def check_utf8(payload: bytes) -> None:
    """InvalidPayloadError (400) unless `payload` is UTF-8: Lambda takes an asynchronous event as
    UTF-8 JSON, and its dead-letter queue, destinations and topics carry it as text."""
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPayloadError(
            f"Could not parse request body into json: an asynchronous event must be UTF-8 JSON"
            f" (byte {exc.start} is not UTF-8)"
        ) from None


def event_message(request: InvocationRequest) -> Outgoing:
    """The queue message of an accepted asynchronous invocation (its request id is its id)."""
    if request.request_id is None:
        request.request_id = str(uuid.uuid4())
    if request.enqueued_at is None:
        request.enqueued_at = time.time()
    attributes: dict[str, Any] = {
        "function": request.function,
        "qualifier": request.qualifier,
        "source": request.source,
        "enqueued_at": request.enqueued_at,
    }
    return Outgoing(request.payload, attributes, id=request.request_id)


def request_from(message: Message, attempt: int) -> InvocationRequest:
    """The synchronous request that runs attempt `attempt` of a queued invocation."""
    attributes = message.attributes
    return InvocationRequest(
        function=attributes["function"],
        payload=message.body,
        qualifier=attributes.get("qualifier"),
        request_id=message.id,
        source=attributes.get("source", "async"),
        attempt=attempt,
        enqueued_at=attributes.get("enqueued_at"),
    )


def enqueue_invocations(
    queue: MessageQueue,
    requests: Sequence[InvocationRequest],
    *,
    also: Any = None,
) -> list[str]:
    """Commit `requests` as asynchronous invocations (message and `invocations` row each, with
    `also(connection)`'s writes) in one transaction; their request ids."""
    messages = [event_message(request) for request in requests]

    def rows(connection: Connection) -> None:
        connection.execute(
            _INVOCATIONS.insert(),
            [
                {
                    "request_id": r.request_id,
                    "function": r.function,
                    "qualifier": r.qualifier,
                    "source": r.source,
                    "status": "queued",
                    "attempts": 0,
                    "enqueued_at": r.enqueued_at,
                    "updated_at": r.enqueued_at,
                    "executed_version": None,
                    "error_type": None,
                    "result": None,
                    "history": [],
                    "destination": None,
                }
                for r in requests
            ],
        )
        if also is not None:
            also(connection)

    return queue.send(ASYNC_QUEUE, messages, also=rows)


def queue_event(
    project: Project, function: str, payload: bytes, qualifier: str | None = None
) -> str:
    """Accept an asynchronous invocation without a server (`lambeam invoke --event`): checked
    as the Invoker checks one (the function and qualifier exist, the payload is JSON of at
    most 1 MiB), then committed; the project's next running server runs it. Its request id."""
    check_invoke_size(len(payload), "Event")
    check_utf8(payload)
    resolved = Resolver(project.db).resolve(function, qualifier)
    if resolved.kind != "model":  # a model function's instance checks its own requests
        check_json(payload)
    request = InvocationRequest(function, payload, qualifier, "Event", source="cli")
    [request_id] = enqueue_invocations(MessageQueue(project.db), [request])
    return request_id
