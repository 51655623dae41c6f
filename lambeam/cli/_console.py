"""How the CLI talks to a terminal: rich output, JSON output, progress bars, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["RichReporter", "cell", "console", "err_console", "print_json"]

console = Console()
err_console = Console(stderr=True)


def print_json(value: Any) -> None:
    """Print `value` as indented JSON on stdout (dates as ISO strings)."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=_default) + "\n")


def cell(value: object, float_format: str = ".4f") -> str:
    """A table cell: "-" for nothing, floats to `float_format`."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, float_format)
    return str(value)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class _RichStage:
    def __init__(self, progress: Progress, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: int = 1) -> None:
        self._progress.advance(self._task, amount)


class RichReporter:
    """Shows each stage of a long job as a progress bar (or a spinner when it has no total)."""

    def __init__(self, quiet: bool = False) -> None:
        self._quiet = quiet

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[_RichStage]:
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        with Progress(
            *columns, console=err_console, transient=False, disable=self._quiet
        ) as progress:
            task = progress.add_task(description, total=total)
            yield _RichStage(progress, task)
            if total is None:
                progress.update(task, total=1, completed=1)
