"""Micro-batching: requests that arrive together are handed on as one batch.

    batcher = MicroBatcher(run_batch, max_batch_size=64, max_wait_ms=0, max_in_flight=2)
    answer = await batcher.submit(request_body)     # this request's own answer

`run_batch` takes a list of items and returns one outcome per item, in order (an exception
instance as an outcome fails that item's caller alone). At most `max_in_flight` batches run at
once (a model function runs each on one of its instances); whatever queues while they run forms
the next batch. That is what makes batching pay: under load, one predict answers many requests,
while a lone request at low load is sent at once (with `max_wait_ms` 0) and waits for nothing.

With `max_wait_ms` 0, under load a batch also takes no more than its share of the requests
recently open at once (sent and not yet answered): that peak divided among the batches in flight
and the one whose answers the caller is writing. Clients that wait for an answer before they ask
again fall into step with the batches, and one batch of all of them would leave the instance
idle while the gateway answers and reads requests, and the gateway idle while the instance
predicts. Shares keep both busy: as a batch comes back, the next one is started before its
callers are answered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["PEAK_WINDOW_S", "MicroBatcher"]

# How long a peak of requests open at once counts when batches are sized: load that falls is
# followed within this, load that rises at once.
PEAK_WINDOW_S = 0.5

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class MicroBatcher(Generic[Item, Outcome]):
    """Groups concurrent submissions (up to `max_batch_size` each) into calls of `run_batch`.

    `max_wait_ms` is how long a batch waits for more items once its first is in and a batch slot
    is free; 0 sends it at once. Use it from one event loop.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Item]], Awaitable[Sequence[Outcome | BaseException]]],
        max_batch_size: int = 64,
        max_wait_ms: float = 0.0,
        max_in_flight: int = 1,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, not {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be 0 or more, not {max_wait_ms}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self.max_in_flight = max_in_flight
        self._queue: deque[tuple[Item, asyncio.Future[Outcome]]] = deque()
        # Bind to the running loop on first use (Python >= 3.10), not here.
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._running: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._aborted = False  # aclose(): no batch starts any more
        self._open = 0  # submitted and not yet answered
        self._peak = 0  # the most open at once, since `_peak_at`
        self._peak_at = 0.0

    async def submit(self, item: Item) -> Outcome:
        """`item`'s outcome, from a batch with whatever else arrives meanwhile."""
        if self._closed:
            raise RuntimeError("the micro-batcher is closed")
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._dispatch(), name="lambeam-micro-batcher")
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.append((item, future))
        self._arrived.set()
        self._open += 1
        now = loop.time()
        if self._open >= self._peak or now - self._peak_at > PEAK_WINDOW_S:
            self._peak, self._peak_at = self._open, now
        try:
            return await future
        finally:
            self._open -= 1

    def batch_limit(self) -> int:
        """How many requests the next batch may take: `max_batch_size`; with `max_wait_ms` 0 no
        more than its share of the recent peak of open requests (see the module's docstring).

        A batch that may wait for more (`max_wait_ms` > 0) waits to fill `max_batch_size`.
        """
        if self.max_wait_ms > 0:
            return self.max_batch_size
        share = -(-self._peak // (self.max_in_flight + 1))
        return max(1, min(self.max_batch_size, share))

    def retire(self) -> None:
        """Take nothing more, but finish what is queued and running (its replacement is in)."""
        self._closed = True
        self._arrived.set()  # wake the dispatcher, which ends once the queue is empty

    async def aclose(self) -> None:
        """Stop taking items; queued and running ones fail with RuntimeError."""
        self._closed = self._aborted = True
        tasks = [t for t in (self._worker, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while self._queue:
            _fail(self._queue.popleft()[1], RuntimeError("the micro-batcher is closed"))

    async def __aenter__(self) -> MicroBatcher[Item, Outcome]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while await self._wait_for_items():
            await self._slots.acquire()
            if self.max_wait_ms > 0:
                deadline = loop.time() + self.max_wait_ms / 1000
                while len(self._queue) < self.max_batch_size:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), remaining)
                    except TimeoutError:
                        break
            batch = self._take()
            if not batch:
                self._slots.release()
                continue
            self._start(batch)

    async def _wait_for_items(self) -> bool:
        """True once something is queued; False when retired with nothing left to send."""
        while not self._queue:
            if self._closed:
                return False
            self._arrived.clear()
            await self._arrived.wait()
        return True

    def _start(self, batch: list[tuple[Item, asyncio.Future[Outcome]]]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        # A task cancelled before its first step never runs `_run`: its callers are failed here
        # (a no-op for every caller `_run` answered).
        task.add_done_callback(
            lambda _: _fail_all(batch, RuntimeError("the micro-batcher is closed"))
        )

    def _pass_slot(self) -> None:
        """Start the next batch on a finished batch's slot if one is ready, else free the slot.

        Called before the finished batch's callers are answered, so the next batch's first
        step (up to handing it to an instance) runs ahead of their answers in the event loop.
        """
        wanted = 1 if self.max_wait_ms == 0 else self.max_batch_size
        ready = not self._aborted and len(self._queue) >= wanted
        batch = self._take() if ready else []
        if batch:
            self._start(batch)
        else:
            self._slots.release()

    def _take(self) -> list[tuple[Item, asyncio.Future[Outcome]]]:
        batch: list[tuple[Item, asyncio.Future[Outcome]]] = []
        limit = self.batch_limit()
        while self._queue and len(batch) < limit:
            item, future = self._queue.popleft()
            if not future.done():  # skip callers that gave up (cancelled) while queued
                batch.append((item, future))
        return batch

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Outcome]]]) -> None:
        try:
            outcomes = await self.run_batch([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} came back with {len(outcomes)}")
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            self._pass_slot()
            _fail_all(batch, exc)
        except BaseException:  # cancelled by aclose(), or anything else that is no outcome
            self._slots.release()
            _fail_all(batch, RuntimeError("the micro-batcher is closed"))
            raise
        else:
            self._pass_slot()
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    _fail(future, outcome)
                elif not future.done():
                    future.set_result(outcome)


def _fail_all(batch: list[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, future in batch:
        _fail(future, exc)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
