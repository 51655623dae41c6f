"""How the CLI talks to a terminal: rich output, JSON output, progress bars, errors."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

__all__ = [
    "Column",
    "RichReporter",
    "cell",
    "command_seconds",
    "console",
    "err_console",
    "listing",
    "print_json",
]

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


@dataclass(frozen=True)
class Column:
    """A listing's column. A `key` (a name, a version, a reference) stays whole on one line; a
    column with a `drop` rank is left out, highest rank first, when the listing is too wide."""

    header: str
    key: bool = False
    drop: int = 0


def listing(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    **table: Any,
) -> Table:
    """A table that never cuts a cell short, whatever the width (a pipe is 80 columns).

    Columns are left out by their drop rank until the rest fit (a caption says which); the keys
    keep their full width; other cells wrap, and a word too long for its column folds onto the
    next line rather than ending in "…" or being cropped. Cells are plain text, never markup.
    """
    width = width if width is not None else console.width
    texts = [[column.header, *(row[i] for row in rows)] for i, column in enumerate(columns)]
    natural = [_widest(column) for column in texts]
    kept = list(range(len(columns)))
    left_out: list[str] = []
    # Each column takes its text, a space either side and a border; one more border closes it.
    while sum(natural[i] + 3 for i in kept) + 1 > width:
        droppable = [i for i in kept if columns[i].drop]
        if not droppable:
            break
        out = max(droppable, key=lambda i: (columns[i].drop, i))
        kept.remove(out)
        left_out.append(columns[out].header)
    if left_out:
        table.setdefault(
            "caption", f"left out to fit {width} columns: {', '.join(left_out)} (--json has all)"
        )
        table.setdefault("caption_justify", "left")
    # Keys hold their width while they fit beside the other columns wrapped at their longest
    # word; past the edge the console would crop them, so then every column folds instead.
    least = [
        natural[i] if column.key else _widest(texts[i], words=True)
        for i, column in enumerate(columns)
    ]
    fits = sum(least[i] + 3 for i in kept) + 1 <= width
    result = Table(**table)
    for i in kept:
        column = columns[i]
        whole = column.key and fits
        result.add_column(
            column.header, overflow="fold", no_wrap=whole, min_width=natural[i] if whole else None
        )
    for row in rows:
        result.add_row(*(Text(row[i]) for i in kept))
    return result


def _widest(texts: Iterable[str], *, words: bool = False) -> int:
    """The width of the widest text, or of the widest word where a cell may wrap."""
    pieces = (piece for text in texts for piece in (text.split() if words else [text]))
    return max((cell_len(piece) for piece in pieces), default=0)


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
