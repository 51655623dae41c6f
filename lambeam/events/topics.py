"""Topics (SNS): create, subscribe a function or a queue, publish to every subscriber.

    create_topic(db, "alerts")
    subscribe(db, "alerts", "lambda", "score", qualifier="prod")
    subscribe(db, "alerts", "sqs", "audit")             # the queue must exist
    message_id = publish(db, "alerts", "disk full", subject="ops")

A publish writes one message per subscription, all in one transaction: a function subscriber
gets an asynchronous invocation whose event has SNS's record shape (`Records[0].Sns`), a queue
subscriber an SQS message whose body is SNS's JSON envelope (or the bare message with
RawMessageDelivery). Each delivery is its own: a function that keeps failing is retried (and
sent to its failure destination) on its own, and never holds back the other subscribers.

lambeam does not sign notifications: `Signature` and `SigningCertUrl` are empty strings, and
`UnsubscribeUrl` is the REST path that deletes the subscription on the server that delivered it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from lambeam.errors import (
    ConfigError,
    PayloadTooLargeError,
    TopicNotFoundError,
)
from lambeam.events.asynchronous import enqueue_invocations
from lambeam.events.notifications import (
    envelope,
    lambda_event,
    message_attributes_of,
    sns_timestamp,
    topic_arn,
    topic_name,
)
from lambeam.events.queue import MessageQueue, Outgoing
from lambeam.events.subscriptions import (
    PROTOCOLS,
    Subscription,
    list_subscriptions,
    subscribe,
    subscription_of,
    unsubscribe,
)
from lambeam.invoke.request import InvocationRequest
from lambeam.runtime.engine import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from lambeam.storage import Database
from lambeam.storage.database import utcnow
from lambeam.storage.schema import QueueRow, SubscriptionRow, TopicRow

__all__ = [
    "MAX_MESSAGE_BYTES",
    "PROTOCOLS",
    "Published",
    "Subscription",
    "Topic",
    "create_topic",
    "delete_topic",
    "get_topic",
    "list_subscriptions",
    "list_topics",
    "publish",
    "publish_message",
    "subscribe",
    "topic_arn",
    "topic_name",
    "unsubscribe",
]

# SNS's limit on a published message, its attributes included (256 KiB).
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Topic:
    """A topic, its ARN and how many subscriptions it has."""

    name: str
    arn: str
    attributes: dict[str, Any]
    origin: str
    created_at: str
    subscriptions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arn": self.arn,
            "attributes": self.attributes,
            "origin": self.origin,
            "created_at": self.created_at,
            "subscriptions": self.subscriptions,
        }


@dataclass(frozen=True)
class Published:
    """What a publish wrote: SNS's MessageId, the request ids of the function deliveries, and
    the queues (SQS subscribers) that got a message."""

    message_id: str
    request_ids: list[str]
    queues: list[str]


def create_topic(
    db: Database,
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    origin: str = "api",
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Topic:
    """Create topic `name`; as SNS's CreateTopic, creating one that exists returns it (its
    attributes updated when given)."""
    name = topic_name(name)
    given = _topic_attributes(attributes)
    now = utcnow()
    with db.session() as session:
        row = session.get(TopicRow, name)
        if row is None:
            row = TopicRow(
                name=name, attributes=given, origin=origin, created_at=now, updated_at=now
            )
            session.add(row)
        elif attributes is not None and row.attributes != given:
            row.attributes, row.updated_at = given, now
        session.flush()
        return _topic(row, _count(session, name), region, account_id)


def get_topic(
    db: Database, name: str, *, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID
) -> Topic:
    """Topic `name` (or ARN); TopicNotFoundError when there is none."""
    name = topic_name(name)
    with db.session() as session:
        row = session.get(TopicRow, name)
        if row is None:
            raise _no_topic(name)
        return _topic(row, _count(session, name), region, account_id)


def list_topics(
    db: Database, *, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID
) -> list[Topic]:
    """Every topic, by name."""
    with db.session() as session:
        rows = session.scalars(select(TopicRow).order_by(TopicRow.name)).all()
        counts: dict[str, int] = {}
        for topic in session.scalars(select(SubscriptionRow.topic)):
            counts[topic] = counts.get(topic, 0) + 1
        return [_topic(row, counts.get(row.name, 0), region, account_id) for row in rows]


def delete_topic(db: Database, name: str) -> None:
    """Delete topic `name` and its subscriptions; TopicNotFoundError when there is none."""
    name = topic_name(name)
    with db.session() as session:
        row = session.get(TopicRow, name)
        if row is None:
            raise _no_topic(name)
        session.execute(delete(SubscriptionRow).where(SubscriptionRow.topic == name))
        session.delete(row)


def publish(
    target: Database | MessageQueue,
    topic: str,
    message: str,
    subject: str | None = None,
    message_attributes: Mapping[str, Any] | None = None,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> str:
    """Publish `message` to `topic` (a name or ARN): one delivery per subscription, committed
    in one transaction; SNS's MessageId. See `publish_message` for what was written."""
    return publish_message(
        target,
        topic,
        message,
        subject,
        message_attributes,
        region=region,
        account_id=account_id,
    ).message_id


