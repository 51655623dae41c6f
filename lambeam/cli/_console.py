"""How the CLI talks to a terminal: rich output, JSON output, progress bars, errors."""

from __future__ import annotations

import json
import os
import sys
import time
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

__all__ = ["RichReporter", "cell", "command_seconds", "console", "err_console", "print_json"]

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


def command_seconds(since: float) -> float:
    """Seconds this command has taken: since the process started where the OS says (Linux's
    /proc, which counts the interpreter's start and lambeam's imports), else since `since`
    (a time.perf_counter() reading)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            # Fields after the command name, which ends with the last ")"; starttime is field 22.
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as uptime:
            up = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - since
    return max(up - started_ticks / os.sysconf("SC_CLK_TCK"), time.perf_counter() - since)


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
