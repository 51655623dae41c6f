"""The SQS API's actions: each reads its parameters from SQS's JSON request, authorizes
`sqs:<Action>` on the queue's ARN, calls lambeam.events.queues / .messages, and answers SQS's
response shape (None: an action without output). The wire format is lambeam.server.sqs_api's.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from lambeam.errors import LambeamError, MessageError
from lambeam.events.messages import (
    MAX_BATCH_ENTRIES,
    Prepared,
    batch_entry_size,
    parse_receipt_handle,
    prepare,
    receive,
)
from lambeam.events.queues import (
    MAX_MESSAGE_BYTES,
    QueueInfo,
    create_queue,
    delete_queue,
    get_queue,
    list_queues,
    queue_name_from_arn,
    set_queue_attributes,
)
from lambeam.server._sqs_call import Call, query_code

__all__ = ["ACTIONS"]

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_MAX_VISIBILITY = 43_200

# Every name SQS's GetQueueAttributes takes; those lambeam's queues do not have answer nothing.
_ATTRIBUTE_NAMES = frozenset((
    "All", "Policy", "VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod",
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "CreatedTimestamp",
    "LastModifiedTimestamp", "QueueArn", "ApproximateNumberOfMessagesDelayed", "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "FifoQueue", "ContentBasedDeduplication",
    "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "DeduplicationScope", "FifoThroughputLimit",
    "RedriveAllowPolicy", "SqsManagedSseEnabled",
))  # fmt: skip


async def _create_queue(call: Call) -> dict[str, Any]:
    name = call.text("QueueName")
    await call.authorize("sqs:CreateQueue", call.arn(name))
    attributes = call.mapping("Attributes")
    await _authorize_redrive(call, attributes)
    await asyncio.to_thread(create_queue, call.gw.project.db, name, attributes, **_where(call))
    call.forget(name)
    return {"QueueUrl": call.url(name)}


def _where(call: Call) -> dict[str, str]:
    """The region and account a RedrivePolicy's dead-letter queue must be of: this server's."""
    return {"region": call.gw.engine.region, "account_id": call.gw.engine.account_id}


async def _get_queue_url(call: Call) -> dict[str, Any]:
    name = call.text("QueueName")
    await call.authorize("sqs:GetQueueUrl", call.arn(name))
    await asyncio.to_thread(get_queue, call.gw.project.db, name)
    return {"QueueUrl": call.url(name)}


async def _list_queues(call: Call) -> dict[str, Any]:
    await call.authorize("sqs:ListQueues", "*")
    prefix = call.text("QueueNamePrefix", required=False)
    limit = call.integer("MaxResults", 1, 1000, None)
    after = call.text("NextToken", required=False)
    infos = await asyncio.to_thread(list_queues, call.gw.project.db, prefix)
    names = [info.name for info in infos if info.name > after]
    answer: dict[str, Any] = {}
    chosen = names if limit is None else names[:limit]
    if chosen:
        answer["QueueUrls"] = [call.url(name) for name in chosen]
    if limit is not None and len(names) > limit:
        answer["NextToken"] = chosen[-1]
    return answer


async def _delete_queue(call: Call) -> None:
    name = call.queue_name()
    await call.authorize("sqs:DeleteQueue", call.arn(name))
    await asyncio.to_thread(delete_queue, call.gw.project.db, name)
    call.session.infos.clear()  # other queues' redrive policies may name it (read again)


async def _get_queue_attributes(call: Call) -> dict[str, Any]:
    info = await call.queue("sqs:GetQueueAttributes")
    asked = call.names("AttributeNames")
    unknown = [name for name in asked if name not in _ATTRIBUTE_NAMES]
    if unknown:
        raise MessageError(f"Unknown Attribute {unknown[0]}.", code="InvalidAttributeName")
    every = "All" in asked
    values = {
        **info.attributes,
        "CreatedTimestamp": str(int(info.created_at.timestamp())),
        "LastModifiedTimestamp": str(int(info.updated_at.timestamp())),
        "QueueArn": call.arn(info.name),
        "SqsManagedSseEnabled": "false",  # lambeam's queues are not encrypted at rest by SQS
    }
    if every or any(name.startswith("Approximate") for name in asked):
        counts = await asyncio.to_thread(call.gw.events.queue.counts, info.name)
        values["ApproximateNumberOfMessages"] = str(counts.visible)
        values["ApproximateNumberOfMessagesNotVisible"] = str(counts.in_flight)
        values["ApproximateNumberOfMessagesDelayed"] = str(counts.delayed)
    answer = {k: v for k, v in values.items() if every or k in asked}
    return {"Attributes": answer} if answer else {}


async def _set_queue_attributes(call: Call) -> None:
    name = call.queue_name()
    await call.authorize("sqs:SetQueueAttributes", call.arn(name))
    attributes = call.mapping("Attributes")
    await _authorize_redrive(call, attributes)
    db = call.gw.project.db
    await asyncio.to_thread(set_queue_attributes, db, name, attributes, **_where(call))
    call.forget(name)


async def _authorize_redrive(call: Call, attributes: Mapping[str, Any]) -> None:
    """sqs:SendMessage on the dead-letter queue a RedrivePolicy names: a key may only redrive
    into a queue it could send to (what is not a redrive policy is left for queues to refuse)."""
    try:
        policy = attributes.get("RedrivePolicy")
        policy = json.loads(policy) if isinstance(policy, str) and policy else policy
        target = policy.get("deadLetterTargetArn") if isinstance(policy, dict) else None
        name = queue_name_from_arn(target) if isinstance(target, str) and target else None
    except (TypeError, ValueError, RecursionError):
        return
    if name:
        await call.authorize("sqs:SendMessage", call.arn(name))


def _prepare(call: Call, info: QueueInfo, entry: Mapping[str, Any]) -> Prepared:
    if entry.get("MessageDeduplicationId") is not None:
        raise MessageError(
            "The request includes parameter MessageDeduplicationId, which only FIFO queues take;"
            " lambeam's queues are standard queues"
        )
    delay = entry.get("DelaySeconds")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int)):
        raise MessageError(f"Value {delay!r} for parameter DelaySeconds is invalid.")
    key = getattr(call.request.state, "key", None)
    return prepare(
        info,
        entry.get("MessageBody"),  # type: ignore[arg-type]  # prepare checks it is a string
        entry.get("MessageAttributes"),
        delay_seconds=delay,
        system_attributes=entry.get("MessageSystemAttributes"),
        sender_id=key.id if key is not None else call.gw.engine.account_id,
    )


def _sent(prepared: Prepared) -> dict[str, Any]:
    answer = {"MessageId": prepared.message_id, "MD5OfMessageBody": prepared.md5_of_body}
    if prepared.md5_of_message_attributes:
        answer["MD5OfMessageAttributes"] = prepared.md5_of_message_attributes
    if prepared.md5_of_system_attributes:
        answer["MD5OfMessageSystemAttributes"] = prepared.md5_of_system_attributes
    return answer


async def _commit(call: Call, info: QueueInfo, prepared: Sequence[Prepared]) -> None:
    """Commit the messages (with concurrent senders' messages), then wake the queue's readers."""
    committer = call.session.committer(call.gw)
    await asyncio.gather(*(committer.submit((info.name, p.outgoing)) for p in prepared))
    call.gw.events.wake(info.name)


async def _send_message(call: Call) -> dict[str, Any]:
    info = await call.queue("sqs:SendMessage")
    prepared = _prepare(call, info, call.params)
    await _commit(call, info, [prepared])
    return _sent(prepared)


def _entries(call: Call) -> list[dict[str, Any]]:
    entries = call.params.get("Entries")
    if not isinstance(entries, list) or not entries:
        raise MessageError(
            "There should be at least one SendMessageBatchRequestEntry in the request.",
            code="EmptyBatchRequest",
        )
    if len(entries) > MAX_BATCH_ENTRIES:
        raise MessageError(
            f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. You have sent"
            f" {len(entries)}.",
            code="TooManyEntriesInBatchRequest",
        )
    ids = [entry.get("Id") if isinstance(entry, dict) else None for entry in entries]
    for entry_id in ids:
        if not isinstance(entry_id, str) or not _BATCH_ID.fullmatch(entry_id):
            raise MessageError(
                f"A batch entry id can only contain alphanumeric characters, hyphens and"
                f" underscores. It can be at most 80 letters long (got {entry_id!r}).",
                code="InvalidBatchEntryId",
            )
    if len(set(ids)) != len(ids):
        raise MessageError(
            "Two or more batch entries in the request have the same Id.",
            code="BatchEntryIdsNotDistinct",
        )
    return entries


def _failed(entry_id: str, exc: LambeamError) -> dict[str, Any]:
    shape = getattr(exc, "sqs_error", ("InvalidParameterValue",))[0]
    return {"Id": entry_id, "SenderFault": True, "Code": query_code(shape), "Message": str(exc)}


async def _send_message_batch(call: Call) -> dict[str, Any]:
    info = await call.queue("sqs:SendMessage")
    entries = _entries(call)
    total = sum(batch_entry_size(entry) for entry in entries)  # bodies and attributes
    if total > MAX_MESSAGE_BYTES:
        raise MessageError(
            f"Batch requested message too long: {total} bytes in all, at most {MAX_MESSAGE_BYTES}.",
            code="BatchRequestTooLong",
        )
    good: list[tuple[str, Prepared]] = []
    failed: list[dict[str, Any]] = []
    for entry in entries:
        try:
            good.append((entry["Id"], _prepare(call, info, entry)))
        except LambeamError as exc:
            failed.append(_failed(entry["Id"], exc))
    await _commit(call, info, [p for _, p in good])
    return {"Successful": [{"Id": i, **_sent(p)} for i, p in good], "Failed": failed}


async def _receive_message(call: Call) -> dict[str, Any]:
    info = await call.queue("sqs:ReceiveMessage")
    most = call.integer("MaxNumberOfMessages", 1, MAX_BATCH_ENTRIES, 1) or 1
    visibility = call.integer("VisibilityTimeout", 0, _MAX_VISIBILITY, None)
    wait_s = call.integer("WaitTimeSeconds", 0, 20, info.receive_wait_time) or 0
    attribute_names = call.names("AttributeNames", "MessageSystemAttributeNames")
    message_attribute_names = call.names("MessageAttributeNames")
    events = call.gw.events
    deadline = time.monotonic() + wait_s
    while True:
        got = await asyncio.to_thread(
            receive,
            events.queue,
            info,
            most,
            visibility_timeout=visibility,
            attribute_names=attribute_names,
            message_attribute_names=message_attribute_names,
        )
        left = deadline - time.monotonic()
        if got or left <= 0:
            break
        # Woken at once by a send in this process; another process's sends (and delayed
        # messages coming due) are found at the next poll.
        await events.wait(info.name, min(left, events.timings.poll_interval_s))
    if info.dead_letter is not None:
        events.wake(info.dead_letter.queue)  # a receive may have moved messages there
    return {"Messages": [m.to_dict() for m in got]} if got else {}


async def _delete_message(call: Call) -> None:
    info = await call.queue("sqs:DeleteMessage")
    receipt = parse_receipt_handle(info.name, call.text("ReceiptHandle"))
    # As SQS: a handle whose receive lapsed answers success (the message stays, as SQS's may).
    await asyncio.to_thread(call.gw.events.queue.delete, [receipt])


async def _delete_message_batch(call: Call) -> dict[str, Any]:
    info = await call.queue("sqs:DeleteMessage")
    receipts, failed = [], []
    for entry in _entries(call):
        try:
            receipts.append(
                (entry["Id"], parse_receipt_handle(info.name, entry.get("ReceiptHandle")))
            )
        except LambeamError as exc:
            failed.append(_failed(entry["Id"], exc))
    await asyncio.to_thread(call.gw.events.queue.delete, [r for _, r in receipts])
    return {"Successful": [{"Id": i} for i, _ in receipts], "Failed": failed}


def _not_in_flight(handle: str) -> MessageError:
    return MessageError(
        f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist"
        " or is not available for visibility timeout change."
    )


async def _change_message_visibility(call: Call) -> None:
    info = await call.queue("sqs:ChangeMessageVisibility")
    handle = call.text("ReceiptHandle")
    receipt = parse_receipt_handle(info.name, handle)
    timeout = call.integer("VisibilityTimeout", 0, _MAX_VISIBILITY, None)
    if timeout is None:
        raise MessageError(
            "The request must contain the parameter VisibilityTimeout.", code="MissingParameter"
        )
    changed = await asyncio.to_thread(call.gw.events.queue.change_visibility, [receipt], timeout)
    if not changed[0]:
        raise _not_in_flight(handle)
    if timeout == 0:
        call.gw.events.wake(info.name)


async def _change_message_visibility_batch(call: Call) -> dict[str, Any]:
    info = await call.queue("sqs:ChangeMessageVisibility")
    failed: list[dict[str, Any]] = []
    done: list[str] = []
    for entry in _entries(call):
        try:
            handle = entry.get("ReceiptHandle")
            receipt = parse_receipt_handle(info.name, handle)
            timeout = entry.get("VisibilityTimeout", 0)
            if isinstance(timeout, bool) or not isinstance(timeout, int):
                raise MessageError(f"Value {timeout!r} for parameter VisibilityTimeout is invalid.")
            if not 0 <= timeout <= _MAX_VISIBILITY:
                raise MessageError(
                    f"Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be"
                    f" >= 0 and <= {_MAX_VISIBILITY}."
                )
            queue = call.gw.events.queue
            changed = await asyncio.to_thread(queue.change_visibility, [receipt], timeout)
            if not changed[0]:
                raise _not_in_flight(str(handle))
            done.append(entry["Id"])
        except LambeamError as exc:
            failed.append(_failed(entry["Id"], exc))
    call.gw.events.wake(info.name)
    return {"Successful": [{"Id": i} for i in done], "Failed": failed}


async def _purge_queue(call: Call) -> None:
    info = await call.queue("sqs:PurgeQueue")
    await asyncio.to_thread(call.gw.events.queue.purge, info.name)


# Every action, by the name X-Amz-Target gives it.
ACTIONS: dict[str, Callable[[Call], Awaitable[dict[str, Any] | None]]] = {
    "CreateQueue": _create_queue,
    "GetQueueUrl": _get_queue_url,
    "ListQueues": _list_queues,
    "DeleteQueue": _delete_queue,
    "GetQueueAttributes": _get_queue_attributes,
    "SetQueueAttributes": _set_queue_attributes,
    "SendMessage": _send_message,
    "SendMessageBatch": _send_message_batch,
    "ReceiveMessage": _receive_message,
    "DeleteMessage": _delete_message,
    "DeleteMessageBatch": _delete_message_batch,
    "ChangeMessageVisibility": _change_message_visibility,
    "ChangeMessageVisibilityBatch": _change_message_visibility_batch,
    "PurgeQueue": _purge_queue,
}
