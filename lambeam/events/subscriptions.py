"""A topic's subscriptions: a function (protocol "lambda") or a queue ("sqs").

    subscribe(db, "alerts", "lambda", "score", qualifier="prod")
    subscribe(db, "alerts", "sqs", "arn:aws:sqs:us-east-1:000000000000:audit", raw_message_delivery=True)

A function subscription's `endpoint` is the function's name (its qualifier kept apart), a queue
subscription's the queue's name; both are listed with the ARN SNS would show.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from lambeam.errors import (
    ConfigError,
    FunctionNotFoundError,
    QueueNotFoundError,
    SubscriptionNotFoundError,
    TopicNotFoundError,
)
from lambeam.events.notifications import topic_arn, topic_name
from lambeam.events.queues import queue_name_from_arn
from lambeam.runtime.engine import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from lambeam.runtime.spec import function_arn, split_function_name
from lambeam.storage import Database
from lambeam.storage.database import utcnow
from lambeam.storage.schema import FunctionRow, QueueRow, SubscriptionRow, TopicRow

__all__ = [
    "PROTOCOLS",
    "Subscription",
    "list_subscriptions",
    "subscribe",
    "subscription_of",
    "unsubscribe",
]

PROTOCOLS = ("lambda", "sqs")


@dataclass(frozen=True)
class Subscription:
    """A topic's subscriber: a function (protocol "lambda", with an optional qualifier) or a
    queue ("sqs", optionally with raw message delivery). `endpoint_arn` is what SNS lists."""

    id: str
    arn: str
    topic: str
    topic_arn: str
    protocol: str
    endpoint: str
    endpoint_arn: str
    qualifier: str | None
    raw_message_delivery: bool
    origin: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "arn": self.arn,
            "topic": self.topic,
            "topic_arn": self.topic_arn,
            "protocol": self.protocol,
            "endpoint": self.endpoint,
            "endpoint_arn": self.endpoint_arn,
            "qualifier": self.qualifier,
            "raw_message_delivery": self.raw_message_delivery,
            "origin": self.origin,
        }


def subscribe(
    db: Database,
    topic: str,
    protocol: str,
    endpoint: str,
    *,
    qualifier: str | None = None,
    raw_message_delivery: bool = False,
    origin: str = "api",
    declared_in: str | None = None,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Subscription:
    """Subscribe a function (protocol "lambda": a name, `name:qualifier` or function ARN, and
    an optional qualifier) or an existing queue ("sqs": a name or queue ARN) to `topic`.

    As SNS's Subscribe, subscribing the same endpoint again returns its subscription; with other
    settings it is a ConfigError. `declared_in` marks a subscription lambeam.toml made (which
    of its tables owns it, so that `apply` prunes only its own).
    """
    name = topic_name(topic)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol {protocol!r} is not supported; use one of {PROTOCOLS}")
    if protocol == "lambda":
        endpoint, qualifier = split_function_name(endpoint, qualifier)
    else:
        if qualifier is not None:
            raise ConfigError("a qualifier applies to a function subscription only")
        endpoint = _queue_name(endpoint)
    attributes: dict[str, Any] = {"RawMessageDelivery": "true" if raw_message_delivery else "false"}
    if protocol == "lambda" and raw_message_delivery:
        raise ConfigError("RawMessageDelivery applies to a queue subscription only")
    if qualifier is not None:
        attributes["Qualifier"] = qualifier
    if declared_in is not None:
        attributes["DeclaredIn"] = declared_in
    now = utcnow()
    with db.session() as session:
        if session.get(TopicRow, name) is None:
            raise _no_topic(name)
        _check_endpoint(session, protocol, endpoint)
        same = session.scalars(
            select(SubscriptionRow).where(
                SubscriptionRow.topic == name,
                SubscriptionRow.protocol == protocol,
                SubscriptionRow.endpoint == endpoint,
            )
        ).all()
        for row in same:
            if row.attributes.get("Qualifier") != qualifier:
                continue
            mine = {k: v for k, v in row.attributes.items() if k != "DeclaredIn"}
            if mine != {k: v for k, v in attributes.items() if k != "DeclaredIn"}:
                raise ConfigError(
                    f"{protocol} {endpoint!r} is already subscribed to topic {name!r} with other"
                    " settings; unsubscribe it first"
                )
            return subscription_of(row, region, account_id)
        row = SubscriptionRow(
            id=str(uuid.uuid4()),
            topic=name,
            protocol=protocol,
            endpoint=endpoint,
            attributes=attributes,
            origin=origin,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return subscription_of(row, region, account_id)


def unsubscribe(db: Database, subscription: str) -> None:
    """Delete a subscription by its id or ARN; SubscriptionNotFoundError when there is none."""
    key = subscription.rsplit(":", 1)[-1] if subscription.startswith("arn:") else subscription
    with db.session() as session:
        row = session.get(SubscriptionRow, key)
        if row is None:
            raise SubscriptionNotFoundError(f"no subscription {subscription!r}")
        session.delete(row)


def list_subscriptions(
    db: Database,
    topic: str | None = None,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> list[Subscription]:
    """Every subscription, or `topic`'s (TopicNotFoundError when it does not exist)."""
    with db.session() as session:
        query = select(SubscriptionRow).order_by(SubscriptionRow.topic, SubscriptionRow.created_at)
        if topic is not None:
            name = topic_name(topic)
            if session.get(TopicRow, name) is None:
                raise _no_topic(name)
            query = query.where(SubscriptionRow.topic == name)
        return [subscription_of(row, region, account_id) for row in session.scalars(query)]


def _queue_name(name_or_arn: str) -> str:
    try:
        name = queue_name_from_arn(name_or_arn)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not name:
        raise ConfigError("a queue subscription needs the queue's name or ARN")
    return name


def _check_endpoint(session: Any, protocol: str, endpoint: str) -> None:
    if protocol == "lambda":
        if session.get(FunctionRow, endpoint) is None:
            raise FunctionNotFoundError(f"no function {endpoint!r} to subscribe")
    elif session.get(QueueRow, endpoint) is None:
        raise QueueNotFoundError(f"no queue {endpoint!r} to subscribe; create it first")


def subscription_of(row: SubscriptionRow, region: str, account_id: str) -> Subscription:
    """The record of a subscription row, its ARNs in `region` and `account_id`."""
    arn = topic_arn(row.topic, region, account_id)
    qualifier = row.attributes.get("Qualifier")
    if row.protocol == "lambda":
        endpoint_arn = function_arn(row.endpoint, region, account_id, qualifier)
    else:
        endpoint_arn = f"arn:aws:sqs:{region}:{account_id}:{row.endpoint}"
    return Subscription(
        id=row.id,
        arn=f"{arn}:{row.id}",
        topic=row.topic,
        topic_arn=arn,
        protocol=row.protocol,
        endpoint=row.endpoint,
        endpoint_arn=endpoint_arn,
        qualifier=qualifier,
        raw_message_delivery=row.attributes.get("RawMessageDelivery") == "true",
        origin=row.origin,
        attributes=dict(row.attributes),
    )


def _no_topic(name: str) -> TopicNotFoundError:
    return TopicNotFoundError(f"no topic {name!r}; create it with lambeam topics create {name}")
