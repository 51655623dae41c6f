"""Micro-batching: concurrent submissions share a batch, and each caller gets its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from lambeam.invoke import MicroBatcher
from lambeam.invoke.batching import PEAK_WINDOW_S


class Doubler:
    """A batch runner that doubles numbers, fails on negatives alone, and records its batches."""

    def __init__(self, delay_s: float = 0.005) -> None:
        self.batches: list[list[int]] = []
        self.delay_s = delay_s
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay_s)  # the work, during which the next batch queues
        finally:
            self.running -= 1
        if 1000 in items:
            raise RuntimeError("1000 spoils the whole batch")
        return [ValueError(f"negative: {i}") if i < 0 else i * 2 for i in items]


def _run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_fifty_concurrent_submissions_each_get_their_own_outcome() -> None:
    run = Doubler()

    async def main() -> list[int]:
        async with MicroBatcher(run, max_batch_size=16) as batcher:
            return await asyncio.gather(*(batcher.submit(i) for i in range(50)))

    assert _run(main()) == [i * 2 for i in range(50)]
    sizes = [len(batch) for batch in run.batches]
    assert sum(sizes) == 50 and max(sizes) == 16 and len(sizes) < 50
    assert sorted(i for batch in run.batches for i in batch) == list(range(50))


def test_a_lone_submission_is_sent_at_once_and_later_ones_queue_behind_it_in_shares() -> None:
    run = Doubler(delay_s=0.05)

    async def main() -> None:
        async with MicroBatcher(run, max_batch_size=64, max_wait_ms=0) as batcher:
            first = asyncio.create_task(batcher.submit(1))
            await asyncio.sleep(0.01)  # the first batch is running
            await asyncio.gather(first, *(batcher.submit(i) for i in range(2, 7)))

    _run(main())
    # Six were open at once, one batch in flight: each later batch takes half of them, so one
    # can be predicted while the callers of the other are answered.
    assert run.batches == [[1], [2, 3, 4], [5, 6]]


def test_batches_take_a_share_of_the_recent_peak_and_follow_load_that_falls() -> None:
    run = Doubler(delay_s=0.01)

    async def main() -> tuple[int, int, int]:
        async with MicroBatcher(run, max_batch_size=64, max_in_flight=3) as batcher:
            assert batcher.batch_limit() == 1  # nothing seen yet
            await asyncio.gather(*(batcher.submit(i) for i in range(40)))
            during = batcher.batch_limit()
            await batcher.submit(0)  # within the window: the peak of 40 still counts
            kept = batcher.batch_limit()
            await asyncio.sleep(PEAK_WINDOW_S + 0.05)
            await batcher.submit(0)  # a lone request after the window: the peak is 1
            return during, kept, batcher.batch_limit()

    assert _run(main()) == (10, 10, 1)  # 40 open, 3 batches in flight and 1 being answered
    assert max(len(batch) for batch in run.batches) == 10


def test_the_next_batch_starts_before_the_last_one_is_answered() -> None:
    events: list[str] = []

    async def run(items: list[int]) -> list[int]:
        events.append(f"start {items}")
        await asyncio.sleep(0.01)
        return items

    async def caller(batcher: MicroBatcher[int, int], item: int) -> None:
        await batcher.submit(item)
        events.append(f"answered {item}")

    async def main() -> None:
        async with MicroBatcher(run, max_batch_size=64) as batcher:
            first = asyncio.create_task(caller(batcher, 1))
            await asyncio.sleep(0.005)
            await asyncio.gather(first, caller(batcher, 2))

    _run(main())
    assert events == ["start [1]", "start [2]", "answered 1", "answered 2"]


def test_max_wait_holds_a_batch_open_until_it_is_full() -> None:
    run = Doubler()

    async def main() -> None:
        async with MicroBatcher(run, max_batch_size=5, max_wait_ms=60_000) as batcher:
            first = asyncio.create_task(batcher.submit(0))
            await asyncio.sleep(0.02)  # queued, and its batch is waiting for more
            await asyncio.gather(first, *(batcher.submit(i) for i in range(1, 5)))

    _run(main())  # runs as soon as the batch is full, not after 60 s
    assert run.batches == [[0, 1, 2, 3, 4]]


def test_no_more_batches_run_at_once_than_max_in_flight() -> None:
    run = Doubler(delay_s=0.02)

    async def main(in_flight: int) -> None:
        async with MicroBatcher(run, max_batch_size=2, max_in_flight=in_flight) as batcher:
            await asyncio.gather(*(batcher.submit(i) for i in range(20)))

    _run(main(1))
    assert run.most_at_once == 1
    run.most_at_once = 0
    _run(main(3))
    assert run.most_at_once == 3


def test_a_failing_item_fails_alone_and_a_failing_batch_fails_its_callers() -> None:
    run = Doubler()

    async def main() -> list[int | BaseException]:
        async with MicroBatcher(run, max_batch_size=4) as batcher:
            return await asyncio.gather(
                *(batcher.submit(i) for i in (1, -1, 2, 3)), return_exceptions=True
            )

    answers = _run(main())
    assert answers[0] == 2 and answers[2:] == [4, 6]
    assert isinstance(answers[1], ValueError) and "negative: -1" in str(answers[1])

    async def spoiled() -> list[int | BaseException]:
        async with MicroBatcher(run, max_batch_size=2) as batcher:
            first = asyncio.create_task(batcher.submit(5))
            await asyncio.sleep(0)
            return await asyncio.gather(
                first, *(batcher.submit(i) for i in (1000, 7, 8)), return_exceptions=True
            )

    answers = _run(spoiled())
    assert answers[0] == 10 and answers[3] == 16
    assert all(isinstance(a, RuntimeError) for a in answers[1:3])  # [1000, 7] was one batch


def test_a_caller_that_gives_up_does_not_hold_up_the_others() -> None:
    run = Doubler()

    async def main() -> list[int | BaseException]:
        async with MicroBatcher(run, max_batch_size=64) as batcher:
            tasks = [asyncio.create_task(batcher.submit(i)) for i in range(4)]
            await asyncio.sleep(0)  # every submission is queued
            tasks[1].cancel()
            return await asyncio.gather(*tasks, return_exceptions=True)

    answers = _run(main())
    assert isinstance(answers[1], asyncio.CancelledError)
    assert [answers[i] for i in (0, 2, 3)] == [0, 4, 6]
    assert 1 not in [i for batch in run.batches for i in batch]


def test_a_closed_batcher_takes_nothing_and_fails_what_was_queued() -> None:
    run = Doubler(delay_s=10)

    async def main() -> None:
        batcher = MicroBatcher(run, max_batch_size=1)
        tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
        await asyncio.sleep(0.01)  # one running (for 10 s), two queued
        await batcher.aclose()
        for task in tasks:
            with pytest.raises(RuntimeError, match="closed"):
                await task
        with pytest.raises(RuntimeError, match="closed"):
            await batcher.submit(9)

    _run(main())
    with pytest.raises(ValueError, match="max_batch_size"):
        MicroBatcher(run, max_batch_size=0)
    with pytest.raises(ValueError, match="max_in_flight"):
        MicroBatcher(run, max_in_flight=0)


def test_a_retired_batcher_finishes_what_it_has_and_takes_nothing_more() -> None:
    run = Doubler(delay_s=0.02)

    async def main() -> list[int]:
        batcher = MicroBatcher(run, max_batch_size=2)
        tasks = [asyncio.create_task(batcher.submit(i)) for i in range(5)]
        await asyncio.sleep(0)  # all queued
        batcher.retire()
        with pytest.raises(RuntimeError, match="closed"):
            await batcher.submit(9)
        answers = await asyncio.gather(*tasks)
        await asyncio.sleep(0.01)
        assert batcher._worker is not None and batcher._worker.done()  # the dispatcher ended
        return answers

    assert _run(main()) == [0, 2, 4, 6, 8]


def test_closing_as_a_batch_comes_back_fails_the_batch_it_started() -> None:
    gate: asyncio.Future[None] | None = None

    async def run(items: list[int]) -> list[int]:
        if items == [1]:
            assert gate is not None
            await gate
        return items

    async def main() -> list[int | BaseException]:
        nonlocal gate
        gate = asyncio.get_running_loop().create_future()
        batcher = MicroBatcher(run, max_batch_size=4)
        first = asyncio.create_task(batcher.submit(1))
        await asyncio.sleep(0.01)  # [1] runs, held at the gate
        second = asyncio.create_task(batcher.submit(2))
        await asyncio.sleep(0.01)  # 2 is queued
        gate.set_result(None)
        await asyncio.sleep(0)  # [1] comes back and starts [2], whose first step has not run
        await batcher.aclose()  # which cancels [2] before it starts
        return await asyncio.wait_for(
            asyncio.gather(first, second, return_exceptions=True), timeout=5
        )

    first, second = _run(main())
    assert first == 1
    assert isinstance(second, RuntimeError) and "closed" in str(second)


class _Abort(BaseException):
    """Neither an Exception nor a cancellation."""


def test_a_batch_that_ends_in_a_base_exception_frees_its_slot() -> None:
    calls = 0

    async def run(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.001)
        if calls == 1:
            raise _Abort
        return items

    async def main() -> int:
        async with MicroBatcher(run, max_batch_size=4, max_in_flight=1) as batcher:
            first = asyncio.create_task(batcher.submit(1))
            await asyncio.sleep(0.05)
            with pytest.raises(RuntimeError, match="closed"):
                await asyncio.wait_for(first, timeout=5)  # its caller is told, not left waiting
            return await asyncio.wait_for(batcher.submit(2), timeout=5)

    assert _run(main()) == 2


def test_with_max_wait_a_finished_batch_starts_only_a_full_one() -> None:
    run = Doubler(delay_s=0.05)

    async def main() -> int:
        async with MicroBatcher(run, max_batch_size=3, max_wait_ms=200) as batcher:
            first = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
            await asyncio.sleep(0.01)  # [0, 1, 2] is running
            later = [asyncio.create_task(batcher.submit(i)) for i in (3, 4)]
            await asyncio.sleep(0.09)  # [0, 1, 2] is back; [3, 4] waits for a third
            later.append(asyncio.create_task(batcher.submit(5)))
            await asyncio.gather(*first, *later)
            return batcher.batch_limit()

    assert _run(main()) == 3  # max_batch_size, whatever the peak
    assert run.batches == [[0, 1, 2], [3, 4, 5]]
