"""Micro-batching: requests that arrive together run as one predict.

    batcher = MicroBatcher(lambda frame: runner.predict(frame, probabilities=True), 64, 2)
    predictions = await batcher.predict(parsed.frame)      # only this request's rows

One batch runs at a time, in a worker thread, so the event loop stays free to take requests while
the model works; whatever queued meanwhile forms the next batch. That is what makes batching pay:
under load a single-threaded model answers many requests per predict instead of one.

When a batch of several requests fails, each request is run again on its own, so only the
request that cannot be predicted gets the error and the others get their answers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import pandas as pd

from lambeam.inference.predictions import Predictions

__all__ = ["MicroBatcher"]


@dataclass
class _Pending:
    frame: pd.DataFrame
    future: asyncio.Future[Predictions] = field(repr=False)

    @property
    def rows(self) -> int:
        return len(self.frame)


class MicroBatcher:
    """Concatenates concurrent requests' frames (up to `max_batch_size` rows) into one predict.

    `run_batch` takes a frame and returns one prediction per row, in order. `max_wait_ms` is how
    long a batch waits for more rows once its first request is in; 0 runs as soon as the previous
    batch is done. A request larger than `max_batch_size` runs alone. Use it from one event loop.
    """

    def __init__(
        self,
        run_batch: Callable[[pd.DataFrame], Predictions],
        max_batch_size: int = 64,
        max_wait_ms: float = 0.0,
        *,
        executor: Executor | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, not {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be 0 or more, not {max_wait_ms}")
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self._executor = executor
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        # Binds to the running loop on first use (Python >= 3.10), not here.
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    async def predict(self, frame: pd.DataFrame) -> Predictions:
        """This frame's predictions, computed in a batch with whatever else arrives meanwhile."""
        if self._closed:
            raise RuntimeError("the micro-batcher is closed")
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._serve(), name="lambeam-micro-batcher")
        pending = _Pending(frame, loop.create_future())
        self._queue.append(pending)
        self._queued_rows += pending.rows
        self._arrived.set()
        return await pending.future

    async def aclose(self) -> None:
        """Stop taking requests; requests still queued fail with RuntimeError."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("the micro-batcher is closed"))
        self._queued_rows = 0

    async def __aenter__(self) -> MicroBatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        arrived = self._arrived
        while True:
            while not self._queue:
                arrived.clear()
                await arrived.wait()
            if self.max_wait_ms > 0:
                deadline = loop.time() + self.max_wait_ms / 1000
                while self._queued_rows < self.max_batch_size:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    arrived.clear()
                    try:
                        await asyncio.wait_for(arrived.wait(), remaining)
                    except TimeoutError:
                        break
            batch = self._take()
            try:
                await self._run(batch)
            except asyncio.CancelledError:
                for pending in batch:
                    _fail(pending, RuntimeError("the micro-batcher is closed"))
                raise

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        while self._queue:
            pending = self._queue[0]
            if pending.future.done():  # the caller gave up (cancelled) while it waited
                self._queue.popleft()
                self._queued_rows -= pending.rows
                continue
            if batch and rows + pending.rows > self.max_batch_size:
                break
            self._queue.popleft()
            self._queued_rows -= pending.rows
            batch.append(pending)
            rows += pending.rows
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        try:
            if len(batch) == 1:
                frame = batch[0].frame
            else:
                frame = pd.concat([pending.frame for pending in batch], ignore_index=True)
            result = await self._in_thread(frame)
        except Exception as exc:  # noqa: BLE001 - handed to the callers, never lost
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            # One bad request must not fail its neighbours: run each alone.
            for pending in batch:
                try:
                    _answer(pending, await self._in_thread(pending.frame))
                except Exception as single:  # noqa: BLE001
                    _fail(pending, single)
            return
        start = 0
        for pending in batch:
            _answer(pending, result.rows(start, start + pending.rows))
            start += pending.rows

    async def _in_thread(self, frame: pd.DataFrame) -> Predictions:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, self.run_batch, frame)
        if len(result) != len(frame):
            raise RuntimeError(
                f"the model returned {len(result)} predictions for {len(frame)} rows"
            )
        return result


def _answer(pending: _Pending, predictions: Predictions) -> None:
    if not pending.future.done():
        pending.future.set_result(predictions)


def _fail(pending: _Pending, exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
