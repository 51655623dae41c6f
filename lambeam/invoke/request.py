"""What is asked of the Invoker: one typed request, whichever face or trigger it comes from.

    request = InvocationRequest("hello", b'{"x": 1}', qualifier="prod", source="lambda")
    invocation = await invoker.handle(request)

The REST and Lambda APIs, `lambeam invoke` and (issue 13) queues, topics, schedules and object
triggers all build one and hand it to `Invoker.handle`, so that retries, event age and
destinations can be decided in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lambeam.errors import PayloadTooLargeError

__all__ = [
    "INVOCATION_TYPES",
    "MAX_EVENT_PAYLOAD_BYTES",
    "MAX_PAYLOAD_BYTES",
    "SOURCES",
    "EventSink",
    "InvocationRequest",
    "check_payload_size",
]

# Lambda's InvocationType values.
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
# Where a request came from: a face (the REST API, the Lambda API, the CLI without a server),
# or the event half: the async queue's dispatcher, a queue mapping, a topic, a schedule, an
# object trigger.
SOURCES = ("rest", "lambda", "cli", "async", "sqs", "sns", "schedule", "s3")
# Lambda's limit on a synchronous invocation's request and response (6 MB).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# Lambda's limit on an asynchronous invocation's payload (1 MB since 2025; 256 KB before).
MAX_EVENT_PAYLOAD_BYTES = 1024 * 1024


@dataclass(slots=True)  # one per call on the hot path: no frozen __init__, no validation here
class InvocationRequest:
    """One invocation asked for (the Invoker checks it).

    `request_id` is given by a trigger or a retry (else the runtime names the invocation);
    `attempt` counts deliveries of the same event (1 for the first); `enqueued_at` is when an
    asynchronous event was accepted (seconds since the epoch), from which its age is counted.
    """

    function: str
    payload: bytes
    qualifier: str | None = None
    invocation_type: str = "RequestResponse"
    log_type: str | None = None
    request_id: str | None = None
    source: str = "rest"
    attempt: int = 1
    enqueued_at: float | None = None


class EventSink(Protocol):
    """Where the Invoker hands an Event invocation: the durable queue (lambeam.events)."""

    async def accept(self, request: InvocationRequest) -> str:
        """Commit `request` (its function checked, its request id set) to run asynchronously;
        returns once it is durable."""
        ...


def check_payload_size(nbytes: int, limit: int = MAX_PAYLOAD_BYTES) -> None:
    """Refuse a body of `nbytes` over `limit` with PayloadTooLargeError (413), before parsing."""
    if nbytes > limit:
        raise PayloadTooLargeError(
            f"request body is {nbytes} bytes; it must be at most {limit} bytes",
            size=nbytes,
            limit=limit,
        )
