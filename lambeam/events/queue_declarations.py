"""lambeam.toml's queues: `[queues.NAME]` tables, applied as SQS queues.

    [queues.orders]
    visibility_timeout = 60                 # seconds, 0-43200 (default 30)
    message_retention_period = 86400        # seconds, 60-1209600 (default 345600, 4 days)
    delay_seconds = 0                       # 0-900
    maximum_message_size = 1048576          # bytes, 1024-1048576
    receive_message_wait_time = 0           # 0-20 (a receive's default long poll)
    redrive = { dead_letter_queue = "orders-dlq", max_receive_count = 5 }

    [queues.orders-dlq]

Values follow SQS's rules (lambeam.events.queues); the dead-letter queue must be declared too,
or exist. A queue the API made is updated by its table but never removed by `apply`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lambeam.errors import ConfigError, QueueAttributeError
from lambeam.events.queues import check_attributes, check_queue_name, queue_arn
from lambeam.storage import utcnow
from lambeam.storage.schema import QueueMessageRow, QueueRow

__all__ = ["QueueDeclaration", "QueueDeclarations"]

_ORIGIN = "toml"
# lambeam.toml's key for each SQS attribute.
_ATTRIBUTES = {
    "visibility_timeout": "VisibilityTimeout",
    "message_retention_period": "MessageRetentionPeriod",
    "delay_seconds": "DelaySeconds",
    "maximum_message_size": "MaximumMessageSize",
    "receive_message_wait_time": "ReceiveMessageWaitTimeSeconds",
}
_REDRIVE_KEYS = {"dead_letter_queue", "max_receive_count"}


@dataclass  # not frozen: the Declaration protocol's `where` is a plain attribute
class QueueDeclaration:
    """One checked `[queues.NAME]` table: the queue's SQS attributes."""

    where: str
    name: str
    attributes: Mapping[str, str]
    dead_letter_queue: str | None

    def references(self) -> Sequence[tuple[str, str]]:
        return [("queue", self.dead_letter_queue)] if self.dead_letter_queue else []

    def apply(self, session: Session) -> str:
        row = session.get(QueueRow, self.name)
        wanted = dict(self.attributes)
        if row is None:
            now = utcnow()
            session.add(
                QueueRow(
                    name=self.name,
                    attributes=wanted,
                    origin=_ORIGIN,
                    created_at=now,
                    updated_at=now,
                )
            )
            return "created"
        if dict(row.attributes) == wanted:
            return "unchanged"
        row.attributes = wanted
        row.updated_at = utcnow()
        return "updated"


class QueueDeclarations:
    """The `[queues.NAME]` section (SECTIONS["queues"])."""

    name = "queues"

    def parse(self, owner: str, table: Mapping[str, Any], where: str) -> QueueDeclaration:
        try:
            check_queue_name(owner)
        except QueueAttributeError:
            raise ConfigError(
                f"{where}: a queue name is 1 to 80 letters, digits, hyphens or underscores"
            ) from None
        unknown = sorted(set(table) - set(_ATTRIBUTES) - {"redrive"})
        if unknown:
            raise ConfigError(
                f"{where} has unknown key {unknown[0]!r}; expected"
                f" {', '.join([*_ATTRIBUTES, 'redrive'])}"
            )
        given: dict[str, Any] = {_ATTRIBUTES[k]: v for k, v in table.items() if k in _ATTRIBUTES}
        dead_letter_queue = None
        redrive = table.get("redrive")
        if redrive is not None:
            if not isinstance(redrive, dict) or set(redrive) != _REDRIVE_KEYS:
                raise ConfigError(
                    f"{where} redrive must be a table with dead_letter_queue and"
                    ' max_receive_count, e.g. { dead_letter_queue = "orders-dlq",'
                    " max_receive_count = 5 }"
                )
            dead_letter_queue = redrive["dead_letter_queue"]
            if not isinstance(dead_letter_queue, str) or dead_letter_queue == owner:
                raise ConfigError(f"{where} redrive.dead_letter_queue must name another queue")
            given["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": queue_arn(dead_letter_queue),
                    "maxReceiveCount": redrive["max_receive_count"],
                }
            )
        try:
            attributes = check_attributes(given)  # the dead-letter queue: by references()
        except QueueAttributeError as exc:
            key = next((k for k, v in _ATTRIBUTES.items() if v == exc.attribute), "redrive")
            raise ConfigError(f"{where} {key}: {exc}") from None
        return QueueDeclaration(where, owner, attributes, dead_letter_queue)

    def prune(self, session: Session, kept: Sequence[Any]) -> list[str]:
        names = {declaration.name for declaration in kept}
        gone = [
            name
            for name in session.scalars(select(QueueRow.name).where(QueueRow.origin == _ORIGIN))
            if name not in names
        ]
        for name in gone:
            session.execute(delete(QueueMessageRow).where(QueueMessageRow.queue == name))
            session.execute(delete(QueueRow).where(QueueRow.name == name))
        return [f"queue {name}" for name in gone]
