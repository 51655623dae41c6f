"""Progress reporting, injected: services report stages; faces decide how to show them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

__all__ = ["Reporter", "SilentReporter", "Stage", "Timings"]


class Stage(Protocol):
    """One running stage; `advance` moves it towards its total (if it has one)."""

    def advance(self, amount: int = 1) -> None: ...


class Reporter(Protocol):
    """Where a long job reports its stages (`lambeam` shows them as rich progress bars)."""

    def stage(
        self, description: str, total: int | None = None
    ) -> AbstractContextManager[Stage]: ...


class _NullStage:
    def advance(self, amount: int = 1) -> None:
        return None


class SilentReporter:
    """A reporter that shows nothing: the default for library calls and tests."""

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[Stage]:
        yield _NullStage()


class Timings:
    """Seconds spent in each named part of a job, in the order the parts first ran.

    A part timed twice adds up; `total` is the sum of the parts, so a job's summary can say its
    whole time and where it went. A part may have its own parts (`details`), said in brackets.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.parts: dict[str, float] = {}
        self.details: dict[str, Timings] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Time the block as part `name` (also when it raises)."""
        started = self._clock()
        try:
            yield
        finally:
            self.add(name, self._clock() - started)

    def add(self, name: str, seconds: float) -> None:
        """Count `seconds` more for part `name`."""
        self.parts[name] = self.parts.get(name, 0.0) + seconds

    @property
    def total(self) -> float:
        """The sum of the parts, in seconds."""
        return sum(self.parts.values())

    def describe(self) -> str:
        """The parts in words: `load dataset 0.1s, fit 2.3s, register 16.0s (skops 4.0s, …)`."""
        return ", ".join(
            f"{name} {seconds:.1f}s"
            + (f" ({self.details[name].describe()})" if name in self.details else "")
            for name, seconds in self.parts.items()
        )

    def to_dict(self) -> dict[str, float]:
        """The parts in seconds, to the millisecond (for JSON and lineage)."""
        return {name: round(seconds, 3) for name, seconds in self.parts.items()}
