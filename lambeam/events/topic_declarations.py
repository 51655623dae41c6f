"""lambeam.toml's topics and topic and object triggers.

    [topics.alerts]
    display_name = "Alerts"
    subscriptions = [{ function = "notify", qualifier = "prod" },
                     { queue = "audit", raw_message_delivery = true }]

    [functions.score]
    events = [{ topic = "alerts" },
              { objects = "s3://bucket/incoming/", suffix = ".csv" },
              { objects = "data/incoming" }]         # a folder, relative to the project

`[topics.NAME]` is SECTIONS["topics"]; `{ topic = ... }` (the function subscribed to the topic)
is KINDS["topic"]; `{ objects = ... }` (an object-created trigger) is KINDS["objects"]. A trigger
lambeam.toml declares takes its baseline at the server's first poll after `apply`: objects there
by then never fire. Each kind removes only what an earlier `apply` made of it (origin "toml";
subscriptions also say which table declared them).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError
from lambeam.events.notifications import topic_name
from lambeam.events.objects import normalized_location
from lambeam.storage.database import utcnow
from lambeam.storage.schema import ObjectTriggerRow, SubscriptionRow, TopicRow

__all__ = [
    "ObjectTriggerDeclaration",
    "ObjectTriggers",
    "TopicDeclaration",
    "TopicDeclarations",
    "TopicTrigger",
    "TopicTriggers",
]

_ORIGIN = "toml"


def _checked(where: str, table: Mapping[str, Any], keys: Sequence[str]) -> None:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ConfigError(f"{where} has unknown key {unknown[0]!r}; expected {', '.join(keys)}")


def _text(where: str, table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{where} {key} must be a non-empty string")
    return value


@dataclass
class _Subscribed:
    """One subscription lambeam.toml declares (`declared_in` names the table that owns it)."""

    topic: str
    protocol: str
    endpoint: str
    qualifier: str | None
    raw: bool
    declared_in: str

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return self.topic, self.protocol, self.endpoint, self.qualifier

    def apply(self, session: Session) -> str:
        rows = session.scalars(
            select(SubscriptionRow).where(
                SubscriptionRow.topic == self.topic,
                SubscriptionRow.protocol == self.protocol,
                SubscriptionRow.endpoint == self.endpoint,
            )
        ).all()
        attributes: dict[str, Any] = {
            "RawMessageDelivery": "true" if self.raw else "false",
            "DeclaredIn": self.declared_in,
        }
        if self.qualifier is not None:
            attributes["Qualifier"] = self.qualifier
        now = utcnow()
        for row in rows:
            if row.attributes.get("Qualifier") == self.qualifier:
                if row.attributes == attributes and row.origin == _ORIGIN:
                    return "unchanged"
                row.attributes, row.origin, row.updated_at = attributes, _ORIGIN, now
                return "updated"
        session.add(
            SubscriptionRow(
                id=str(uuid.uuid4()),
                topic=self.topic,
                protocol=self.protocol,
                endpoint=self.endpoint,
                attributes=attributes,
                origin=_ORIGIN,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        return "created"


def _prune_subscriptions(session: Session, declared_in: str, kept: set[Any]) -> list[str]:
    gone = []
    for row in session.scalars(select(SubscriptionRow).where(SubscriptionRow.origin == _ORIGIN)):
        if row.attributes.get("DeclaredIn") != declared_in:
            continue
        key = (row.topic, row.protocol, row.endpoint, row.attributes.get("Qualifier"))
        if key not in kept:
            gone.append(f"subscription of {row.protocol} {row.endpoint} to topic {row.topic}")
            session.delete(row)
    return gone


@dataclass
class TopicDeclaration:
    """One `[topics.NAME]` table: the topic and its subscriptions."""

    where: str
    name: str
    attributes: dict[str, Any]
    subscriptions: list[_Subscribed] = field(default_factory=list)

    def references(self) -> Sequence[tuple[str, str]]:
        """The functions and queues it subscribes."""
        return [
            ("function" if s.protocol == "lambda" else "queue", s.endpoint)
            for s in self.subscriptions
        ]

    def apply(self, session: Session) -> str:
        """Create the topic (or make it lambeam.toml's) and its subscriptions."""
        row = session.get(TopicRow, self.name)
        now = utcnow()
        action = "unchanged"
        if row is None:
            session.add(
                TopicRow(
                    name=self.name,
                    attributes=self.attributes,
                    origin=_ORIGIN,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.flush()
            action = "created"
        elif row.attributes != self.attributes or row.origin != _ORIGIN:
            row.attributes, row.origin, row.updated_at = self.attributes, _ORIGIN, now
            action = "updated"
        for subscription in self.subscriptions:
            if subscription.apply(session) != "unchanged" and action == "unchanged":
                action = "updated"
        return action


class TopicDeclarations:
    """The kind of `[topics.NAME]` tables (SECTIONS["topics"])."""

    name = "topics"

    def parse(self, owner: str, table: Mapping[str, Any], where: str) -> TopicDeclaration:
        """Check a topic's table: `display_name` and `subscriptions` (each `{ function =
        NAME, qualifier? }` or `{ queue = NAME, raw_message_delivery? }`)."""
        _checked(where, table, ("display_name", "subscriptions"))
        try:
            name = topic_name(owner)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        display = _text(where, table, "display_name")
        declaration = TopicDeclaration(where, name, {"DisplayName": display} if display else {})
        entries = table.get("subscriptions", [])
        if not isinstance(entries, list):
            raise ConfigError(
                f"{where} subscriptions must be a list of {{ function = ... }} tables"
            )
        for i, entry in enumerate(entries):
            at = f"{where} subscriptions[{i}]"
            if not isinstance(entry, dict) or ("function" in entry) == ("queue" in entry):
                raise ConfigError(f"{at} needs exactly one of function = ... or queue = ...")
            if "function" in entry:
                _checked(at, entry, ("function", "qualifier"))
                function = _text(at, entry, "function") or ""
                subscribed = _Subscribed(
                    name, "lambda", function, _text(at, entry, "qualifier"), False, "topics"
                )
            else:
                _checked(at, entry, ("queue", "raw_message_delivery"))
                raw = entry.get("raw_message_delivery", False)
                if not isinstance(raw, bool):
                    raise ConfigError(f"{at} raw_message_delivery must be true or false")
                queue = _text(at, entry, "queue") or ""
                subscribed = _Subscribed(name, "sqs", queue, None, raw, "topics")
            declaration.subscriptions.append(subscribed)
        return declaration

    def prune(self, session: Session, kept: Sequence[Any]) -> list[str]:
        """Delete topics and `[topics.*]` subscriptions an earlier apply made and that are no
        longer declared (a topic's other subscriptions go with it)."""
        names = {d.name for d in kept}
        gone = _prune_subscriptions(
            session, "topics", {s.key for d in kept for s in d.subscriptions}
        )
        for row in session.scalars(select(TopicRow).where(TopicRow.origin == _ORIGIN)):
            if row.name not in names:
                for sub in session.scalars(
                    select(SubscriptionRow).where(SubscriptionRow.topic == row.name)
                ):
                    session.delete(sub)
                session.delete(row)
                gone.append(f"topic {row.name}")
        return gone


@dataclass
class TopicTrigger:
    """`{ topic = NAME, qualifier? }`: the function subscribed to the topic."""

    where: str
    subscription: _Subscribed

    def references(self) -> Sequence[tuple[str, str]]:
        """The topic and the function."""
        return [("topic", self.subscription.topic), ("function", self.subscription.endpoint)]

    def apply(self, session: Session) -> str:
        """Subscribe the function (or make its subscription lambeam.toml's)."""
        return self.subscription.apply(session)


class TopicTriggers:
    """The kind of `{ topic = ... }` entries (KINDS["topic"])."""

    name = "topic"

    def parse(self, owner: str, table: Mapping[str, Any], where: str) -> TopicTrigger:
        """Check one entry: `topic` and an optional `qualifier`."""
        _checked(where, table, ("topic", "qualifier"))
        try:
            name = topic_name(_text(where, table, "topic") or "")
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        qualifier = _text(where, table, "qualifier")
        return TopicTrigger(where, _Subscribed(name, "lambda", owner, qualifier, False, "events"))

    def prune(self, session: Session, kept: Sequence[Any]) -> list[str]:
        """Unsubscribe what an earlier apply's `{ topic = ... }` entries made and are gone."""
        return _prune_subscriptions(session, "events", {t.subscription.key for t in kept})


@dataclass
class ObjectTriggerDeclaration:
    """`{ objects = LOCATION, suffix?, qualifier? }`: an object-created trigger."""

    where: str
    function: str
    location: str
    suffix: str
    qualifier: str | None

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return self.function, self.location, self.suffix, self.qualifier

    def references(self) -> Sequence[tuple[str, str]]:
        """The function."""
        return [("function", self.function)]

    def apply(self, session: Session) -> str:
        """Create the trigger (its baseline is taken at the server's first poll)."""
        for row in session.scalars(
            select(ObjectTriggerRow).where(ObjectTriggerRow.function == self.function)
        ):
            if (row.function, row.location, row.suffix, row.qualifier) == self.key:
                if row.origin == _ORIGIN:
                    return "unchanged"
                row.origin, row.updated_at = _ORIGIN, utcnow()
                return "updated"
        now = utcnow()
        session.add(
            ObjectTriggerRow(
                id=str(uuid.uuid4()),
                function=self.function,
                qualifier=self.qualifier,
                location=self.location,
                suffix=self.suffix,
                baseline_done=False,
                origin=_ORIGIN,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        return "created"


class ObjectTriggers:
    """The kind of `{ objects = ... }` entries (KINDS["objects"])."""

    name = "objects"

    def parse(self, owner: str, table: Mapping[str, Any], where: str) -> ObjectTriggerDeclaration:
        """Check one entry: `objects` (s3://bucket/prefix/ or a folder, relative to the
        project), `suffix` and `qualifier`."""
        _checked(where, table, ("objects", "suffix", "qualifier"))
        try:
            location = normalized_location(table.get("objects"), None)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        suffix = table.get("suffix", "")
        if not isinstance(suffix, str):
            raise ConfigError(f"{where} suffix must be a string, e.g. .csv")
        return ObjectTriggerDeclaration(
            where, owner, location, suffix, _text(where, table, "qualifier")
        )

    def prune(self, session: Session, kept: Sequence[Any]) -> list[str]:
        """Delete the object triggers an earlier apply made that are no longer declared."""
        keys = {d.key for d in kept}
        gone = []
        for row in session.scalars(
            select(ObjectTriggerRow).where(ObjectTriggerRow.origin == _ORIGIN)
        ):
            if (row.function, row.location, row.suffix, row.qualifier) not in keys:
                session.delete(row)  # its object_seen rows cascade
                gone.append(f"object trigger of {row.function} on {row.location}")
        return gone