def publish_message(
    target: Database | MessageQueue,
    topic: str,
    message: str,
    subject: str | None = None,
    message_attributes: Mapping[str, Any] | None = None,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Published:
    """`publish`, saying what it wrote (the server wakes the consumers of those queues).

    `message_attributes` take SNS's form, {name: {"DataType": "String" | "Number" | "Binary" |
    "String.Array", "StringValue" | "BinaryValue": ...}} (a plain string is a String).
    A queue subscriber whose queue was deleted since is skipped.
    """
    queue = target if isinstance(target, MessageQueue) else MessageQueue(target)
    name = topic_name(topic)
    if not isinstance(message, str) or not message:
        raise ConfigError("message must be a non-empty string")
    _check_subject(subject)
    attributes = message_attributes_of(message_attributes)
    size = len(message.encode()) + sum(
        len(k.encode()) + len(v["Type"]) + len(v["Value"].encode()) for k, v in attributes.items()
    )
    if size > MAX_MESSAGE_BYTES:
        raise PayloadTooLargeError(
            f"the message to topic {name!r} is {size} bytes with its attributes; SNS takes at most"
            f" {MAX_MESSAGE_BYTES}",
            size=size,
            limit=MAX_MESSAGE_BYTES,
        )
    arn = topic_arn(name, region, account_id)
    with queue.db.session() as session:
        if session.get(TopicRow, name) is None:
            raise _no_topic(name)
        subscriptions = [
            subscription_of(row, region, account_id)
            for row in session.scalars(
                select(SubscriptionRow)
                .where(SubscriptionRow.topic == name)
                .order_by(SubscriptionRow.created_at)
            )
        ]
        queues = set(session.scalars(select(QueueRow.name)))
    message_id = str(uuid.uuid4())
    now = queue.clock()
    notification: dict[str, Any] = {
        "MessageId": message_id,
        "TopicArn": arn,
        "Subject": subject,
        "Message": message,
        "Timestamp": sns_timestamp(now),
        "MessageAttributes": attributes,
    }
    requests: list[InvocationRequest] = []
    sends: list[tuple[str, Outgoing]] = []
    for sub in subscriptions:
        unsubscribe_url = f"/v1/topics/{name}/subscriptions/{sub.id}"
        if sub.protocol == "lambda":
            event = lambda_event(notification, sub.arn, unsubscribe_url)
            requests.append(
                InvocationRequest(
                    function=sub.endpoint,
                    payload=json.dumps(event).encode(),
                    qualifier=sub.qualifier,
                    invocation_type="Event",
                    request_id=str(uuid.uuid4()),
                    source="sns",
                    enqueued_at=now,
                )
            )
        elif sub.endpoint in queues:
            if sub.raw_message_delivery:
                body, sqs_attributes = message.encode(), _sqs_attributes(message_attributes)
            else:
                body = json.dumps(envelope(notification, unsubscribe_url)).encode()
                sqs_attributes = {}
            sends.append((sub.endpoint, Outgoing(body, sqs_attributes)))
    request_ids = [r.request_id for r in requests if r.request_id is not None]
    if requests:
        enqueue_invocations(_Alongside(queue, sends), requests)
    elif sends:
        queue.send_many(sends)
    return Published(message_id, request_ids, sorted({q for q, _ in sends}))


class _Alongside(MessageQueue):
    """The queue, writing `extra` messages in the same transaction as each `send`: a publish's
    queue deliveries commit with its function deliveries, or not at all."""

    def __init__(self, queue: MessageQueue, extra: Sequence[tuple[str, Outgoing]]) -> None:
        super().__init__(queue.db, clock=queue.clock)
        self._extra = list(extra)

    def send(
        self,
        queue: str,
        messages: Sequence[Outgoing],
        *,
        also: Any = None,
    ) -> list[str]:
        ids = self.send_many([(queue, m) for m in messages] + self._extra, also=also)
        return ids[: len(messages)]


def _sqs_attributes(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """SNS's message attributes as the SQS message attributes of a raw delivery."""
    attributes: dict[str, Any] = {}
    for name, value in (given or {}).items():
        if isinstance(value, str):
            value = {"DataType": "String", "StringValue": value}
        entry = {"DataType": value["DataType"]}
        if "BinaryValue" in value:
            binary = value["BinaryValue"]
            entry["BinaryValue"] = (
                base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary
            )
        else:
            entry["StringValue"] = value["StringValue"]
        attributes[name] = entry
    return {"MessageAttributes": attributes} if attributes else {}


def _check_subject(subject: str | None) -> None:
    if subject is None:
        return
    if (
        not isinstance(subject, str)
        or not subject
        or len(subject) >= 100
        or any(ord(c) < 32 or ord(c) == 127 for c in subject)
    ):
        raise ConfigError(
            "subject must be text of 1 to 99 characters without line breaks or control characters"
        )


def _topic_attributes(given: Mapping[str, Any] | None) -> dict[str, Any]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise ConfigError("a topic's attributes must be an object, e.g. {DisplayName: ...}")
    unknown = sorted(set(given) - {"DisplayName"})
    if unknown:
        raise ConfigError(f"unknown topic attribute {unknown[0]!r}; lambeam keeps DisplayName")
    display = given.get("DisplayName", "")
    if not isinstance(display, str) or len(display) > 100:
        raise ConfigError("DisplayName must be text of at most 100 characters")
    return {"DisplayName": display} if display else {}


def _count(session: Any, topic: str) -> int:
    return len(
        session.scalars(select(SubscriptionRow.id).where(SubscriptionRow.topic == topic)).all()
    )


def _topic(row: TopicRow, subscriptions: int, region: str, account_id: str) -> Topic:
    return Topic(
        name=row.name,
        arn=topic_arn(row.name, region, account_id),
        attributes=dict(row.attributes),
        origin=row.origin,
        created_at=_iso(row.created_at),
        subscriptions=subscriptions,
    )


def _no_topic(name: str) -> TopicNotFoundError:
    return TopicNotFoundError(f"no topic {name!r}; create it with lambeam topics create {name}")


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC (SQLite gives the stored UTC time back without its zone)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
