"""Carrying lambeam errors out of Beam workers to the driver, intact.

Beam wraps what a DoFn raises (and a remote worker sends it as text), so a lambeam error raised in
a worker is re-raised with its class name and message between markers; the driver finds the last
marked error in whatever Beam raised and raises that lambeam error again, message unchanged.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from lambeam import errors
from lambeam.errors import LambeamError, PipelineError

__all__ = ["guard", "guard_iter", "unwrap"]

T = TypeVar("T")
_START, _END = "<<lambeam:", ":lambeam>>"
_MARKED = re.compile(re.escape(_START) + r"(\w+)\|(.*?)" + re.escape(_END), re.DOTALL)


def _mark(exc: LambeamError) -> LambeamError:
    if _START in exc.message:
        return exc
    marked = type(exc)(f"{_START}{type(exc).__name__}|{exc.message}{_END}")
    return marked


def guard(function: Callable[..., T]) -> Callable[..., T]:
    """`function`, with any lambeam error it raises marked for the driver."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        except LambeamError as exc:
            raise _mark(exc) from None

    return guarded


def guard_iter(items: Iterator[T]) -> Iterator[T]:
    """Iterate `items`, marking any lambeam error raised on the way."""
    try:
        yield from items
    except LambeamError as exc:
        raise _mark(exc) from None


def unwrap(exc: BaseException, what: str) -> LambeamError:
    """The lambeam error inside what Beam raised, or a PipelineError naming Beam's own problem."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    text = "\n".join(str(e) for e in seen)
    found = _MARKED.findall(text)
    if found:
        name, message = found[-1]
        cls = getattr(errors, name, PipelineError)
        if not (isinstance(cls, type) and issubclass(cls, LambeamError)):
            cls = PipelineError
        return cls(message)
    for error in seen:
        if isinstance(error, LambeamError):
            return type(error)(error.message)
    last = (traceback.format_exception_only(type(exc), exc)[-1].strip().splitlines() or [""])[-1]
    return PipelineError(f"{what}: Beam failed: {last[:500]}")
