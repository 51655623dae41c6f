"""Progress reporting, injected: services report stages; faces decide how to show them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

__all__ = ["Reporter", "SilentReporter", "Stage"]


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
