"""Group commit: concurrent writers' items written together, in one transaction per group.

    accepts = GroupCommit(lambda items: queue.send("q", items))
    await accepts.submit(Outgoing(b"..."))      # returns once its group has committed

A durable accept must be committed before its caller is answered; one transaction per accept
would cap a server at the database's commits per second (a few hundred with a synced SQLite
WAL). Items that arrive while a group commits form the next group, so that under load each
commit carries many items and alone a single item waits for nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

_log = logging.getLogger(__name__)

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Gathers items from concurrent `submit` calls and writes them with `flush`, a group at a
    time, in a worker thread. `flush` writes a group in one transaction or raises; a failed
    group is written again one item at a time, so that one bad item fails only its caller."""

    def __init__(self, flush: Callable[[Sequence[T]], None], *, max_group: int = 500) -> None:
        self._flush = flush
        self._max_group = max_group
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.waiting = 0  # items submitted and not yet written (or failed)

    async def submit(self, item: T) -> None:
        """Write `item` with the next group; returns once it is committed, or raises its error."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        self.waiting += 1
        done.add_done_callback(self._written)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await asyncio.shield(done)  # a caller that goes away does not undo its item

    def _written(self, _done: asyncio.Future[None]) -> None:
        self.waiting -= 1

    async def _write(self) -> None:
        while self._pending:
            group = self._pending[: self._max_group]
            del self._pending[: len(group)]
            try:
                await asyncio.to_thread(self._flush, [item for item, _ in group])
            except Exception as exc:  # noqa: BLE001 - sorted out per item below
                if len(group) > 1:
                    # Each item is written alone now: slow, so it must never go unnoticed.
                    _log.warning(
                        "a group of %d failed (%s); writing them one by one", len(group), exc
                    )
                if len(group) == 1:
                    _settle(group[0][1], exc)
                    continue
                for item, done in group:
                    try:
                        await asyncio.to_thread(self._flush, [item])
                    except Exception as one:  # noqa: BLE001 - its own caller's error
                        _settle(done, one)
                    else:
                        _settle(done, None)
                continue
            for _, done in group:
                _settle(done, None)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
