"""Settling the async dispatcher's finished attempts, a group at a time.

    woken = settle(queue, settlements, deliver)     # in a worker thread (GroupCommit's)

A group's destination records are sent first (at least once: a crash before the rest sends them
again with the event's next run). Then one transaction deletes the finished messages and writes
every `invocations` row of the group; then the retried messages go back to the queue, visible
after their delay. A row is written only by the holder of its message, so that a receiver whose
lease lapsed (the event now runs elsewhere) writes nothing over the newer attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update

from lambeam.events.invoke_config import Destination
from lambeam.events.queue import MessageQueue, Receipt
from lambeam.storage.schema import InvocationRow, QueueMessageRow

__all__ = ["FINAL_STATUSES", "STATUSES", "Settlement", "settle", "write_rows"]

_log = logging.getLogger(__name__)

_INVOCATIONS: Table = InvocationRow.__table__  # type: ignore[assignment]
_MESSAGES: Table = QueueMessageRow.__table__  # type: ignore[assignment]

# An `invocations` row's status: accepted, waiting for a retry after a function error, or done.
STATUSES = ("queued", "retrying", "succeeded", "failed")
FINAL_STATUSES = ("succeeded", "failed")


@dataclass
class Settlement:
    """What to write when an attempt is done: the row's new values (None: leave the row), and
    either the message's delete (`final`) or its return to the queue after `delay_s`; `sends`
    are (destination, record or message) pairs to deliver first."""

    receipt: Receipt
    final: bool
    delay_s: float = 0.0
    row: dict[str, Any] | None = None
    sends: list[tuple[Destination, Any]] = field(default_factory=list)


def settle(
    queue: MessageQueue,
    settlements: Sequence[Settlement],
    deliver: Callable[[Destination, Any], str],
) -> set[str]:
    """Write `settlements` (see the module's docstring); the queues `deliver` sent to."""
    woken: set[str] = set()
    for settlement in settlements:
        for destination, body in settlement.sends:
            try:
                woken.add(deliver(destination, body))
            except Exception:  # noqa: BLE001 - a destination that is gone loses its record
                _log.exception("async event: delivery to %s failed", destination)
    finals = [s.receipt for s in settlements if s.final]
    queue.delete(finals, also=lambda connection: write_rows(connection, settlements))
    by_delay: dict[float, list[Receipt]] = {}
    for settlement in settlements:
        if not settlement.final:
            by_delay.setdefault(settlement.delay_s, []).append(settlement.receipt)
    for delay, receipts in by_delay.items():
        queue.change_visibility(receipts, delay)
    return woken


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
