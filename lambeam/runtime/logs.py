"""Invocation logs: Lambda's START/END/REPORT framing, and where the text goes.

A `LogSink` receives each invocation's finished log text; `FileLogSink` keeps one file per function
(`<folder>/<function>.log`) and reads it back, optionally following it like `tail -f`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TextIO

__all__ = ["FileLogSink", "LogSink", "billed_ms", "format_report", "frame_log"]


class LogSink(Protocol):
    """Where the engine appends each invocation's log text."""

    def write(self, function_name: str, text: str) -> None: ...


def format_report(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int,
    init_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    """Lambda's REPORT line (without the newline); billed duration is rounded up to the ms."""
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms"
        f"\tBilled Duration: {billed_ms(duration_ms)} ms\tMemory Size: {memory_mb} MB"
        f"\tMax Memory Used: {max_memory_mb} MB"
    )
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    if status is not None:
        line += f"\tStatus: {status}"
        if error_type is not None:
            line += f"\tError Type: {error_type}"
    return line


def billed_ms(duration_ms: float) -> int:
    """Lambda bills each started millisecond, at least one."""
    return max(1, math.ceil(duration_ms))


def frame_log(
    request_id: str,
    version: str,
    output: str,
    report: str,
    init_output: str = "",
    notice: str = "",
) -> str:
    """One invocation's log text: init output, START, the function's output, notice, END, REPORT."""
    parts = [_line(init_output), f"START RequestId: {request_id} Version: {version}\n"]
    parts += [_line(output), _line(notice), f"END RequestId: {request_id}\n", f"{report}\n"]
    return "".join(parts)


def _line(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


class FileLogSink:
    """One append-only log file per function under `folder`.

    Files stay open between writes (each write is flushed, so readers see it at once); `close`
    lets go of them.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._files: dict[str, TextIO] = {}

    def path(self, function_name: str) -> Path:
        """The file holding `function_name`'s logs (names are validated by FunctionSpec)."""
        return self.folder / f"{function_name}.log"

    def write(self, function_name: str, text: str) -> None:
        """Append one invocation's log text."""
        log = self._files.get(function_name)
        if log is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            log = self._files[function_name] = open(  # noqa: SIM115 - kept open until close()
                self.path(function_name), "a", encoding="utf-8"
            )
        log.write(text)
        log.flush()

    def close(self) -> None:
        """Close the open log files (writing again reopens them)."""
        files, self._files = self._files, {}
        for log in files.values():
            log.close()

    def read(
        self,
        function_name: str,
        follow: bool = False,
        stop: Callable[[], bool] | None = None,
        poll_s: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[str]:
        """The function's log lines; with `follow`, wait for new ones until `stop()` is true.

        A partial last line is held back until its newline arrives.
        """
        path = self.path(function_name)
        position = 0
        pending = ""
        while True:
            if path.exists():
                with open(path, encoding="utf-8", errors="replace") as log:
                    log.seek(position)
                    chunk = log.read()
                    position = log.tell()
                pending += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    yield line + "\n"
            if not follow or (stop is not None and stop()):
                if pending and not follow:
                    yield pending
                return
            sleep(poll_s)
