"""Pools: new instances under the concurrency limit, throttling at it, reaping idle ones."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from lambeam.runtime import (
    TOO_MANY_REQUESTS,
    Engine,
    FunctionSpec,
    InvocationResult,
    TooManyRequestsError,
    measure_cold_starts,
)
from tests.runtime.conftest import LoopThread, make_function, process_gone

SLOW = """
    import os, time

    def handler(event, context):
        time.sleep(event.get("seconds", 0))
        return os.getpid()
"""


def _together(
    engine: Engine, loop: LoopThread, spec: FunctionSpec, *payloads: bytes
) -> list[InvocationResult | BaseException]:
    async def all_at_once() -> list[InvocationResult | BaseException]:
        return await asyncio.gather(
            *(engine.invoke(spec, p) for p in payloads), return_exceptions=True
        )

    return loop.run(all_at_once())


def test_at_its_reserved_concurrency_a_function_throttles(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, SLOW, reserved_concurrency=1)
    outcomes = _together(engine, loop, spec, b'{"seconds": 2}', b'{"seconds": 2}')
    results = [o for o in outcomes if isinstance(o, InvocationResult)]
    throttles = [o for o in outcomes if isinstance(o, TooManyRequestsError)]
    assert len(results) == 1 and len(throttles) == 1, outcomes
    assert results[0].function_error is None
    assert throttles[0].error_type == TOO_MANY_REQUESTS == "TooManyRequestsException"
    assert throttles[0].http_status == 429
    assert throttles[0].function_name == spec.name
    # once the slot is free, the function answers again on the same instance
    assert loop.run(engine.invoke(spec, b"{}")).instance_pid == results[0].instance_pid


def test_a_waiting_invocation_takes_a_slot_freed_within_the_throttle_wait(
    loop: LoopThread, tmp_path: Path
) -> None:
    engine = Engine(tmp_path / "state", preload=(), throttle_wait_s=30.0)
    loop.run(engine.start())
    try:
        spec = make_function(tmp_path, SLOW, reserved_concurrency=1)
        outcomes = _together(engine, loop, spec, b'{"seconds": 0.5}', b'{"seconds": 0.5}')
        assert all(
            isinstance(o, InvocationResult) and o.function_error is None for o in outcomes
        ), outcomes
        assert len({o.instance_pid for o in outcomes if isinstance(o, InvocationResult)}) == 1
    finally:
        loop.run(engine.stop())


def test_busy_instances_make_the_pool_grow(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, SLOW, reserved_concurrency=3)
    outcomes = _together(engine, loop, spec, *[b'{"seconds": 1.5}'] * 3)
    assert all(isinstance(o, InvocationResult) and o.function_error is None for o in outcomes), (
        outcomes
    )
    pids = {json.loads(o.payload) for o in outcomes if isinstance(o, InvocationResult)}
    assert len(pids) == 3
    assert {i.pid for i in engine.instances(spec.name)} == pids
    assert all(not i.busy for i in engine.instances(spec.name))


def test_reserved_concurrency_zero_throttles_everything(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, SLOW, reserved_concurrency=0)
    with pytest.raises(TooManyRequestsError):
        loop.run(engine.invoke(spec, b"{}"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("warm_minimum", [0, 1])
def test_idle_instances_are_reaped_down_to_the_warm_minimum(
    loop: LoopThread, tmp_path: Path, warm_minimum: int
) -> None:
    clock = FakeClock()
    engine = Engine(tmp_path / "state", preload=(), clock=clock, keep_warm_s=300.0)
    loop.run(engine.start())
    try:
        spec = make_function(tmp_path, SLOW, warm_minimum=warm_minimum, reserved_concurrency=3)
        assert loop.run(engine.ensure_warm(spec)) == warm_minimum
        warm_pids = {i.pid for i in engine.instances(spec.name)}
        outcomes = _together(engine, loop, spec, *[b'{"seconds": 1}'] * 3)
        assert len({o.instance_pid for o in outcomes if isinstance(o, InvocationResult)}) == 3
        assert warm_pids <= {o.instance_pid for o in outcomes if isinstance(o, InvocationResult)}

        clock.now += 299
        assert loop.run(engine.reap()) == 0
        clock.now += 2
        assert loop.run(engine.reap()) == 3 - warm_minimum
        left = engine.instances(spec.name)
        assert len(left) == warm_minimum
        for outcome in outcomes:
            assert isinstance(outcome, InvocationResult)
            if outcome.instance_pid not in {i.pid for i in left}:
                assert process_gone(outcome.instance_pid or 0)

        after = loop.run(engine.invoke(spec, b"{}"))
        assert (after.init_ms is None) == (warm_minimum == 1)

        # a warm instance that dies is replaced at the next reap
        for info in engine.instances(spec.name):
            os.kill(info.pid, signal.SIGKILL)
            assert process_gone(info.pid)
        loop.run(engine.reap())
        assert len(engine.instances(spec.name)) == warm_minimum
    finally:
        loop.run(engine.stop())


def test_cold_starts_are_measured_from_zero_instances(
    engine: Engine, loop: LoopThread, tmp_path: Path
) -> None:
    spec = make_function(tmp_path, SLOW)
    stats = loop.run(measure_cold_starts(engine, spec, count=4))
    assert len(stats.samples_ms) == 4 and len(stats.init_ms) == 4
    assert all(s >= i > 0 for s, i in zip(stats.samples_ms, stats.init_ms, strict=False))
    assert stats.p50_ms <= stats.p99_ms
    assert engine.instances(spec.name) == []
