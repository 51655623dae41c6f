"""Where an asynchronous invocation's outcome goes: Lambda's destinations and dead-letter queue.

    record = invocation_record(outcome, condition="RetriesExhausted", function_arn=arn)
    deliver(queue, Destination("queue", "failed"), record, region=..., account_id=...)

A destination (`OnSuccess` / `OnFailure` of the function's event invoke config, a
lambeam.events.invoke_config.Destination) is a function, a queue or a topic, and receives Lambda's invocation record
exactly: `version`, `timestamp`, `requestContext{requestId, functionArn, condition,
approximateInvokeCount}`, `requestPayload`, `responseContext{statusCode, executedVersion,
functionError}`, `responsePayload`. A function destination runs it as an asynchronous event of
its own; a queue gets it as a message's body; a topic publishes it. A dead-letter queue (used
when there is no failure destination) gets the original event only, with Lambda's
`RequestID`, `ErrorCode` and `ErrorMessage` message attributes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambeam.errors import ConfigError
from lambeam.events.asynchronous import ASYNC_QUEUE, enqueue_invocations
from lambeam.events.invoke_config import Destination
from lambeam.events.queue import MessageQueue, Outgoing
from lambeam.invoke.request import InvocationRequest
from lambeam.storage.schema import QueueRow

__all__ = [
    "CONDITIONS",
    "Outcome",
    "dead_letter_message",
    "deliver",
    "invocation_record",
]

# Lambda's conditions of an invocation record.
CONDITIONS = ("Success", "RetriesExhausted", "EventAgeExceeded")


@dataclass(frozen=True)
class Outcome:
    """How an asynchronous invocation ended, as its record tells it.

    `status_code` is the last attempt's (200 when it ran, 429 when it was throttled);
    `invoke_count` the attempts made (Lambda's approximateInvokeCount); `at` epoch seconds."""

    request_id: str
    request_payload: bytes
    status_code: int
    executed_version: str | None
    function_error: str | None
    response_payload: bytes
    invoke_count: int
    at: float


def invocation_record(outcome: Outcome, *, condition: str, function_arn: str) -> dict[str, Any]:
    """Lambda's invocation record of `outcome` (what a destination receives)."""
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}")
    response: dict[str, Any] = {"statusCode": outcome.status_code}
    response["executedVersion"] = outcome.executed_version
    if outcome.function_error is not None:
        response["functionError"] = outcome.function_error
    return {
        "version": "1.0",
        "timestamp": _timestamp(outcome.at),
        "requestContext": {
            "requestId": outcome.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": outcome.invoke_count,
        },
        "requestPayload": _json_or_text(outcome.request_payload),
        "responseContext": response,
        "responsePayload": _json_or_text(outcome.response_payload),
    }


def dead_letter_message(outcome: Outcome, error_type: str | None, message: str) -> Outgoing:
    """The message a dead-letter queue gets: the original event, and Lambda's attributes."""
    attributes = {
        "RequestID": {"DataType": "String", "StringValue": outcome.request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": str(outcome.status_code)},
        "ErrorMessage": {"DataType": "String", "StringValue": message or (error_type or "")},
    }
    return Outgoing(outcome.request_payload, {"MessageAttributes": attributes})


def deliver(
    queue: MessageQueue,
    target: Destination,
    body: Mapping[str, Any] | Outgoing,
    *,
    region: str,
    account_id: str,
) -> str:
    """Send `body` (an invocation record, or a ready message for a queue) to `target`,
    committed; the queue it went to (a function's: the async queue), for waking its consumer.

    Raises ConfigError when the target no longer exists (a deleted queue or topic)."""
    message = body if isinstance(body, Outgoing) else Outgoing(json.dumps(body).encode())
    if target.kind == "function":
        request = InvocationRequest(
            function=target.name,
            payload=message.body,
            qualifier=target.qualifier,
            invocation_type="Event",
            source="async",
        )
        enqueue_invocations(queue, [request])
        return ASYNC_QUEUE
    if target.kind == "queue":
        with queue.db.session() as session:
            if session.get(QueueRow, target.name) is None:
                raise ConfigError(f"destination queue {target.name!r} does not exist")
        queue.send(target.name, [message])
        return target.name
    if target.kind == "topic":
        try:
            from lambeam.events.topics import publish
        except ImportError:  # pragma: no cover - topics land beside this module
            raise ConfigError("topics are not available in this build") from None
        publish(
            queue,
            target.name,
            message.body.decode(),
            region=region,
            account_id=account_id,
        )
        return target.name
    raise ConfigError(f"a destination is a function, queue or topic, not {target.kind!r}")


def _json_or_text(payload: bytes) -> Any:
    """A payload as the record shows it: its JSON value, its text if it is not JSON, None if
    empty."""
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")


def _timestamp(epoch_s: float) -> str:
    """Lambda's record timestamp: ISO 8601 in UTC with milliseconds (2019-11-14T18:16:05.568Z)."""
    whole = int(epoch_s)
    millis = round((epoch_s - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
