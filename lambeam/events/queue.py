"""The durable queue: messages with leases in the metadata database, SQS's semantics.

    queue = MessageQueue(project.db)
    ids = queue.send("orders", [Outgoing(b'{"id": 1}')])
    for message in queue.receive("orders", max_messages=10, visibility_s=30):
        ...
        queue.delete([message.receipt])      # False: the lease lapsed, someone else holds it

Delivery is at least once: a received message is leased (hidden) for its visibility timeout and
comes back when the lease lapses without a delete. Every receive draws a fresh lease token, and
every settle (delete, change visibility, requeue, dead-letter) names it: a consumer whose lease
lapsed cannot settle a message that another consumer now holds. A message received more than
`max_receive_count` times moves to the dead-letter queue instead of being handed out again (SQS's
redrive policy).

One class for both databases: the claim is the only place they differ. On PostgreSQL it selects
`FOR UPDATE SKIP LOCKED`, so that concurrent consumers take different rows without waiting; on
SQLite the whole claim runs in a `BEGIN IMMEDIATE` transaction (`Database.writing`), which holds
the one write lock from the select on, so that two consumers never lease the same row.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, delete, func, select, update

from lambeam.storage import Database
from lambeam.storage.schema import QueueMessageRow

__all__ = [
    "DeadLetter",
    "Message",
    "MessageQueue",
    "Outgoing",
    "QueueCounts",
    "Receipt",
]

_MESSAGES: Table = QueueMessageRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Receipt:
    """What settles a received message: its id and the lease token of that receive."""

    message_id: str
    lease: str


@dataclass(frozen=True)
class Outgoing:
    """A message to send: its body, opaque attributes, a delay, and optionally its own id."""

    body: bytes
    attributes: dict[str, Any] = field(default_factory=dict)
    delay_s: float = 0.0
    id: str | None = None


@dataclass(frozen=True)
class Message:
    """A received message, leased to its receiver until `visible_at` (epoch seconds)."""

    id: str
    queue: str
    body: bytes
    attributes: dict[str, Any]
    sent_at: float
    receive_count: int
    first_received_at: float
    visible_at: float
    lease: str

    @property
    def receipt(self) -> Receipt:
        return Receipt(self.id, self.lease)


@dataclass(frozen=True)
class DeadLetter:
    """A redrive policy: past `max_receive_count` receives, a message moves to `queue`."""

    queue: str
    max_receive_count: int


@dataclass(frozen=True)
class QueueCounts:
    """SQS's ApproximateNumberOfMessages (`visible`), …NotVisible (`in_flight`), …Delayed."""

    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


