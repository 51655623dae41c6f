"""SQS's messages on the durable queue: bodies, message attributes, their MD5 digests, the
system attributes a receive can ask for, and receipt handles.

    sent = prepare(info, "hello", {"kind": {"DataType": "String", "StringValue": "greeting"}})
    queue.send(info.name, [sent.outgoing])       # or a group commit of many senders' messages
    for message in receive(queue, info, 10, attribute_names=["All"]):
        message.to_dict()                        # SQS's Message shape
        queue.delete([parse_receipt_handle(info.name, message.receipt_handle)])

A message's SQS attributes are kept in its row's `attributes` (`MessageAttributes` in SQS's wire
form, binary values base64, plus `SenderId` and `AWSTraceHeader`); `from_message` turns any
received row back into SQS's shape, for the SQS API, the CLI and queue mappings alike.

SQS takes only XML's characters, so every body sent through it is UTF-8; a row whose body is not
(only lambeam's own writes could make one) is unreadable: `from_message` refuses it naming the
message, and `receive` (and the queue mappings, through `set_aside`) hands out the messages
received with it and sets it aside: to the queue's dead-letter queue at once, or, without one,
held for the visibility timeout like any received message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambeam.errors import MessageError
from lambeam.events.queue import DeadLetter, Message, MessageQueue, Outgoing
from lambeam.events.queues import QueueInfo
from lambeam.events.receipts import parse_receipt_handle, receipt_handle

__all__ = [
    "MAX_BATCH_ENTRIES",
    "Prepared",
    "Received",
    "batch_entry_size",
    "from_message",
    "md5_of_attributes",
    "md5_of_body",
    "parse_receipt_handle",
    "prepare",
    "receipt_handle",
    "receive",
    "set_aside",
]

_log = logging.getLogger(__name__)

MAX_BATCH_ENTRIES = 10  # SQS's most entries in one batch request and most messages per receive
MAX_ATTRIBUTES = 10  # message attributes per message
SYSTEM_ATTRIBUTES = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
)
# The characters SQS allows in a body (XML's): #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD
# #x10000-#x10FFFF.
_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\..+)?")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Prepared:
    """A checked message, ready to send, and the digests SendMessage answers with."""

    outgoing: Outgoing
    md5_of_body: str
    md5_of_message_attributes: str | None
    md5_of_system_attributes: str | None
    size: int = 0  # what SQS counts against its limits: the body's bytes and the attributes'

    @property
    def message_id(self) -> str:
        assert self.outgoing.id is not None  # prepare gives every message its id
        return self.outgoing.id


@dataclass(frozen=True)
class Received:
    """A received message in SQS's terms (`to_dict` is SQS's Message shape)."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str] = field(default_factory=dict)
    message_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    md5_of_message_attributes: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """SQS's `Message`: MessageId, ReceiptHandle, MD5OfBody, Body, and what was asked for."""
        shape: dict[str, Any] = {
            "MessageId": self.message_id,
            "ReceiptHandle": self.receipt_handle,
            "MD5OfBody": self.md5_of_body,
            "Body": self.body,
        }
        if self.attributes:
            shape["Attributes"] = self.attributes
        if self.message_attributes:
            shape["MD5OfMessageAttributes"] = self.md5_of_message_attributes
            shape["MessageAttributes"] = self.message_attributes
        return shape


