"""Micro-batching: concurrent requests share one predict and each gets exactly its own rows."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pandas as pd
import pytest

from lambeam.inference import (
    MicroBatcher,
    ModelRunner,
    Predictions,
    format_response,
    load_runner,
    parse_request,
)
from tests.inference.conftest import HELD_OUT, Models, instances
from tests.registry.fitted import signature

_SIGNATURE = signature()


class Recorder:
    """A real runner's predict, remembering how many rows each batch had."""

    def __init__(self, runner: ModelRunner) -> None:
        self.runner = runner
        self.sizes: list[int] = []

    def __call__(self, frame: pd.DataFrame) -> Predictions:
        self.sizes.append(len(frame))
        return self.runner.predict(frame, probabilities=True)


def _requests(count: int, seed: int = 0) -> list[pd.DataFrame]:
    """`count` canonical frames of 1–3 held-out rows each, as parse_request builds them."""
    rng = random.Random(seed)
    frames, start = [], 0
    for _ in range(count):
        rows = rng.randint(1, 3)
        chunk = HELD_OUT.iloc[start : start + rows]
        start += rows
        frames.append(parse_request({"instances": instances(chunk)}, _SIGNATURE).frame)
    return frames



def _same(got: Predictions, want: Predictions) -> None:
    assert got.predictions == want.predictions
    assert got.classes == want.classes
    # float32 graphs round differently in a batch than alone, by float32's epsilon at most.
    np.testing.assert_allclose(got.probabilities, want.probabilities, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("prefer_onnx", [True, False], ids=["onnx", "sklearn"])
def test_fifty_concurrent_requests_each_get_their_own_rows(
    models: Models, prefer_onnx: bool
) -> None:
    runner = load_runner(models.logistic, prefer_onnx=prefer_onnx)
    record = Recorder(runner)
    frames = _requests(50)

    async def main() -> list[Predictions]:
        async with MicroBatcher(record, max_batch_size=16, max_wait_ms=0) as batcher:
            return await asyncio.gather(*(batcher.predict(frame) for frame in frames))

    answers = asyncio.run(main())
    for frame, answer in zip(frames, answers, strict=True):
        assert len(answer) == len(frame)
        _same(answer, runner.predict(frame, probabilities=True))
    assert sum(record.sizes) == sum(len(frame) for frame in frames)
    assert max(record.sizes) > 3  # several requests shared a predict
    assert all(size <= 16 for size in record.sizes)
    assert len(record.sizes) < 50


def test_a_request_larger_than_the_batch_runs_alone(models: Models) -> None:
    runner = load_runner(models.linear)
    record = Recorder(runner)
    small, big = _requests(4, seed=1), HELD_OUT.iloc[:20].reset_index(drop=True)

    async def main() -> list[Predictions]:
        async with MicroBatcher(record, max_batch_size=8) as batcher:
            return await asyncio.gather(
                batcher.predict(small[0]), batcher.predict(big), *map(batcher.predict, small[1:])
            )

    answers = asyncio.run(main())
    assert 20 in record.sizes and all(size <= 8 for size in record.sizes if size != 20)
    assert answers[1].predictions == runner.predict(big).predictions
    assert [len(a) for a in answers] == [len(small[0]), 20, *(len(f) for f in small[1:])]


def test_requests_within_max_wait_share_a_batch(models: Models) -> None:
    record = Recorder(load_runner(models.logistic))
    frames = _requests(5, seed=2)

    async def staggered(batcher: MicroBatcher) -> list[Predictions]:
        first = asyncio.create_task(batcher.predict(frames[0]))
        await asyncio.sleep(0.02)  # the first request is queued, and its batch is waiting
        rest = [asyncio.create_task(batcher.predict(frame)) for frame in frames[1:]]
        return await asyncio.gather(first, *rest)

    total = sum(len(frame) for frame in frames)

    async def main(wait_ms: float) -> None:
        async with MicroBatcher(record, max_batch_size=total, max_wait_ms=wait_ms) as batcher:
            await staggered(batcher)

    # The batch waits for more rows, and runs as soon as it is full rather than after 60 s.
    asyncio.run(main(wait_ms=60_000))
    assert record.sizes == [total]
    record.sizes.clear()
    asyncio.run(main(wait_ms=0))  # without a wait the first request does not wait for the rest
    assert record.sizes[0] == len(frames[0]) and len(record.sizes) == 2


def test_a_failing_request_fails_alone(models: Models) -> None:
    # Text in a number column gets past no parse_request, but a caller handing the batcher its
    # own frame can do it: the model fails on the batch, then on that request alone.
    runner = load_runner(models.logistic, prefer_onnx=False)
    record = Recorder(runner)
    good = _requests(6, seed=3)
    bad = pd.DataFrame(
        {"amount": [1.0], "age": pd.Series(["forty"], dtype=object),
         "city": pd.Series(["oslo"], dtype=object)}
    )

    async def main() -> list[Predictions | BaseException]:
        async with MicroBatcher(record, max_batch_size=64) as batcher:
            calls = [batcher.predict(frame) for frame in good[:3]]
            calls += [batcher.predict(bad)] + [batcher.predict(frame) for frame in good[3:]]
            return await asyncio.gather(*calls, return_exceptions=True)

    answers = asyncio.run(main())
    assert isinstance(answers[3], ValueError)
    for frame, answer in zip(good, answers[:3] + answers[4:], strict=True):
        assert isinstance(answer, Predictions)
        _same(answer, runner.predict(frame, probabilities=True))


def test_a_closed_batcher_takes_no_requests(models: Models) -> None:
    batcher = MicroBatcher(Recorder(load_runner(models.linear)), max_batch_size=4)

    async def main() -> None:
        assert len(await batcher.predict(HELD_OUT.iloc[:2])) == 2
        await batcher.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await batcher.predict(HELD_OUT.iloc[:1])

    asyncio.run(main())
    with pytest.raises(ValueError, match="max_batch_size"):
        MicroBatcher(Recorder(load_runner(models.linear)), max_batch_size=0)


def test_each_answer_has_probabilities_only_if_its_request_asked(models: Models) -> None:
    # The batch computes probabilities for everyone; the response shape keeps them for askers.
    runner = load_runner(models.logistic)
    row = {"amount": 51.0, "age": 40, "city": "oslo"}
    asked = parse_request({"instances": [row], "probabilities": True}, _SIGNATURE)
    plain = parse_request({"instances": [row, row]}, _SIGNATURE)

    async def main() -> list[Predictions]:
        async with MicroBatcher(Recorder(runner), max_batch_size=8) as batcher:
            return await asyncio.gather(batcher.predict(asked.frame), batcher.predict(plain.frame))

    first, second = asyncio.run(main())
    one = format_response(first, asked, model=runner.model, runner=runner.kind)
    two = format_response(second, plain, model=runner.model, runner=runner.kind)
    assert one["runner"] == two["runner"] == "onnx" and one["model"] == models.logistic.ref
    assert len(one["probabilities"]) == 1 and "probabilities" not in two
    assert two["predictions"] == [one["predictions"][0]] * 2
    assert one["classes"] == two["classes"] == ["no", "yes"]


def test_a_caller_that_gives_up_does_not_hold_up_the_others(models: Models) -> None:
    runner = load_runner(models.linear)
    record = Recorder(runner)
    frames = _requests(4, seed=4)

    async def main() -> list[Predictions | BaseException]:
        async with MicroBatcher(record, max_batch_size=64, max_wait_ms=0) as batcher:
            tasks = [asyncio.create_task(batcher.predict(frame)) for frame in frames]
            await asyncio.sleep(0)  # every request is queued
            tasks[1].cancel()
            return await asyncio.gather(*tasks, return_exceptions=True)

    answers = asyncio.run(main())
    assert isinstance(answers[1], asyncio.CancelledError)
    assert record.sizes == [sum(len(frames[i]) for i in (0, 2, 3))]
    for i in (0, 2, 3):
        assert answers[i].predictions == runner.predict(frames[i]).predictions
