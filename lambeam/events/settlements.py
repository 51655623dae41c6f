"""Settling the async dispatcher's finished attempts, a group at a time.

    settled = settle(queue, settlements, deliver)   # in a worker thread
    settled.woken, settled.again                    # queues sent to; settlements to retry

A group's destination records are sent first (at least once: a crash before the rest sends them
again with the event's next run). A destination that refuses its record for good (a deleted
queue or topic, a message it would never take: `permanent`) is noted in the row's history, and
a failed event then goes to the function's dead-letter queue instead (`fallback`); any other
error (the database, say) leaves the settlement unsettled, in `again`, to be retried with the
deliveries it still owes. Then one transaction deletes the finished messages and writes every
`invocations` row of the group; then the retried messages go back to the queue, visible after
their delay. A row is written only by the holder of its message, so that a receiver whose lease
lapsed (the event now runs elsewhere) writes nothing over the newer attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update

from lambeam.errors import LambeamError
from lambeam.events.invoke_config import Destination
from lambeam.events.queue import MessageQueue, Receipt
from lambeam.storage.schema import InvocationRow, QueueMessageRow

__all__ = [
    "FINAL_STATUSES",
    "STATUSES",
    "Delivery",
    "Settled",
    "Settlement",
    "permanent",
    "settle",
    "write_rows",
]

_log = logging.getLogger(__name__)

_INVOCATIONS: Table = InvocationRow.__table__  # type: ignore[assignment]
_MESSAGES: Table = QueueMessageRow.__table__  # type: ignore[assignment]

# An `invocations` row's status: accepted, waiting for a retry after a function error, or done.
STATUSES = ("queued", "retrying", "succeeded", "failed")
FINAL_STATUSES = ("succeeded", "failed")


@dataclass(frozen=True)
class Delivery:
    """A record (or a ready message) for a destination; `arn` names it in the row."""

    destination: Destination
    body: Any
    arn: str


@dataclass(eq=False)
class Settlement:
    """What to write when an attempt is done: the row's new values (None: leave the row), and
    either the message's delete (`final`) or its return to the queue after `delay_s`; `sends`
    are the deliveries to make first (each dropped once made), `fallback` the dead-letter
    delivery of a failed event whose destination refuses its record; `tries` counts settles
    that had to be retried, `deadline` (epoch seconds) is when its lease runs out."""

    receipt: Receipt
    final: bool
    delay_s: float = 0.0
    row: dict[str, Any] | None = None
    sends: list[Delivery] = field(default_factory=list)
    fallback: Delivery | None = None
    tries: int = 0
    deadline: float = float("inf")


@dataclass
class Settled:
    """What a settle did: the queues it sent to (to wake their consumers), and the
    settlements it could not settle now (a transient error), to be retried."""

    woken: set[str] = field(default_factory=set)
    again: list[Settlement] = field(default_factory=list)


def permanent(error: BaseException) -> bool:
    """Whether `error` is a refusal that trying again cannot change: a LambeamError with a 4xx
    status (a throttle, 429, is the exception: it passes)."""
    return (
        isinstance(error, LambeamError)
        and 400 <= error.http_status < 500
        and error.http_status != 429
    )


def settle(
    queue: MessageQueue,
    settlements: Sequence[Settlement],
    deliver: Callable[[Destination, Any], str],
) -> Settled:
    """Write `settlements` (see the module's docstring)."""
    settled = Settled()
    ready: list[Settlement] = []
    for settlement in settlements:
        try:
            _deliver_all(queue, settlement, deliver, settled.woken)
        except Exception:  # noqa: BLE001 - retried by the caller with what it still owes
            _log.warning(
                "async event %s: a delivery failed; its settle is retried",
                settlement.receipt.message_id,
                exc_info=True,
            )
            settled.again.append(settlement)
        else:
            ready.append(settlement)
    finals = [s.receipt for s in ready if s.final]
    queue.delete(finals, also=lambda connection: write_rows(connection, ready))
    by_delay: dict[float, list[Receipt]] = {}
    for settlement in ready:
        if not settlement.final:
            by_delay.setdefault(settlement.delay_s, []).append(settlement.receipt)
    for delay, receipts in by_delay.items():
        queue.change_visibility(receipts, delay)
    return settled


def _deliver_all(
    queue: MessageQueue,
    settlement: Settlement,
    deliver: Callable[[Destination, Any], str],
    woken: set[str],
) -> None:
    """Make `settlement`'s deliveries; a permanent refusal is noted in its row (and sends a
    failed event to its fallback); any other error is raised, with the deliveries still owed
    left in `sends`."""
    while settlement.sends:
        delivery = settlement.sends[0]
        try:
            woken.add(deliver(delivery.destination, delivery.body))
        except Exception as exc:
            if not permanent(exc):
                raise
            _log.warning("async event %s: %s refused its record: %s",
                         settlement.receipt.message_id, delivery.arn, exc)  # fmt: skip
            _note(queue, settlement, delivery, exc)
            fallback, settlement.fallback = settlement.fallback, None
            if fallback is not None and fallback.destination != delivery.destination:
                settlement.sends[1:1] = [fallback]
        else:
            if settlement.row is not None:  # the row names where its record went
                settlement.row["destination"] = delivery.arn
        del settlement.sends[0]


def _note(
    queue: MessageQueue, settlement: Settlement, delivery: Delivery, error: Exception
) -> None:
    """Record in the row that `delivery` was refused: a history entry, and no destination."""
    if settlement.row is None:
        return
    settlement.row["destination"] = None
    settlement.row["history"] = [
        *settlement.row["history"],
        {
            "status": "destination_error",
            "at": queue.clock(),
            "destination": delivery.arn,
            "error_type": getattr(error, "lambda_error", None) or type(error).__name__,
            "error_message": str(error),
        },
    ]


def write_rows(connection: Connection, settlements: Sequence[Settlement]) -> None:
    """The `invocations` rows of a settled group, in the transaction that deleted its finished
    messages. A row is written only by the holder of its message: a finished one when its
    message is gone and the row is not final yet; a retried one while its lease is still held
    (a receiver whose lease lapsed writes nothing over the one that now holds it)."""
    final = [_bound(s) for s in settlements if s.final and s.row is not None]
    again = [_bound(s) for s in settlements if not s.final and s.row is not None]
    message = select(_MESSAGES.c.id).where(_MESSAGES.c.id == bindparam("b_id"))
    values: dict[str, Any] = {name: bindparam(f"b_{name}") for name in _ROW_COLUMNS}
    if final:
        connection.execute(
            update(_INVOCATIONS)
            .where(
                _INVOCATIONS.c.request_id == bindparam("b_id"),
                *(_INVOCATIONS.c.status != status for status in FINAL_STATUSES),
                ~message.exists(),
            )
            .values(**values),
            final,
        )
    if again:
        held = message.where(_MESSAGES.c.lease == bindparam("b_lease"))
        connection.execute(
            update(_INVOCATIONS)
            .where(_INVOCATIONS.c.request_id == bindparam("b_id"), held.exists())
            .values(**values),
            again,
        )


_ROW_COLUMNS = (
    "status",
    "attempts",
    "updated_at",
    "executed_version",
    "error_type",
    "result",
    "history",
    "destination",
)


def _bound(settlement: Settlement) -> dict[str, Any]:
    assert settlement.row is not None  # filtered by the caller
    bound = {f"b_{name}": settlement.row[name] for name in _ROW_COLUMNS}
    bound["b_id"] = settlement.receipt.message_id
    bound["b_lease"] = settlement.receipt.lease
    return bound