class MessageQueue:
    """Every queue's messages in `db`'s `queue_messages` table (see the module's docstring).

    `clock` gives epoch seconds (inject one to test visibility without waiting). Methods are
    blocking; async callers run them in a thread.
    """

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._skip_locked = db.dialect == "postgresql"

    def send(
        self,
        queue: str,
        messages: Sequence[Outgoing],
        *,
        also: Callable[[Connection], None] | None = None,
    ) -> list[str]:
        """Enqueue `messages` in one transaction (with `also`'s writes); their ids, in order."""
        return self.send_many([(queue, m) for m in messages], also=also)

    def send_many(
        self,
        messages: Sequence[tuple[str, Outgoing]],
        *,
        also: Callable[[Connection], None] | None = None,
    ) -> list[str]:
        """Enqueue messages to several queues in one transaction; their ids, in order."""
        now = self.clock()
        ids = [m.id or str(uuid.uuid4()) for _, m in messages]
        rows = [
            {
                "id": message_id,
                "queue": queue,
                "body": m.body,
                "attributes": m.attributes,
                "sent_at": now,
                "visible_at": now + max(0.0, m.delay_s),
                "receive_count": 0,
                "first_received_at": None,
                "lease": None,
            }
            for message_id, (queue, m) in zip(ids, messages, strict=True)
        ]
        with self.db.writing() as connection:
            if rows:
                connection.execute(_MESSAGES.insert(), rows)
            if also is not None:
                also(connection)
        return ids

    def receive(
        self,
        queue: str,
        max_messages: int,
        visibility_s: float,
        *,
        dead_letter: DeadLetter | None = None,
    ) -> list[Message]:
        """Lease up to `max_messages` visible messages for `visibility_s` seconds, oldest first.

        A message already received `dead_letter.max_receive_count` times moves to the
        dead-letter queue instead (visible there at once; its receive count goes with it: SQS's
        ApproximateReceiveCount counts receives across all queues).
        """
        now = self.clock()
        lease = secrets.token_hex(16)
        until = now + visibility_s
        with self.db.writing() as connection:
            claim = (
                select(_MESSAGES)
                .where(_MESSAGES.c.queue == queue, _MESSAGES.c.visible_at <= now)
                .order_by(_MESSAGES.c.visible_at)
                .limit(max_messages)
            )
            if self._skip_locked:
                claim = claim.with_for_update(skip_locked=True)
            rows = connection.execute(claim).mappings().all()
            dead = [
                r["id"]
                for r in rows
                if dead_letter is not None and r["receive_count"] >= dead_letter.max_receive_count
            ]
            if dead and dead_letter is not None:
                connection.execute(
                    update(_MESSAGES)
                    .where(_MESSAGES.c.id.in_(dead))
                    .values(queue=dead_letter.queue, visible_at=now, lease=None)
                )
            taken = [r for r in rows if r["id"] not in set(dead)]
            if taken:
                connection.execute(
                    update(_MESSAGES)
                    .where(_MESSAGES.c.id.in_([r["id"] for r in taken]))
                    .values(
                        lease=lease,
                        visible_at=until,
                        receive_count=_MESSAGES.c.receive_count + 1,
                        first_received_at=func.coalesce(_MESSAGES.c.first_received_at, now),
                    )
                )
        return [
            Message(
                id=r["id"],
                queue=queue,
                body=bytes(r["body"]),
                attributes=r["attributes"],
                sent_at=r["sent_at"],
                receive_count=r["receive_count"] + 1,
                first_received_at=r["first_received_at"] or now,
                visible_at=until,
                lease=lease,
            )
            for r in taken
        ]

    def delete(
        self,
        receipts: Iterable[Receipt],
        *,
        also: Callable[[Connection], None] | None = None,
    ) -> list[bool]:
        """Delete received messages (with `also`'s writes, in one transaction); for each, whether
        it was deleted (False: its lease lapsed and it was received again, or it is gone)."""
        receipts = list(receipts)
        with self.db.writing() as connection:
            gone = self._settle(connection, receipts, None)
            if also is not None:
                also(connection)
        return [r.message_id in gone for r in receipts]

    def change_visibility(self, receipts: Iterable[Receipt], visibility_s: float) -> list[bool]:
        """Make received messages visible again `visibility_s` seconds from now (0: at once;
        SQS's ChangeMessageVisibility, and a requeue with delay); the lease stays theirs."""
        receipts = list(receipts)
        with self.db.writing() as connection:
            moved = self._settle(connection, receipts, self.clock() + max(0.0, visibility_s))
        return [r.message_id in moved for r in receipts]

    def release(self, receipts: Iterable[Receipt], delay_s: float = 0.0) -> list[bool]:
        """Give received messages back, visible again after `delay_s`; their lease ends."""
        receipts = list(receipts)
        visible_at = self.clock() + max(0.0, delay_s)
        with self.db.writing() as connection:
            back = self._settle(connection, receipts, visible_at, end_lease=True)
        return [r.message_id in back for r in receipts]

    def dead_letter(
        self,
        receipts: Iterable[Receipt],
        queue: str,
        *,
        also: Callable[[Connection], None] | None = None,
    ) -> list[bool]:
        """Move received messages to `queue` (a dead-letter queue), visible there at once, with
        their receive counts."""
        receipts = list(receipts)
        now = self.clock()
        moved: set[str] = set()
        with self.db.writing() as connection:
            for lease, ids in _by_lease(receipts).items():
                result = connection.execute(
                    update(_MESSAGES)
                    .where(_MESSAGES.c.id.in_(ids), _MESSAGES.c.lease == lease)
                    .values(queue=queue, visible_at=now, lease=None)
                    .returning(_MESSAGES.c.id)
                )
                moved.update(result.scalars())
            if also is not None:
                also(connection)
        return [r.message_id in moved for r in receipts]

    def counts(self, queue: str) -> QueueCounts:
        """How many of `queue`'s messages are visible, in flight (leased) and delayed."""
        now = self.clock()
        leased = _MESSAGES.c.lease.is_not(None)
        waiting = _MESSAGES.c.visible_at > now
        with self.db.engine.connect() as connection:
            row = connection.execute(
                select(
                    func.count().filter(~waiting),
                    func.count().filter(waiting & leased),
                    func.count().filter(waiting & ~leased),
                ).where(_MESSAGES.c.queue == queue)
            ).one()
        return QueueCounts(int(row[0]), int(row[1]), int(row[2]))

    def peek(self, queue: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Up to `limit` of `queue`'s messages without receiving them, oldest first."""
        with self.db.engine.connect() as connection:
            rows = connection.execute(
                select(_MESSAGES)
                .where(_MESSAGES.c.queue == queue)
                .order_by(_MESSAGES.c.sent_at, _MESSAGES.c.id)
                .limit(limit)
                .offset(offset)
            ).mappings()
            return [dict(row) | {"body": bytes(row["body"])} for row in rows]

    def take(self, queue: str, message_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Remove the named messages from `queue` whatever their state; what was removed (a
        replay from a dead-letter queue, an operator's delete)."""
        ids = list(message_ids)
        with self.db.writing() as connection:
            rows = connection.execute(
                delete(_MESSAGES)
                .where(_MESSAGES.c.queue == queue, _MESSAGES.c.id.in_(ids))
                .returning(*_MESSAGES.c)
            ).mappings()
            return [dict(row) | {"body": bytes(row["body"])} for row in rows]

    def purge(self, queue: str) -> int:
        """Delete every message of `queue`; how many."""
        with self.db.writing() as connection:
            return connection.execute(delete(_MESSAGES).where(_MESSAGES.c.queue == queue)).rowcount

    def expire(self, queue: str, retention_s: float) -> int:
        """Delete `queue`'s messages sent more than `retention_s` ago (SQS's retention period)."""
        before = self.clock() - retention_s
        with self.db.writing() as connection:
            return connection.execute(
                delete(_MESSAGES).where(_MESSAGES.c.queue == queue, _MESSAGES.c.sent_at < before)
            ).rowcount

    def _settle(
        self,
        connection: Connection,
        receipts: Sequence[Receipt],
        visible_at: float | None,
        end_lease: bool = False,
    ) -> set[str]:
        """Delete (`visible_at` None) or move the messages still held by their receipts; the ids
        that were. One statement per lease: a received batch shares one."""
        done: set[str] = set()
        for lease, ids in _by_lease(receipts).items():
            held = (_MESSAGES.c.id.in_(ids), _MESSAGES.c.lease == lease)
            if visible_at is None:
                statement: Any = delete(_MESSAGES).where(*held)
            else:
                values: dict[str, Any] = {"visible_at": visible_at}
                if end_lease:
                    values["lease"] = None
                statement = update(_MESSAGES).where(*held).values(**values)
            done.update(connection.execute(statement.returning(_MESSAGES.c.id)).scalars())
        return done


def _by_lease(receipts: Iterable[Receipt]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for receipt in receipts:
        groups.setdefault(receipt.lease, []).append(receipt.message_id)
    return groups
