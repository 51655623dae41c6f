"""Cold-start measurement: from zero instances to the first answer, as the benchmark reports it."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from lambeam.runtime.engine import Engine
from lambeam.runtime.spec import FunctionSpec

__all__ = ["ColdStarts", "measure_cold_starts"]


@dataclass(frozen=True)
class ColdStarts:
    """Wall-clock times of cold invocations (fork, handler load, first answer), in ms."""

    samples_ms: list[float]
    init_ms: list[float]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def measure_cold_starts(
    engine: Engine, spec: FunctionSpec, payload: bytes = b"{}", count: int = 20
) -> ColdStarts:
    """Invoke `spec` `count` times, each time from zero instances (scaled to zero before each)."""
    samples: list[float] = []
    inits: list[float] = []
    for _ in range(count):
        await engine.scale_to_zero(spec.name)
        started = time.perf_counter()
        result = await engine.invoke(spec, payload)
        samples.append((time.perf_counter() - started) * 1000)
        if result.init_ms is None:
            raise RuntimeError(f"invocation of {spec.name!r} was not a cold start")
        inits.append(result.init_ms)
    await engine.scale_to_zero(spec.name)
    return ColdStarts(samples, inits)