def md5_of_body(body: str) -> str:
    """MD5OfMessageBody: the hex MD5 of the body's UTF-8 bytes."""
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, Mapping[str, str]]) -> str | None:
    """MD5OfMessageAttributes as SQS computes it (None without attributes): for each attribute
    by name, the name, its DataType and its value, each as a 4-byte big-endian length and its
    bytes, the value preceded by a transport byte (1 string, 2 binary)."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        for part in (name.encode("utf-8"), data_type.encode("utf-8")):
            digest.update(struct.pack(">I", len(part)) + part)
        if data_type.startswith("Binary"):
            raw = base64.b64decode(value["BinaryValue"])
            digest.update(b"\x02" + struct.pack(">I", len(raw)) + raw)
        else:
            raw = value["StringValue"].encode("utf-8")
            digest.update(b"\x01" + struct.pack(">I", len(raw)) + raw)
    return digest.hexdigest()


def prepare(
    info: QueueInfo,
    body: str,
    message_attributes: Mapping[str, Any] | None = None,
    *,
    delay_seconds: int | None = None,
    system_attributes: Mapping[str, Any] | None = None,
    sender_id: str | None = None,
) -> Prepared:
    """Check a message as SQS does for queue `info` (its body's characters, its attributes, its
    size against MaximumMessageSize, its delay) and give it an id; MessageError if refused."""
    if not isinstance(body, str) or body == "":
        raise MessageError(
            "The request must contain the parameter MessageBody.", code="MissingParameter"
        )
    bad = _INVALID.search(body)
    if bad is not None:
        raise MessageError(
            f"Invalid characters found (U+{ord(bad.group()):04X} at {bad.start()}). Valid unicode"
            " characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to"
            " #x10FFFF",
            code="InvalidMessageContents",
        )
    attributes = _check_attributes(message_attributes or {})
    system = _check_system_attributes(system_attributes or {})
    size = len(body.encode("utf-8")) + _size(attributes)
    if size > info.maximum_message_size:
        raise MessageError(
            f"One or more parameters are invalid. Reason: Message must be shorter than"
            f" {info.maximum_message_size} bytes (this one is {size}, body and attributes)."
        )
    delay = info.delay_seconds if delay_seconds is None else delay_seconds
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 900:
        raise MessageError(
            f"Value {delay_seconds} for parameter DelaySeconds is invalid. Reason: DelaySeconds"
            " must be >= 0 and <= 900."
        )
    stored: dict[str, Any] = {"MessageAttributes": attributes}
    if sender_id:
        stored["SenderId"] = sender_id
    if system:
        stored["AWSTraceHeader"] = system["AWSTraceHeader"]["StringValue"]
    outgoing = Outgoing(body.encode("utf-8"), stored, float(delay), str(uuid.uuid4()))
    return Prepared(
        outgoing, md5_of_body(body), md5_of_attributes(attributes), md5_of_attributes(system), size
    )


def batch_entry_size(entry: Mapping[str, Any]) -> int:
    """What a batch entry counts towards a batch's total as `prepare` counts it (the body's
    UTF-8 bytes, each attribute's name, type and value), never failing on a malformed entry:
    what is not a string or a map counts nothing."""
    body = entry.get("MessageBody")
    total = len(body.encode("utf-8", "replace")) if isinstance(body, str) else 0
    attributes = entry.get("MessageAttributes")
    if not isinstance(attributes, Mapping):
        return total
    for name, value in attributes.items():
        total += len(name.encode("utf-8", "replace")) if isinstance(name, str) else 0
        if not isinstance(value, Mapping):
            continue
        for part in ("DataType", "StringValue"):
            text = value.get(part)
            total += len(text.encode("utf-8", "replace")) if isinstance(text, str) else 0
        raw = value.get("BinaryValue")
        if isinstance(raw, str):
            try:
                total += len(base64.b64decode(raw, validate=True))
            except (binascii.Error, ValueError):
                total += len(raw)
    return total


def _size(attributes: Mapping[str, Mapping[str, str]]) -> int:
    """What attributes add to a message's size, as SQS counts it: name, type and value."""
    total = 0
    for name, value in attributes.items():
        total += len(name.encode()) + len(value["DataType"].encode())
        if "BinaryValue" in value:
            total += len(base64.b64decode(value["BinaryValue"]))
        else:
            total += len(value["StringValue"].encode())
    return total


