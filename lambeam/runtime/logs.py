"""Invocation logs: Lambda's START/END/REPORT framing, and where the text goes.

A `LogSink` receives each invocation's finished log text; `FileLogSink` keeps one file per function
(`<folder>/<function>.log`, rotated by size with the standard library's RotatingFileHandler) and
reads it back, optionally following it like `tail -F`.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Protocol, TextIO, cast

__all__ = [
    "LOG_BACKUPS",
    "MAX_LOG_BYTES",
    "FileLogSink",
    "LogSink",
    "billed_ms",
    "format_report",
    "frame_log",
]

# A function's log file is rotated past this size, and this many rotated files are kept: at
# most 256 MiB of logs per function.
MAX_LOG_BYTES = 64 * 1024 * 1024
LOG_BACKUPS = 3
_LOCK_FILE = ".lock"  # in the logs folder: what its writers (and readers, shared) lock


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
    batch: Sequence[str] = (),
) -> str:
    """One invocation's log text: init output, START, the function's output, notice, END, REPORT.

    `batch` names the requests a micro-batch invocation answered (each has its own id), on a
    `BATCH RequestId: … Size: N Requests: id …` line after START.
    """
    parts = [_line(init_output), f"START RequestId: {request_id} Version: {version}\n"]
    if batch:
        parts.append(
            f"BATCH RequestId: {request_id} Size: {len(batch)} Requests: {' '.join(batch)}\n"
        )
    parts += [_line(output), _line(notice), f"END RequestId: {request_id}\n", f"{report}\n"]
    return "".join(parts)


def _line(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


class FileLogSink:
    """One log file per function under `folder`, rotated by size.

    Past `max_bytes`, `<function>.log` becomes `<function>.log.1` (the older ones move up one) and
    a new file starts; at most `backups` rotated files are kept, so a function's logs never take
    more than about `(backups + 1) * max_bytes`. An invocation's log text is never split between
    two files. Files stay open between writes (each write is flushed, so readers see it at once);
    `close` lets go of them. Several processes may write one folder (a server and a CLI `lambeam
    invoke`): a write holds the folder's lock file (`.lock`), so they rotate a file together.
    """

    def __init__(
        self, folder: Path | str, *, max_bytes: int = MAX_LOG_BYTES, backups: int = LOG_BACKUPS
    ) -> None:
        if max_bytes < 1 or backups < 1:
            raise ValueError(f"max_bytes and backups must be positive, not {max_bytes}, {backups}")
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.backups = backups
        self._files: dict[str, RotatingFileHandler] = {}
        self._lock: int | None = None  # the folder's lock file, open

    def path(self, function_name: str) -> Path:
        """The file holding `function_name`'s latest logs (names are validated by FunctionSpec)."""
        return self.folder / f"{function_name}.log"

    def rotated(self, function_name: str) -> list[Path]:
        """The function's rotated log files, oldest first."""
        numbered = []
        for path in self.folder.glob(f"{glob.escape(function_name)}.log.*"):
            suffix = path.name.rpartition(".")[2]
            if suffix.isdigit():
                numbered.append((int(suffix), path))
        return [path for _, path in sorted(numbered, reverse=True)]

    def write(self, function_name: str, text: str) -> None:
        """Append one invocation's log text (rotating the file first if it would pass its size)."""
        handler = self._files.get(function_name)
        if handler is None:
            handler = self._files[function_name] = self._open(function_name)
        # Another process (a CLI `lambeam invoke` beside the server) may write and rotate this
        # file too: the check, the rotation and the write hold the folder's lock file, and a
        # file the other rotated away is let go of for the one its path names now.
        lock = self._take_lock()
        try:
            written = os.fstat(_stream(handler).fileno())
            if _renamed(handler.baseFilename, written):
                handler.close()
                if _renamed(str(self.folder / _LOCK_FILE), os.fstat(lock)):
                    lock = self._take_lock(again=True)  # the folder itself was replaced
                handler = self._files[function_name] = self._open(function_name)
                written = os.fstat(_stream(handler).fileno())
            # The handler's rotation, without a LogRecord and its formatting per write (a
            # tenth of the cost, on the event loop); an error writing is raised, not printed.
            if written.st_size and written.st_size + len(text) >= self.max_bytes:
                handler.doRollover()
            stream = _stream(handler)
            stream.write(text)
            stream.flush()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    def _take_lock(self, again: bool = False) -> int:
        """Hold the folder's lock file (opened anew with `again`, the old one let go of)."""
        if again and self._lock is not None:
            os.close(self._lock)  # and with it the lock on the file the folder no longer has
            self._lock = None
        if self._lock is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock = os.open(self.folder / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        return self._lock

    def _open(self, function_name: str) -> RotatingFileHandler:
        self.folder.mkdir(parents=True, exist_ok=True)
        return RotatingFileHandler(
            self.path(function_name),
            maxBytes=self.max_bytes,
            backupCount=self.backups,
            encoding="utf-8",
        )

    def close(self) -> None:
        """Close the open log files (writing again reopens them)."""
        files, self._files = self._files, {}
        for handler in files.values():
            handler.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def read(
        self,
        function_name: str,
        follow: bool = False,
        stop: Callable[[], bool] | None = None,
        poll_s: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[str]:
        """The function's log lines, oldest first (its rotated files, then the latest); with
        `follow`, wait for new ones until `stop()` is true, going on in the new file after each
        rotation as `tail -F` does.

        A partial last line is held back until its newline arrives.
        """
        olds, current = self._opened(function_name)
        path = self.path(function_name)
        try:
            pending = _read_all(olds)
            while True:
                if current is None and path.exists():
                    current = _open_text(path)
                rotated = False
                if current is not None:
                    pending += current.read()
                    rotated = _renamed(path, os.fstat(current.fileno()))
                    if rotated:  # what was written before the move, after the read above
                        pending += current.read()
                        current.close()
                        current = None
                *lines, pending = pending.split("\n")
                for line in lines:
                    yield line + "\n"
                if rotated:
                    continue  # the new file at once
                if not follow or (stop is not None and stop()):
                    if pending and not follow:
                        yield pending
                    return
                sleep(poll_s)
        finally:
            if current is not None:
                current.close()

    def _opened(self, function_name: str) -> tuple[list[TextIO], TextIO | None]:
        """The function's rotated files, oldest first, and its latest (None if there is none),
        opened together under the writers' lock: a rotation cannot move a file between listing
        and opening it, and what is open stays readable however the files move later."""
        if not self.folder.is_dir():
            return [], None
        try:
            lock = os.open(self.folder / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:  # a reader without write access reads without the lock
            lock = None
        opened: list[TextIO] = []
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_SH)
            for old in self.rotated(function_name):
                opened.append(_open_text(old))
            path = self.path(function_name)
            current = _open_text(path) if path.exists() else None
        except BaseException:
            for handle in opened:
                handle.close()
            raise
        finally:
            if lock is not None:
                os.close(lock)  # and with it the lock
        return opened, current


def _stream(handler: RotatingFileHandler) -> TextIO:
    # Open from the handler's construction (it is not delayed) until its close, which also
    # drops it from the sink.
    return cast(TextIO, handler.stream)


def _read_all(handles: list[TextIO]) -> str:
    """The handles' text, in order; every one is closed, whatever happens."""
    with contextlib.ExitStack() as stack:
        for handle in handles:
            stack.enter_context(handle)
        return "".join(handle.read() for handle in handles)


def _open_text(path: Path) -> TextIO:
    return open(path, encoding="utf-8", errors="replace")


def _renamed(path: str | Path, opened: os.stat_result) -> bool:
    """Whether `path` names another file than the one `opened` describes now (or none): it
    was rotated, or its folder replaced."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return True
    return (now.st_ino, now.st_dev) != (opened.st_ino, opened.st_dev)
