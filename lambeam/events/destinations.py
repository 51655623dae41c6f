"""Where an asynchronous invocation's outcome goes: Lambda's destinations and dead-letter queue.

    record = invocation_record(outcome, condition="RetriesExhausted", function_arn=arn)
    deliver(queue, Destination("queue", "failed"), record, region=..., account_id=...)

A destination (`OnSuccess` / `OnFailure` of the function's event invoke config, a
lambeam.events.invoke_config.Destination) is a function, a queue or a topic, and receives Lambda's invocation record
exactly: `version`, `timestamp`, `requestContext{requestId, functionArn, condition,
approximateInvokeCount}`, `requestPayload`, `responseContext{statusCode, executedVersion,
functionError}`, `responsePayload`. A function destination runs it as an asynchronous event of
its own; a queue gets it as a message's body; a topic publishes it. A record larger than its
target takes (1 MiB for a function's event, the queue's MaximumMessageSize, 256 KiB for a
topic) goes without its payloads, as Lambda drops them: `responsePayload`, then
`requestPayload` if still too large, is replaced by a note saying so. A dead-letter queue or
topic (used when there is no failure destination) gets the original event only, with Lambda's
`RequestID`, `ErrorCode` and `ErrorMessage` (its first 1 KiB of UTF-8) message attributes.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambeam.errors import ConfigError
from lambeam.events.asynchronous import ASYNC_QUEUE, enqueue_invocations
from lambeam.events.invoke_config import Destination
from lambeam.events.messages import prepare
from lambeam.events.queue import MessageQueue, Outgoing
from lambeam.events.queues import get_queue
from lambeam.events.topics import MAX_MESSAGE_BYTES, publish
from lambeam.invoke.request import MAX_EVENT_PAYLOAD_BYTES, InvocationRequest

__all__ = [
    "CONDITIONS",
    "ERROR_MESSAGE_BYTES",
    "Outcome",
    "dead_letter_message",
    "deliver",
    "first_bytes",
    "fit_record",
    "invocation_record",
]

# Lambda's conditions of an invocation record.
CONDITIONS = ("Success", "RetriesExhausted", "EventAgeExceeded")
# Lambda's ErrorMessage attribute of a dead-letter message: the first 1 KB of the error.
ERROR_MESSAGE_BYTES = 1024


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
    """The message a dead-letter queue gets: the original event, and Lambda's attributes.

    A body that is not UTF-8 (accepted before lambeam refused such events) is stored in base64,
    with a `LambeamBodyEncoding` attribute saying so: a queue holds text, as SQS does."""
    text = first_bytes(message or (error_type or ""), ERROR_MESSAGE_BYTES)
    attributes = {
        "RequestID": {"DataType": "String", "StringValue": outcome.request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": str(outcome.status_code)},
        "ErrorMessage": {"DataType": "String", "StringValue": text},
    }
    body = outcome.request_payload
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        body = base64.b64encode(body)
        attributes["LambeamBodyEncoding"] = {"DataType": "String", "StringValue": "base64"}
    return Outgoing(body, {"MessageAttributes": attributes})


def first_bytes(text: str, limit: int) -> str:
    """The longest start of `text` whose UTF-8 takes at most `limit` bytes (never half a
    character)."""
    raw = text.encode("utf-8", errors="replace")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


def fit_record(record: Mapping[str, Any], limit: int) -> bytes:
    """`record` as JSON of at most `limit` bytes where it can be: past it, `responsePayload`,
    else `requestPayload`, else both are replaced by a note (Lambda drops the payloads of a
    record too large for its destination)."""
    body = json.dumps(record).encode()
    if len(body) <= limit:
        return body
    note = (
        f"(omitted by lambeam: the invocation record was {len(body)} bytes, and its destination"
        f" takes at most {limit})"
    )
    for dropped in (("responsePayload",), ("requestPayload",)):
        cut = json.dumps({**record, **dict.fromkeys(dropped, note)}).encode()
        if len(cut) <= limit:
            return cut
    return json.dumps({**record, "responsePayload": note, "requestPayload": note}).encode()


def deliver(
    queue: MessageQueue,
    target: Destination,
    body: Mapping[str, Any] | Outgoing,
    *,
    region: str,
    account_id: str,
) -> str:
    """Send `body` (an invocation record, cut to the target's size, or a dead-letter message)
    to `target`, committed; the queue it went to (a function's: the async queue), for waking
    its consumer.

    Raises a LambeamError with a 4xx status when the target refuses it for good: a queue or
    topic that no longer exists, a message SQS or SNS would refuse (too large, say)."""
    if target.kind == "function":
        payload = _body(body, MAX_EVENT_PAYLOAD_BYTES)
        request = InvocationRequest(
            function=target.name,
            payload=payload,
            qualifier=target.qualifier,
            invocation_type="Event",
            source="async",
        )
        enqueue_invocations(queue, [request])
        return ASYNC_QUEUE
    if target.kind == "queue":
        info = get_queue(queue.db, target.name)
        attributes = (
            body.attributes.get("MessageAttributes") if isinstance(body, Outgoing) else None
        )
        text = _body(body, info.maximum_message_size).decode()
        queue.send(target.name, [prepare(info, text, attributes).outgoing])
        return target.name
    if target.kind == "topic":
        attributes = (
            body.attributes.get("MessageAttributes") if isinstance(body, Outgoing) else None
        )
        publish(
            queue,
            target.name,
            _body(body, MAX_MESSAGE_BYTES).decode(),
            message_attributes=attributes,
            region=region,
            account_id=account_id,
        )
        return target.name
    raise ConfigError(f"a destination is a function, queue or topic, not {target.kind!r}")


def _body(body: Mapping[str, Any] | Outgoing, limit: int) -> bytes:
    """A ready message's body as it is; a record's JSON, cut to `limit`."""
    return body.body if isinstance(body, Outgoing) else fit_record(body, limit)


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