def _check_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Message attributes as SQS checks them; each kept as {DataType, StringValue|BinaryValue}."""
    if not isinstance(attributes, Mapping):
        raise MessageError("MessageAttributes must be a map of name to value")
    if len(attributes) > MAX_ATTRIBUTES:
        raise MessageError(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum"
            f" [{MAX_ATTRIBUTES}]."
        )
    checked: dict[str, dict[str, str]] = {}
    for name, value in attributes.items():
        lowered = name.lower() if isinstance(name, str) else ""
        if (
            not _ATTRIBUTE_NAME.fullmatch(lowered)
            or lowered.startswith(("aws.", "amazon."))
            or ".." in lowered
            or lowered.startswith(".")
            or lowered.endswith(".")
        ):
            raise MessageError(
                f"Message attribute name '{name}' is invalid: up to 256 of A-Z a-z 0-9 _ - .,"
                " not starting with AWS. or Amazon., no leading, trailing or double period."
            )
        checked[name] = _check_value(name, value)
    return checked


def _check_value(name: str, value: Any) -> dict[str, str]:
    data_type = value.get("DataType") if isinstance(value, Mapping) else None
    if not isinstance(data_type, str) or not data_type:
        raise MessageError(f"The message attribute '{name}' must contain a non-empty data type.")
    if not _DATA_TYPE.fullmatch(data_type) or len(data_type) > 256:
        raise MessageError(
            f"The type of message (user) attribute '{name}' is invalid. You must use only the"
            " following supported type prefixes: Binary, Number, String."
        )
    if value.get("StringListValues") or value.get("BinaryListValues"):
        raise MessageError(
            f"Message attribute '{name}': list values are not supported (nor are they by SQS)."
        )
    if data_type.startswith("Binary"):
        raw = value.get("BinaryValue")
        try:
            decoded = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
        except (binascii.Error, ValueError):
            decoded = b""
        if not decoded:
            raise MessageError(
                f"The message attribute '{name}' must contain non-empty message attribute value"
                f" for message attribute type '{data_type}'."
            )
        return {"DataType": data_type, "BinaryValue": raw}
    text = value.get("StringValue")
    if not isinstance(text, str) or not text:
        raise MessageError(
            f"The message attribute '{name}' must contain non-empty message attribute value for"
            f" message attribute type '{data_type}'."
        )
    if data_type.startswith("Number") and not _NUMBER.fullmatch(text):
        raise MessageError(
            f"Can't cast the value of message (user) attribute '{name}' to a number."
        )
    if _INVALID.search(text):
        raise MessageError(f"Message attribute '{name}' holds characters SQS does not allow.")
    return {"DataType": data_type, "StringValue": text}


def _check_system_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """MessageSystemAttributes of a send: only AWSTraceHeader, a String (as SQS allows)."""
    if not isinstance(attributes, Mapping):
        raise MessageError("MessageSystemAttributes must be a map of name to value")
    for name, value in attributes.items():
        if name != "AWSTraceHeader":
            raise MessageError(f"Message system attribute name '{name}' is invalid.")
        if not isinstance(value, Mapping) or value.get("DataType") != "String":
            raise MessageError("Message system attribute AWSTraceHeader must be of type String.")
    return {name: _check_value(name, value) for name, value in attributes.items()}


def receive(
    queue: MessageQueue,
    info: QueueInfo,
    max_messages: int = 1,
    *,
    visibility_timeout: int | None = None,
    attribute_names: Iterable[str] = (),
    message_attribute_names: Iterable[str] = (),
) -> list[Received]:
    """Receive up to `max_messages` of queue `info`'s visible messages for its visibility
    timeout (or `visibility_timeout`), moving those past its redrive policy's maxReceiveCount
    to the dead-letter queue; each with the system and message attributes asked for.
    A message whose body is not UTF-8 is set aside (`set_aside`), never failing the others."""
    visibility = info.visibility_timeout if visibility_timeout is None else visibility_timeout
    messages = queue.receive(info.name, max_messages, visibility, dead_letter=info.dead_letter)
    names, wanted = list(attribute_names), list(message_attribute_names)
    received: list[Received] = []
    unreadable: list[Message] = []
    for message in messages:
        try:
            received.append(from_message(message, names, wanted))
        except MessageError:
            unreadable.append(message)
    if unreadable:
        set_aside(queue, unreadable, info.dead_letter)
    return received


def set_aside(
    queue: MessageQueue, unreadable: Sequence[Message], dead_letter: DeadLetter | None
) -> None:
    """Set received messages that cannot be handed out (`from_message` refused them) aside,
    with a warning naming each: moved to `dead_letter`'s queue at once when there is one, else
    left leased, to come back after the visibility timeout (past a redrive policy's
    maxReceiveCount, to its dead-letter queue) as a message no one deleted does."""
    ids = ", ".join(m.id for m in unreadable)
    queue_name = unreadable[0].queue
    if dead_letter is None:
        _log.warning(
            "queue %s: message(s) %s skipped: the body is not UTF-8 (lambeam's own write, not an"
            " SQS send); held for the visibility timeout, and the queue has no dead-letter queue",
            queue_name,
            ids,
        )
        return
    queue.dead_letter([m.receipt for m in unreadable], dead_letter.queue)
    _log.warning(
        "queue %s: message(s) %s moved to the dead-letter queue %s: the body is not UTF-8"
        " (lambeam's own write, not an SQS send)",
        queue_name,
        ids,
        dead_letter.queue,
    )


def from_message(
    message: Message,
    attribute_names: Sequence[str] = (),
    message_attribute_names: Sequence[str] = (),
) -> Received:
    """A received row in SQS's terms, with the system attributes (`All`, or by name) and
    message attributes (`All`, `.*`, `prefix.*` or by name) asked for; MessageError naming the
    message when its body is not UTF-8 (SQS's bodies always are)."""
    stored = message.attributes or {}
    try:
        body = message.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError(
            f"Message {message.id} of queue {message.queue} cannot be handed out: its body is not"
            f" UTF-8 ({exc.reason} at byte {exc.start})",
            code="InvalidMessageContents",
        ) from None
    system = {
        "SenderId": stored.get("SenderId", ""),
        "SentTimestamp": str(int(message.sent_at * 1000)),
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(int(message.first_received_at * 1000)),
    }
    if stored.get("AWSTraceHeader"):
        system["AWSTraceHeader"] = stored["AWSTraceHeader"]
    everything = "All" in attribute_names
    attributes = {k: v for k, v in system.items() if (everything or k in attribute_names) and v}
    kept = {
        name: value
        for name, value in (stored.get("MessageAttributes") or {}).items()
        if _wanted(name, message_attribute_names)
    }
    return Received(
        message_id=message.id,
        receipt_handle=receipt_handle(message.queue, message.id, message.lease),
        body=body,
        md5_of_body=md5_of_body(body),
        attributes=attributes,
        message_attributes=kept,
        md5_of_message_attributes=md5_of_attributes(kept),
    )


def _wanted(name: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        if pattern in ("All", ".*") or pattern == name:
            return True
        if pattern.endswith(".*") and name.startswith(pattern[:-1]):
            return True
    return False
